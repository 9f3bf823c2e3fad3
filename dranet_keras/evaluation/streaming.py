"""Evaluation from features in bounded memory: the query x gallery distance matrix is produced
and ranked a block of query rows at a time, never whole.

Rankings, tie rule and metrics are `evaluate_rank`'s (the same `rank_blocks` scores both); the
distances are `compute_distance`'s (the same `prepare` / `distance_block`).
"""

from __future__ import annotations

import numpy as np

from dranet_keras.errors import UserError
from dranet_keras.evaluation.distance import block_of, check_features, distance_block, prepare
from dranet_keras.evaluation.ranking import QueryMetrics, RankResult, check_labels, rank_blocks_per_query

# GiB for blocks of distance rows (config.py's eval.memory_gb reads this): 1 GiB leaves a 24 GiB
# machine room for the model and a Market-1501+500k gallery.
DEFAULT_MEMORY_GB = 1.0


def rows_per_block(bytes_per_row: int, memory_gb: float | None) -> int:
    """How many rows of `bytes_per_row` working memory fit in `memory_gb` GiB (at least one)."""
    memory_gb = DEFAULT_MEMORY_GB if memory_gb is None else memory_gb
    if not memory_gb > 0:
        raise UserError(f"eval.memory_gb: expected a positive number of GiB, got {memory_gb}")
    return max(1, int(memory_gb * 2**30 // bytes_per_row))


class FeatureDistances:
    """The (num_query, num_gallery) distances of `metric` between features, by row blocks."""

    def __init__(self, query_features, gallery_features, metric: str = "cosine"):
        query, gallery = check_features(query_features, gallery_features)
        self.metric = metric
        self.query, self.gallery = prepare(query, metric), prepare(gallery, metric)
        for name, prepared in (("query", self.query), ("gallery", self.gallery)):
            if not np.all(np.isfinite(prepared.squared_norms)):
                raise UserError(f"{name} features: contain NaN or infinite values")
        self.shape = (len(query), len(gallery))
        # A block row: its distances, the sorted copy ranking makes, label comparisons.
        self.bytes_per_row = 12 * self.shape[1]

    def rows(self, start: int, stop: int) -> np.ndarray:
        return distance_block(block_of(self.query, start, stop), self.gallery, self.metric)


def evaluate_distance_rows(
    distances, q_pids, g_pids, q_camids, g_camids, max_rank=50, protocol="market", memory_gb=None, *, seed=0
) -> RankResult:
    """`evaluate_rank` of a distance source: anything with `shape` (num_query, num_gallery),
    `bytes_per_row` and `rows(start, stop)` (a `FeatureDistances`, or re-ranked distances from
    `re_rank_features`), taken in blocks of rows that fit `memory_gb` GiB."""
    return evaluate_distance_rows_per_query(distances, q_pids, g_pids, q_camids, g_camids, max_rank, protocol, memory_gb, seed=seed)[0]


def evaluate_distance_rows_per_query(
    distances, q_pids, g_pids, q_camids, g_camids, max_rank=50, protocol="market", memory_gb=None, *, seed=0
) -> tuple[RankResult, QueryMetrics]:
    """`evaluate_distance_rows`' result and the per-query metrics behind it."""
    num_q, num_g = distances.shape
    labels = check_labels(num_q, num_g, q_pids, g_pids, q_camids, g_camids, what="features")
    step = rows_per_block(distances.bytes_per_row, memory_gb)
    blocks = ((start, distances.rows(start, min(start + step, num_q))) for start in range(0, num_q, step))
    return rank_blocks_per_query(blocks, num_g, *labels, max_rank, protocol, seed=seed)


def evaluate_features(
    query_features,
    gallery_features,
    q_pids,
    g_pids,
    q_camids,
    g_camids,
    metric: str = "cosine",
    max_rank: int = 50,
    protocol: str = "market",
    memory_gb: float | None = None,
    *,
    seed: int = 0,
) -> RankResult:
    """CMC, mAP and mINP of query against gallery features, exactly as
    `evaluate_rank(compute_distance(query, gallery, metric), ...)` gives them, holding only the
    features and blocks of distance rows that fit `memory_gb` GiB (default: `eval.memory_gb`).
    `seed` drives the `"cuhk03"` protocol's single-shot sampling.

    Same distances bit for bit as far as the BLAS is: a matmul of a block of rows can round
    differently in the last bit from one of the whole matrix (e.g. one-row blocks take a
    matrix-vector kernel), which can only reorder distances that were within a rounding error."""
    distances = FeatureDistances(query_features, gallery_features, metric)
    return evaluate_distance_rows(distances, q_pids, g_pids, q_camids, g_camids, max_rank, protocol, memory_gb, seed=seed)
