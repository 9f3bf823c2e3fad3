"""The reproducibility study: its protocol (experiments/study/protocol.yaml), the runner that
trains and evaluates each (run, seed) once and commits its result, the statistics and the
verdicts per claim (experiments/claims.yaml). docs/study.md describes the protocol."""
