"""Re-id evaluation: features, distances, ranking metrics (CMC, mAP, mINP), re-ranking; dense
(`evaluate_rank`, `re_rank` on distance matrices) or streamed from features in bounded memory
(`evaluate_features`, `re_rank_features` + `evaluate_distance_rows`)."""

from dranet_keras.evaluation.ranking import RankResult, evaluate_rank
from dranet_keras.evaluation.rerank import ReRankedDistances, re_rank, re_rank_features
from dranet_keras.evaluation.streaming import evaluate_distance_rows, evaluate_features

__all__ = [
    "RankResult",
    "ReRankedDistances",
    "evaluate_distance_rows",
    "evaluate_features",
    "evaluate_rank",
    "re_rank",
    "re_rank_features",
]
