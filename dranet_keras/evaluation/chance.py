"""The chance reference: the scores of uniformly random rankings of the same split, the floor
below the hand-crafted descriptor (handcrafted.py) that any descriptor must clear."""

from __future__ import annotations

import warnings

import numpy as np

from dranet_keras.evaluation.results import summary
from dranet_keras.evaluation.streaming import evaluate_distance_rows


class RandomDistances:
    """Uniformly random (num_query, num_gallery) distances by row blocks: chance's rankings.
    Rows are drawn in order from one seeded stream, so the block size does not change them."""

    def __init__(self, num_query: int, num_gallery: int, seed: int):
        self.shape = (num_query, num_gallery)
        self.bytes_per_row = 16 * num_gallery  # float64 row, its sorted copy
        self._rng, self._next = np.random.default_rng(seed), 0

    def rows(self, start: int, stop: int) -> np.ndarray:
        if start != self._next:
            raise ValueError("RandomDistances gives its rows once, in order")
        self._next = stop
        return self._rng.random((stop - start, self.shape[1]))


def chance_metrics(q_pids, g_pids, q_camids, g_camids, *, max_rank=50, protocol="market", draws=5, memory_gb=None, seed=0) -> dict:
    """mAP, mINP and rank-k of uniformly random rankings, averaged over `draws` seeded draws
    (streamed like `evaluate_features`, so any gallery size fits `memory_gb`)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # queries without a match: reported with the real descriptors
        results = [
            summary(evaluate_distance_rows(RandomDistances(len(q_pids), len(g_pids), seed + draw), q_pids, g_pids,
                                           q_camids, g_camids, max_rank, protocol, memory_gb, seed=seed))
            for draw in range(draws)
        ]
    return {key: float(np.mean([r[key] for r in results])) for key in results[0]}
