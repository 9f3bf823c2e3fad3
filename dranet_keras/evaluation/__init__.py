"""Re-id evaluation: features, ranking metrics, re-ranking."""
