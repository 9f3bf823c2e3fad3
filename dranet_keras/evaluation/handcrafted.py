"""A hand-crafted re-id descriptor: HSV colour histograms over horizontal stripes.

The classic pre-deep baseline (e.g. Gray & Tao, ECCV 2008; Farenzena et al.'s SDALF, CVPR 2010;
the colour part of LOMO, Liao et al., CVPR 2015): people are mostly upright, so a stripe is
roughly a body part, and clothing colour survives changes of camera and pose. It needs no
training, which makes it the honest floor for a learned model on the same split.

Each stripe's joint HSV histogram is L1-normalised and square-rooted (the Hellinger map, so that
Euclidean/cosine distance between descriptors compares distributions sensibly), and the
concatenation is scaled to unit L2 norm.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image

from dranet_keras.errors import UserError

STRIPES = 6
BINS = (8, 3, 3)  # hue, saturation, value: hue carries most of a garment's identity


def histogram_descriptor(hsv: np.ndarray, stripes: int = STRIPES, bins: tuple[int, int, int] = BINS) -> np.ndarray:
    """Descriptor of one HSV image (uint8, H x W x 3, channels 0..255, PIL's HSV convention):
    `stripes` equal horizontal bands (the last rows go to the lower bands when H does not
    divide), one joint histogram of `prod(bins)` cells each, L1 -> sqrt, unit L2 overall."""
    hsv = np.asarray(hsv)
    if hsv.ndim != 3 or hsv.shape[2] != 3 or hsv.shape[0] < stripes:
        raise ValueError(f"expected an H x W x 3 image with H >= {stripes} rows, got shape {hsv.shape}")
    levels = np.asarray(bins)
    cells = (hsv.astype(np.int64) * levels) // 256  # each channel's bin index, 0..bins-1
    codes = (cells[..., 0] * levels[1] + cells[..., 1]) * levels[2] + cells[..., 2]
    parts = []
    for band in np.array_split(codes, stripes, axis=0):
        counts = np.bincount(band.ravel(), minlength=int(levels.prod())).astype(np.float64)
        parts.append(np.sqrt(counts / counts.sum()))
    return np.concatenate(parts) / np.sqrt(stripes)  # each sqrt-histogram has unit L2 norm


def image_descriptors(paths: Iterable[str | Path], stripes: int = STRIPES, bins: tuple[int, int, int] = BINS, skip_corrupt: bool = False) -> np.ndarray:
    """(N, stripes * prod(bins)) descriptors of image files. With `skip_corrupt`, an unreadable
    file gets an all-zero descriptor (as the model pipeline gives it a blank image), so rows
    stay aligned with `paths`."""
    rows = []
    size = stripes * int(np.prod(bins))
    for path in paths:
        try:
            with Image.open(path) as image:
                hsv = np.asarray(image.convert("RGB").convert("HSV"))
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            if not skip_corrupt:
                raise UserError(f"image {path} cannot be read ({error}); fix or remove it, or set data.skip_corrupt: true") from None
            rows.append(np.zeros(size))
            continue
        rows.append(histogram_descriptor(hsv, stripes, bins))
    return np.stack(rows) if rows else np.zeros((0, size))
