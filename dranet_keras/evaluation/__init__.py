"""Re-id evaluation: features, distances, ranking metrics (CMC, mAP, mINP), re-ranking."""

from dranet_keras.evaluation.ranking import RankResult, evaluate_rank

__all__ = ["RankResult", "evaluate_rank"]
