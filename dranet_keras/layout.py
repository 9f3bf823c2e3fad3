"""Where the pipeline's files live: the one home of every path the stages exchange.

dvc.yaml spells the same paths for DVC (tests/test_layout.py checks that they agree). A run is
one (variant, seed): models/<variant>/seed<k>/ and results/<variant>/seed<k>/, each started from
the backbone the `pretrain` stage wrote (models/pretrain/). The references (a hand-crafted
descriptor, chance) need no training and no seed: results/<reference>/.
"""

from __future__ import annotations

import re
from pathlib import Path

PREPARED_ROOT = "data/prepared"
MODELS_ROOT = "models"
RESULTS_ROOT = "results"
REPORTS_ROOT = "reports"
REFERENCES = ("colour_histogram", "chance")

# data/prepared/<data set>/
MANIFEST = "manifest.csv"
STATS = "stats.json"
PREVIEW = "preview.png"
# models/<variant>/seed<k>/ (and models/pretrain/)
MODEL = "model.keras"  # the last epoch's model
TRAINING_LOG = "training_log.csv"
TRAIN_META = "train_meta.json"
BACKUP = "backup"  # BackupAndRestore's folder, for resuming an interrupted run
PRETRAIN = "pretrain"  # models/pretrain/: the pre-trained baseline
BACKBONE = "backbone.weights.h5"  # ... and the backbone weights every variant starts from
# results/<variant>/seed<k>/ and results/<reference>/
METRICS = "metrics.json"
CMC = "cmc.csv"
RANKINGS = "rankings.json"
OCCLUDED_RANKINGS = "occluded_rankings.json"  # the same for the occluded-query split (no queries without one)
# reports/
REPORT_HTML = "index.html"
REPORT_NOTEBOOK = "report.ipynb"
SCREENSHOT = "screenshot.png"

_SEED_FOLDER = re.compile(r"seed(\d+)")


def prepared_dir(dataset: str, root: str | Path = PREPARED_ROOT) -> Path:
    """`<root>/<dataset>`: the manifest, stats and preview of one prepared data set."""
    return Path(root) / dataset


def manifest_path(dataset: str, root: str | Path = PREPARED_ROOT) -> Path:
    """The split manifest of a prepared data set."""
    return prepared_dir(dataset, root) / MANIFEST


def run_dir(root: str | Path, variant: str, seed: int) -> Path:
    """`<root>/<variant>/seed<seed>` (root: the models or the results folder)."""
    return Path(root) / variant / f"seed{seed}"


def model_dir(variant: str, seed: int, root: str | Path = MODELS_ROOT) -> Path:
    """What training writes (model, log, meta, backup) for one run."""
    return run_dir(root, variant, seed)


def model_path(variant: str, seed: int, root: str | Path = MODELS_ROOT) -> Path:
    """The trained model evaluation reads (the last epoch's)."""
    return model_dir(variant, seed, root) / MODEL


def results_dir(variant: str, seed: int, root: str | Path = RESULTS_ROOT) -> Path:
    """What evaluation writes (metrics, CMC, rankings) for one run."""
    return run_dir(root, variant, seed)


def pretrain_dir(root: str | Path = MODELS_ROOT) -> Path:
    """models/pretrain: the pre-trained baseline and the backbone weights every variant starts from."""
    return Path(root) / PRETRAIN


def reference_dir(name: str, root: str | Path = RESULTS_ROOT) -> Path:
    """results/<name> of a reference (see REFERENCES)."""
    return Path(root) / name


def seeds_present(variant: str, root: str | Path) -> list[int]:
    """The seeds with a `<root>/<variant>/seed<k>/` folder, ascending."""
    folder = Path(root) / variant
    if not folder.is_dir():
        return []
    return sorted(
        int(match[1]) for child in folder.iterdir() if child.is_dir() and (match := _SEED_FOLDER.fullmatch(child.name))
    )
