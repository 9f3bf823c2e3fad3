"""Read what the pipeline wrote (paths: dranet_keras/layout.py, formats: docs/formats.md) and
the paper and baseline numbers, with clear errors.

A run (variant, seed) that did not happen simply has no `results/<variant>/seed<k>/metrics.json`;
it is absent, never an error. A file that exists but is malformed is an error that names
the file and the key.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from dranet_keras import layout
from dranet_keras.config import Config, ConfigError, config_from_dict
from dranet_keras.errors import UserError

METRIC_KEYS = ("mAP", "mINP", "rank1", "rank5", "rank10")


class ReportInputError(UserError):
    """An input file of the report exists but does not follow docs/formats.md."""


@dataclass(frozen=True)
class RunInputs:
    """Everything the pipeline wrote for one trained and evaluated (variant, seed)."""

    variant: str
    seed: int
    metrics: dict
    cmc: np.ndarray | None  # accuracy at rank 1..max_rank, fractions
    rankings: dict | None
    training_log: pd.DataFrame | None
    train_meta: dict | None
    metrics_path: Path
    occluded_rankings: dict | None = None  # the occluded-query split's (None or no queries without one)


def read_json(path: Path) -> dict:
    """A JSON object from `path`; a malformed file is a `ReportInputError` naming it."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ReportInputError(f"{path}: cannot read JSON ({error})") from None
    if not isinstance(value, dict):
        raise ReportInputError(f"{path}: expected a JSON object at the top level")
    return value


