"""Re-id evaluation: features, distances, ranking metrics (CMC, mAP, mINP), re-ranking."""

from dranet_keras.evaluation.ranking import RankResult, evaluate_rank
from dranet_keras.evaluation.rerank import re_rank

__all__ = ["RankResult", "evaluate_rank", "re_rank"]
