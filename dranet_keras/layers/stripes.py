"""Horizontal stripes of a feature map, with numpy.array_split's near-equal heights."""

from __future__ import annotations

def stripe_bounds(height: int, parts: int) -> list[tuple[int, int]]:
    """[(start, stop), ...] row ranges; the first `height % parts` stripes are one row taller.

    >>> stripe_bounds(16, 3)
    [(0, 6), (6, 11), (11, 16)]
    """
    if parts < 1:
        raise ValueError(f"parts must be >= 1, got {parts}")
    if height is None or height < parts:
        raise ValueError(f"a feature map of height {height} cannot be cut into {parts} parts")
    base, extra = divmod(height, parts)
    bounds, start = [], 0
    for index in range(parts):
        stop = start + base + (1 if index < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def split_stripes(x, parts: int) -> list:
    """Split (B, H, W, C) into `parts` tensors along H."""
    return [x[:, start:stop] for start, stop in stripe_bounds(x.shape[1], parts)]
