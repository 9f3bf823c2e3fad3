"""From results to answers: per-run tables, the paired comparisons of experiments/claims.yaml
with their intervals and verdicts, convergence, the spread of the CIC mask and the compute
spent. Works on the study's committed results and, with one seed, on the demo's runs.

A result (one run, one seed) is a dict with `seed`, `standard` and optionally `occluded`
splits, each holding fractions `mAP`, `rank1`, `rank5`, `rank10`, `mINP`, optionally `strata`
and `per_query` ({query, ap, first_rank}), and, from the study, `losses`, `mask`, timings.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from dranet_keras.errors import UserError
from dranet_keras.study.statistics import bootstrap_queries, combine, paired_interval, verdict

METRICS = ("mAP", "rank1", "rank5", "rank10", "mINP")
ONE_SEED = "inconclusive: one seed"


def load_claims(path: str | Path) -> dict:
    """experiments/claims.yaml's `claims` mapping."""
    try:
        claims = yaml.safe_load(Path(path).read_text())["claims"]
    except (OSError, KeyError, TypeError, yaml.YAMLError) as error:
        raise UserError(f"{path}: cannot read the claims register ({type(error).__name__}: {error})") from None
    return claims


def load_results(results_dir: str | Path) -> dict[str, dict[int, dict]]:
    """{run name: {seed: result}} of every `<results_dir>/<name>/seed<k>.json`."""
    found: dict[str, dict[int, dict]] = {}
    for path in sorted(Path(results_dir).glob("*/seed*.json")):
        try:
            result = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise UserError(f"{path}: not a study result ({error})") from None
        found.setdefault(path.parent.name, {})[int(result["seed"])] = result
    return found


