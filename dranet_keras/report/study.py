"""The report's reproducibility summary, study, hard-example and deviations sections: the
claims register judged on the study's committed results and, with its one seed, on the demo's
runs (experiments/claims.yaml, docs/study.md)."""

from __future__ import annotations

from pathlib import Path

import yaml

from dranet_keras.report import figures
from dranet_keras.study.analysis import (
    claim_verdicts, load_claims, load_references, load_results, reference_results, reference_rows, run_table, strata_table,
    training_summary,
)
from dranet_keras.study.protocol import DEFAULT_CLAIMS, DEFAULT_PROTOCOL, load_protocol

DEVIATIONS = "experiments/deviations.yaml"


def demo_results(runs: dict) -> dict:
    """The demo's runs ({variant: [RunInputs]}) in the study's result shape (standard split only)."""
    keys = ("mAP", "rank1", "rank5", "rank10", "mINP", "strata")
    return {
        variant: {run.seed: {"seed": run.seed, "standard": {key: run.metrics.get(key) for key in keys}, "occluded": run.metrics.get("occluded")} for run in group}
        for variant, group in runs.items()
    }


def study_section(root: Path) -> dict | None:
    """Everything the report shows of the study, or None before its first result."""
    protocol = load_protocol(root / DEFAULT_PROTOCOL) if (root / DEFAULT_PROTOCOL).is_file() else None
    if protocol is None:
        return None
    results = load_results(root / protocol.results_dir)
    if not results:
        return {"results": False, "protocol": DEFAULT_PROTOCOL, "digest": protocol.digest}
    claims = load_claims(root / DEFAULT_CLAIMS)
    references = load_references(root / protocol.references_path)
    verdicts = claim_verdicts(results, claims, resamples=protocol.bootstrap_resamples, seed=protocol.bootstrap_seed)
    training = training_summary(results, protocol.convergence_window, protocol.convergence_max_drop)
    planned = sum(run.seeds for run in protocol.runs.values())
    done = sum(len(by_seed) for by_seed in results.values())
    c4 = next((row for row in verdicts if row["id"] == "C4"), None)
    return {
        "results": True,
        "protocol": DEFAULT_PROTOCOL,
        "digest": protocol.digest,
        "done": done,
        "planned": planned,
        "claims": verdicts,
        "standard": run_table(results, "standard") + reference_rows(references, "standard"),
        "occluded": run_table(results, "occluded") + reference_rows(references, "occluded"),
        "strata": strata_table({**results, **reference_results(references)}),
        "training": training,
        "convergence": {"window": protocol.convergence_window, "max_drop": protocol.convergence_max_drop},
        "compute": {
            "train_wall_s": sum(row["train_wall_s"] for row in training),
            "train_cpu_s": sum(row["train_cpu_s"] for row in training),
            "eval_wall_s": sum(row["eval_wall_s"] for row in training),
            "machine": next(r["machine"] for by_seed in results.values() for r in by_seed.values()),
        },
        "hard_svg": figures.stratum_gain_svg(c4) if c4 and c4["strata"] else None,
        "commands": [f"dranet study --protocol {DEFAULT_PROTOCOL} --one <run>:<seed>  (one result)", f"dranet study --protocol {DEFAULT_PROTOCOL} --commit  (all that are missing)"],
    }


def demo_claims(runs: dict, root: Path) -> list[dict]:
    """The claims judged on the demo's runs (one seed: inconclusive, as it should say)."""
    if not runs or not (root / DEFAULT_CLAIMS).is_file():
        return []
    return claim_verdicts(demo_results(runs), load_claims(root / DEFAULT_CLAIMS))


def deviations(root: Path) -> list[dict]:
    path = root / DEVIATIONS
    return yaml.safe_load(path.read_text())["deviations"] if path.is_file() else []
