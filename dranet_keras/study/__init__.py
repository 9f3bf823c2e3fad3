"""The reproducibility study's library: its protocol (experiments/study/protocol.yaml), the
statistics, and the verdicts per claim (experiments/claims.yaml) from the committed results.
The runner is the `dranet study` stage (stages/study.py); docs/study.md describes the protocol."""
