"""Where a report's numbers came from: code version, each stage run's effective configuration
(with the command that reproduces it), pipeline hashes, software, hardware."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import shlex
import subprocess
from pathlib import Path
from typing import Any

import yaml

from dranet_keras.config import ConfigError, config_to_dict, load_config
from dranet_keras.report.inputs import ReportInputError

LIBRARIES = ("tensorflow-cpu", "tensorflow", "keras", "numpy", "pandas", "dvc", "matplotlib", "jinja2", "nbformat", "pillow")


def git_state(repo_root: Path) -> dict:
    """{"commit", "branch", "dirty"}; values None when `repo_root` is not a git checkout."""

    def git(*args):
        try:
            done = subprocess.run(["git", *args], cwd=repo_root, capture_output=True, text=True, timeout=20, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "branch": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "branch": git("rev-parse", "--abbrev-ref", "HEAD"), "dirty": bool(status)}


def dvc_lock_stages(path: Path) -> list[dict]:
    """Stages of dvc.lock with the hash of each dependency and output ([] when absent)."""
    path = Path(path)
    if not path.is_file():
        return []
    try:
        lock = yaml.safe_load(path.read_text()) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ReportInputError(f"{path}: cannot read YAML ({' '.join(str(error).split())})") from None
    stages_found = lock.get("stages") if isinstance(lock, dict) else None
    if not isinstance(stages_found or {}, dict):
        raise ReportInputError(f"{path}: key 'stages' must map stage names to their records, got {type(stages_found).__name__}")
    stages = []
    for name, stage in (stages_found or {}).items():
        if not isinstance(stage, dict):
            raise ReportInputError(f"{path}: key 'stages.{name}' must be a mapping, got {stage!r}")
        files = []
        for kind in ("deps", "outs"):
            entries = stage.get(kind) or []
            if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
                raise ReportInputError(f"{path}: key 'stages.{name}.{kind}' must be a list of mappings, got {entries!r}")
            for entry in entries:
                digest = entry.get("md5") or entry.get("hash") or entry.get("etag") or ""
                files.append({"kind": kind[:-1], "path": entry.get("path"), "hash": str(digest)})
        stages.append({"name": name, "cmd": stage.get("cmd"), "files": files})
    return stages


def library_versions() -> dict:
    """Installed versions of the libraries that shape the numbers (absent ones left out)."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def hardware() -> dict:
    """The machine that rendered the report (training hardware is in train_meta.json)."""
    import psutil

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
    }


def now_utc() -> str:
    """The current time, ISO 8601 in UTC, to the second."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def flatten(values: dict, prefix: str = "") -> dict[str, Any]:
    """{"train": {"epochs": 4}} -> {"train.epochs": 4}."""
    flat = {}
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        flat.update(flatten(value, f"{dotted}.") if isinstance(value, dict) else {dotted: value})
    return flat


def _override_value(value: Any) -> str:
    """`value` as `--set` reads it back (YAML): plain when that is exact, else JSON (also YAML)."""
    if isinstance(value, str) and yaml.safe_load(value) == value:
        return value
    return json.dumps(value)


def reproduce_command(stage: str, variant: str | None, effective: dict, params_path: Path) -> str:
    """`dranet <stage>` with one `--set` per key where the run's effective configuration differs
    from `params_path` as it is now."""
    try:
        base = flatten(config_to_dict(load_config(params_path)))
    except ConfigError:
        base = {}
    words = ["dranet", stage, *(["--variant", variant] if variant else []), "--params", str(params_path)]
    for key, value in flatten(effective).items():
        if key not in base or base[key] != value:
            words += ["--set", f"{key}={_override_value(value)}"]
    return shlex.join(words)


def _settings(stage: str, config: dict) -> str:
    """The few settings of a stage run a reader compares first."""
    model, train, evaluation = config["model"], config["train"], config["eval"]
    ranking = f"{evaluation['metric']}, flip test {'on' if evaluation['flip_test'] else 'off'}, re-ranking {'on' if evaluation['rerank'] else 'off'}"
    if stage in ("train", "pretrain"):
        precision = f", {train['mixed_precision']}" if train["mixed_precision"] else ""
        return (f"{model['height']}x{model['width']}, {train['epochs']} epochs, batch {train['batch_size']}, "
                f"{train['optimizer']} lr {train['learning_rate']:g}{precision}, seed {config['seed']}")
    if stage == "evaluate":
        return f"{model['height']}x{model['width']}, {ranking}"
    return ranking


def _row(stage: str, label: str, variant: str | None, record: dict | None, params_path: Path) -> dict:
    config = (record or {}).get("config")
    versions = (record or {}).get("versions") or {}
    return {
        "stage": stage,
        "run": label,
        "settings": _settings(stage, config) if config else "not recorded",
        "wall_time_s": (record or {}).get("wall_time_s"),
        "versions": ", ".join(f"{name} {version}" for name, version in versions.items()),
        "command": reproduce_command(stage, variant, config, params_path) if config else None,
        "config_yaml": yaml.safe_dump(config, sort_keys=False) if config else None,
    }


def stage_runs(runs: list, references: dict, params_path: Path, pretrain: dict | None = None) -> list[dict]:
    """One row per stage run the report's numbers come from: pretrain (its train_meta.json),
    train and evaluate per (variant, seed) from train_meta.json / metrics.json, then the
    references."""
    rows = [] if pretrain is None else [_row("pretrain", "baseline", None, pretrain, params_path)]
    for run in runs:
        label = f"{run.variant}, seed {run.seed}"
        rows.append(_row("train", label, run.variant, run.train_meta, params_path))
        rows.append(_row("evaluate", label, run.variant, run.metrics, params_path))
    if "colour_histogram" in references:
        rows.append(_row("reference", "colour histogram, chance", None, references["colour_histogram"], params_path))
    return rows