def _check_fraction(value, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value <= 1:
        raise ReportInputError(f"{where}: expected a fraction in [0, 1], got {value!r}")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def validate_record(record: dict, path: Path) -> dict:
    """The keys every stage record (metrics.json, train_meta.json) may hold that the report
    reads: `wall_time_s` a number, `versions` a mapping, `config` a whole valid configuration."""
    if "wall_time_s" in record and not (_is_number(record["wall_time_s"]) and record["wall_time_s"] >= 0):
        raise ReportInputError(f"{path}: key 'wall_time_s' must be a number of seconds, got {record['wall_time_s']!r}")
    if not isinstance(record.get("versions", {}), dict):
        raise ReportInputError(f"{path}: key 'versions' must be an object, got {record['versions']!r}")
    if "config" in record:
        config = record["config"]
        if not isinstance(config, dict):
            raise ReportInputError(f"{path}: key 'config' must be an object (the effective configuration), got {config!r}")
        missing = [f.name for f in dataclasses.fields(Config) if f.name not in config]
        if missing:
            raise ReportInputError(f"{path}: key 'config' lacks {', '.join(missing)} (a stage records the whole configuration)")
        try:
            config_from_dict(config)
        except ConfigError as error:
            raise ReportInputError(f"{path}: key 'config': {error}") from None
    return record


def validate_rankings(rankings: dict, path: Path) -> dict:
    """Check rankings.json (docs/formats.md): the queries and their top gallery images."""
    queries = rankings.get("queries")
    if not isinstance(queries, list):
        raise ReportInputError(f"{path}: key 'queries' must be a list, got {type(queries).__name__}")
    kinds = {"path": str, "pid": int, "camid": int}
    for q, query in enumerate(queries):
        entries = [(f"queries[{q}]", query, kinds)]
        top = query.get("top") if isinstance(query, dict) else None
        if isinstance(top, list):
            entries += [(f"queries[{q}].top[{k}]", item, {**kinds, "distance": float, "match": bool}) for k, item in enumerate(top)]
        for where, entry, expected in entries:
            if not isinstance(entry, dict):
                raise ReportInputError(f"{path}: key '{where}' must be an object, got {entry!r}")
            for key, kind in expected.items():
                value = entry.get(key)
                valid = _is_number(value) if kind is float else isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
                if not valid or value == "":
                    raise ReportInputError(f"{path}: key '{where}.{key}' must be {'a number' if kind is float else kind.__name__}, got {value!r}")
        if not isinstance(top, list):
            raise ReportInputError(f"{path}: key 'queries[{q}].top' must be a list, got {top!r}")
    return rankings


def validate_metrics(metrics: dict, path: Path) -> dict:
    """Check the keys the report shows (docs/formats.md, `metrics.json`)."""
    validate_record(metrics, path)
    for key in ("dataset", "variant"):
        if not isinstance(metrics.get(key), str):
            raise ReportInputError(f"{path}: key {key!r} must be a string, got {metrics.get(key)!r}")
    for key in METRIC_KEYS:
        if key not in metrics:
            raise ReportInputError(f"{path}: missing key {key!r} (expected {', '.join(METRIC_KEYS)})")
        _check_fraction(metrics[key], f"{path}: key {key!r}")
    rerank = metrics.get("rerank")
    if rerank is not None:
        if not isinstance(rerank, dict):
            raise ReportInputError(f"{path}: key 'rerank' must be an object or null")
        for key in METRIC_KEYS:
            if key in rerank:
                _check_fraction(rerank[key], f"{path}: key 'rerank.{key}'")
    return metrics


def read_cmc(path: Path) -> np.ndarray:
    """cmc.csv (columns rank, accuracy) -> accuracies ordered by rank 1..N."""
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as error:
        raise ReportInputError(f"{path}: cannot read CSV ({error})") from None
    if list(frame.columns[:2]) != ["rank", "accuracy"]:
        raise ReportInputError(f"{path}: expected columns rank,accuracy, got {','.join(map(str, frame.columns))}")
    for column in ("rank", "accuracy"):
        numbers = pd.to_numeric(frame[column], errors="coerce")
        if numbers.isna().any():
            row = int(numbers.isna().to_numpy().argmax())
            raise ReportInputError(f"{path}: column {column!r} must hold numbers, row {row + 1} holds {frame[column].iloc[row]!r}")
        frame[column] = numbers
    frame = frame.sort_values("rank")
    if list(frame["rank"]) != list(range(1, len(frame) + 1)):
        raise ReportInputError(f"{path}: ranks must be 1..{len(frame)} without gaps")
    return frame["accuracy"].to_numpy(dtype=float)


def read_training_log(path: Path) -> pd.DataFrame:
    """training_log.csv (epoch, loss, ce_<head>, ...) as a DataFrame with at least epoch and loss."""
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as error:
        raise ReportInputError(f"{path}: cannot read CSV ({error})") from None
    missing = {"epoch", "loss"} - set(frame.columns)
    if missing:
        raise ReportInputError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    return frame


def load_run(results_dir: Path, models_dir: Path, variant: str, seed: int) -> RunInputs | None:
    """The inputs of one run, or None when it was not run (no metrics.json)."""
    run_dir, model_dir = layout.results_dir(variant, seed, results_dir), layout.model_dir(variant, seed, models_dir)
    metrics_path = run_dir / layout.METRICS
    if not metrics_path.is_file():
        return None
    metrics = validate_metrics(read_json(metrics_path), metrics_path)
    cmc_path, rankings_path, occluded_path = run_dir / layout.CMC, run_dir / layout.RANKINGS, run_dir / layout.OCCLUDED_RANKINGS
    log_path, meta_path = model_dir / layout.TRAINING_LOG, model_dir / layout.TRAIN_META
    return RunInputs(
        variant=variant,
        seed=seed,
        metrics=metrics,
        cmc=read_cmc(cmc_path) if cmc_path.is_file() else None,
        rankings=validate_rankings(read_json(rankings_path), rankings_path) if rankings_path.is_file() else None,
        training_log=read_training_log(log_path) if log_path.is_file() else None,
        train_meta=validate_record(read_json(meta_path), meta_path) if meta_path.is_file() else None,
        metrics_path=metrics_path,
        occluded_rankings=validate_rankings(read_json(occluded_path), occluded_path) if occluded_path.is_file() else None,
    )


def load_runs(results_dir: Path, models_dir: Path, variant: str) -> list[RunInputs]:
    """Every evaluated seed of a variant, seeds ascending ([] when none was run)."""
    runs = (load_run(results_dir, models_dir, variant, seed) for seed in layout.seeds_present(variant, results_dir))
    return [run for run in runs if run is not None]


def load_reference(results_dir: Path, name: str) -> dict | None:
    """metrics.json of a reference (layout.REFERENCES), None when it was not run."""
    path = layout.reference_dir(name, results_dir) / layout.METRICS
    return validate_metrics(read_json(path), path) if path.is_file() else None


def load_paper_results(path: Path) -> dict:
    """experiments/paper_results.yaml, checked: every baseline names its source."""
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ReportInputError(f"{path}: cannot read YAML ({error})") from None
    if not isinstance(values, dict) or "dranet" not in values or "baselines" not in values:
        raise ReportInputError(f"{path}: expected top-level keys 'dranet' and 'baselines'")
    for index, baseline in enumerate(values["baselines"]):
        where = f"{path}: baselines[{index}]"
        if not isinstance(baseline, dict) or not {"name", "source", "results"} <= set(baseline):
            raise ReportInputError(f"{where}: expected keys name, source, results")
        if not isinstance(baseline["source"], dict) or not baseline["source"].get("url"):
            raise ReportInputError(f"{where}.source: expected a mapping with a 'url'")
    if not isinstance(values["dranet"].get("claimed_map_gain"), dict):
        raise ReportInputError(f"{path}: dranet.claimed_map_gain must map data set -> mAP gain")
    return values