def load_references(path: str | Path) -> dict:
    """{reference name: {split: metrics}} of the study's references file ({} before it exists)."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())["references"]
    except (OSError, ValueError, KeyError) as error:
        raise UserError(f"{path}: not the study's references file ({type(error).__name__}: {error})") from None


def _value(result: dict, split: str, metric: str, stratum: tuple[str, str] | None = None):
    """The metric in percentage points, or None where it was not measured."""
    values = result.get(split)
    if not values:
        return None
    if stratum:
        cell = ((values.get("strata") or {}).get(stratum[0]) or {}).get(stratum[1]) or {}
        value = cell.get(metric)
    else:
        value = values.get(metric)
    return None if value is None else 100.0 * value


def _paired(results: dict, variant: str, against: str, value) -> dict[int, float]:
    """{seed: value(variant's result) - value(against's result)} over the seeds both have measured."""
    a, b = results.get(against, {}), results.get(variant, {})
    pairs = {}
    for seed in sorted(set(a) & set(b)):
        x, y = value(b[seed]), value(a[seed])
        if x is not None and y is not None:
            pairs[seed] = x - y
    return pairs


def _bootstrap(results, variant, against, split, metric, seeds, resamples, seed):
    """The test-set share: a bootstrap over the queries of the per-query difference averaged
    over the paired seeds (mAP from AP, rank-1 from the first match); None without per-query data."""
    if metric not in ("mAP", "rank1") or not seeds:
        return None
    rows = []
    for k in seeds:
        tables = [(results[name][k].get(split) or {}).get("per_query") for name in (variant, against)]
        if not all(tables) or tables[0]["query"] != tables[1]["query"]:
            return None
        score = (lambda t: np.asarray(t["ap"])) if metric == "mAP" else (lambda t: (np.asarray(t["first_rank"]) == 0).astype(float))
        rows.append(100.0 * (score(tables[0]) - score(tables[1])))
    low, high = bootstrap_queries(np.mean(rows, axis=0), resamples, seed)
    return {"low": low, "high": high}


def comparison(results: dict, spec: dict, *, resamples: int = 2000, seed: int = 0) -> dict:
    """One comparison of claims.yaml: the paired per-seed differences, their interval, the
    query bootstrap, and its verdict. With `minus_split`, the difference-in-differences."""
    variant, against, metric, split = spec["variant"], spec["against"], spec["metric"], spec["split"]
    pairs = _paired(results, variant, against, lambda r: _value(r, split, metric))
    if spec.get("minus_split"):
        other = _paired(results, variant, against, lambda r: _value(r, spec["minus_split"], metric))
        pairs = {k: pairs[k] - other[k] for k in pairs if k in other}
    interval = paired_interval(list(pairs.values()))
    bootstrap = None if spec.get("minus_split") else _bootstrap(results, variant, against, split, metric, list(pairs), resamples, seed)
    found = verdict(interval, spec["rule"], spec["tolerance"])
    if interval.n == 1:
        found = ONE_SEED
    elif interval.n == 0:
        found = "not measured"
    # Reported beside the verdict, never changing it: a gain whose whole interval lies below the
    # tolerance is real but smaller than the effect the claim is about.
    smaller = spec["rule"] == "gain" and interval.n > 1 and interval.low > 0 and interval.high < spec["tolerance"]
    return {**spec, "differences": pairs, "interval": interval._asdict(), "bootstrap": bootstrap, "verdict": found, "below_tolerance": bool(smaller)}


def stratum_comparison(results: dict, axis: str, hard: str, easy: str, variant: str = "dra", against: str = "baseline") -> dict:
    """C4's secondary evidence: per seed, (variant - against) on the hard stratum minus on the
    easy one, in mAP points."""
    hard_pairs = _paired(results, variant, against, lambda r: _value(r, "standard", "mAP", (axis, hard)))
    easy_pairs = _paired(results, variant, against, lambda r: _value(r, "standard", "mAP", (axis, easy)))
    pairs = {k: hard_pairs[k] - easy_pairs[k] for k in hard_pairs if k in easy_pairs}
    return {"axis": axis, "hard": hard, "easy": easy, "interval": paired_interval(list(pairs.values()))._asdict(), "differences": pairs}


def claim_verdicts(results: dict, claims: dict, *, resamples: int = 2000, seed: int = 0) -> list[dict]:
    """Every claim with its comparisons and one verdict (claims.yaml's combination rule)."""
    rows = []
    for key, claim in claims.items():
        comparisons = [comparison(results, spec, resamples=resamples, seed=seed) for spec in claim["comparisons"]]
        verdicts = [c["verdict"] for c in comparisons]
        if "not measured" in verdicts:
            overall = "not measured"
        elif ONE_SEED in verdicts:
            overall = ONE_SEED
        else:
            overall = combine(verdicts)
        strata = [stratum_comparison(results, **s) for s in claim.get("strata", [])]
        rows.append({"id": key, "claim": claim["claim"], "source": claim["source"], "comparisons": comparisons, "strata": strata, "verdict": overall})
    return rows


def run_table(results: dict, split: str = "standard") -> list[dict]:
    """Per run name: seeds, and mean and s.d. (points) of each metric on `split`."""
    rows = []
    for name, by_seed in results.items():
        cells = {}
        for metric in METRICS:
            values = [v for r in by_seed.values() if (v := _value(r, split, metric)) is not None]
            cells[metric] = {"mean": float(np.mean(values)) if values else None, "sd": float(np.std(values, ddof=1)) if len(values) > 1 else None, "n": len(values)}
        rows.append({"name": name, "seeds": sorted(by_seed), "cells": cells})
    return rows


def reference_results(references: dict) -> dict[str, dict[int, dict]]:
    """The floors (`load_references`) in the results' shape: one measurement each."""
    return {name.replace("_", " "): {0: splits} for name, splits in references.items()}


def reference_rows(references: dict, split: str = "standard") -> list[dict]:
    """The floors scored on `split` as `run_table` rows, marked as references (no seeds)."""
    rows = run_table(reference_results(references), split)
    return [{**row, "seeds": [], "reference": True} for row in rows if row["cells"]["mAP"]["n"]]


def strata_table(results: dict) -> list[dict]:
    """Per axis and stratum: query count and each run's mean mAP (points) over seeds."""
    first = next((r for by_seed in results.values() for r in by_seed.values() if (r.get("standard") or {}).get("strata")), None)
    if first is None:
        return []
    rows = []
    for axis, strata in first["standard"]["strata"].items():
        for stratum, cell in strata.items():
            means = {}
            for name, by_seed in results.items():
                if not any((r.get("standard") or {}).get("strata") for r in by_seed.values()):
                    continue  # not measured per stratum (chance)
                values = [v for r in by_seed.values() if (v := _value(r, "standard", "mAP", (axis, stratum))) is not None]
                means[name] = {"mean": float(np.mean(values)) if values else None, "sd": float(np.std(values, ddof=1)) if len(values) > 1 else None}
            rows.append({"axis": axis, "stratum": stratum, "num_query": cell["num_query"], "runs": means})
    return rows


def converged(losses: list[float], window: int, max_drop: float) -> bool | None:
    """Whether the loss fell by less than `max_drop` (relative) over the last `window` epochs."""
    if len(losses) <= window:
        return None
    before, after = losses[-1 - window], losses[-1]
    return bool((before - after) / abs(before) < max_drop)


def training_summary(results: dict, window: int, max_drop: float) -> list[dict]:
    """Per run name: converged runs, final loss, the spread of the CIC mask m, and compute."""
    rows = []
    for name, by_seed in results.items():
        runs = list(by_seed.values())
        flags = [converged(r.get("losses", []), window, max_drop) for r in runs]
        masks = [r["mask"] for r in runs if r.get("mask")]
        rows.append(
            {
                "name": name,
                "n": len(runs),
                "converged": sum(bool(f) for f in flags),
                "final_loss": float(np.mean([r["losses"][-1] for r in runs if r.get("losses")])) if any(r.get("losses") for r in runs) else None,
                "mask": {key: float(np.mean([m[key] for m in masks])) for key in masks[0]} if masks else None,
                "train_wall_s": float(sum(r.get("train_wall_s", 0) for r in runs)),
                "train_cpu_s": float(sum(r.get("train_cpu_s", 0) for r in runs)),
                "eval_wall_s": float(sum(r.get("eval_wall_s", 0) for r in runs)),
            }
        )
    return rows
