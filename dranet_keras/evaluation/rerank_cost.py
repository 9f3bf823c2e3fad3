"""What re-ranking a split will cost (memory and time), estimated before the evaluate stage
loads a model, so that an infeasible `eval.rerank` is refused in one line instead of running
for hours or out of memory (`rerank.py` does the re-ranking)."""

from __future__ import annotations

import time

import numpy as np
import psutil

from dranet_keras.errors import UserError


class ReRankTooLargeError(UserError):
    """Re-ranking the split would not fit this machine's memory or time limit."""


def matmul_gflops(dim: int, repeats: int = 3) -> float:
    """float32 matmul speed of this machine now (GFLOP/s), the best of `repeats` small probes."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((512, dim), dtype=np.float32)
    b = rng.standard_normal((dim, 4096), dtype=np.float32)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * 512 * dim * 4096 / best / 1e9


def rerank_estimate(num_query: int, num_gallery: int, dim: int, k1: int, memory_gb: float, gflops: float):
    """(bytes, seconds) `re_rank_features` needs: features, neighbour lists, sparse V (by row and
    by column; about 8 (k1 + 1) entries per image) and the distance blocks; time is the exact
    neighbour search over all images (2 N^2 D flops) at `gflops`, which dominates."""
    size = num_query + num_gallery
    nonzeros = 8 * (k1 + 1) * size
    memory = 4 * dim * size + 8 * (k1 + 1) * size * 3 + 24 * nonzeros + memory_gb * 2**30
    return memory, 2.0 * size * size * dim / (gflops * 1e9)


def available_memory() -> int:
    """Bytes of memory available to a new allocation now, without swapping."""
    return psutil.virtual_memory().available


def check_rerank_fits(num_query: int, num_gallery: int, dim: int, k1: int, memory_gb: float, max_hours: float, *,
                      gflops: float | None = None, available: int | None = None) -> None:
    """Raise ReRankTooLargeError, naming the estimate and the keys to change, when re-ranking
    this split would need more memory than is `available` (bytes) or longer than `max_hours` at
    `gflops`; both None: this machine, measured now."""
    memory, seconds = rerank_estimate(num_query, num_gallery, dim, k1, memory_gb, gflops or matmul_gflops(dim))
    available = available_memory() if available is None else available
    if memory > available or seconds > max_hours * 3600:
        fix = "lower eval.memory_gb" if memory > available else "raise eval.rerank_max_hours"
        raise ReRankTooLargeError(
            f"eval.rerank: re-ranking {num_query:,} queries x {num_gallery:,} gallery images needs ~{memory / 2**30:.1f} GiB "
            f"({available / 2**30:.1f} GiB available, eval.memory_gb={memory_gb:g} of it for blocks) and "
            f"~{seconds / 3600:.1f} h of exact neighbour search on this machine (eval.rerank_max_hours={max_hours:g}); "
            f"set eval.rerank=false, or {fix}"
        )
