"""Where the pipeline's files live: the one home of every path the stages exchange.

dvc.yaml spells the same paths for DVC (tests/test_layout.py checks that they agree). A run is
one trained and evaluated variant; `run` (e.g. a seed's folder name) adds one more folder level
below the variant, so several runs of a variant can sit side by side.
"""

from __future__ import annotations

from pathlib import Path

PREPARED_ROOT = "data/prepared"
MODELS_ROOT = "models"
RESULTS_ROOT = "results"
REPORTS_ROOT = "reports"

# data/prepared/<data set>/
MANIFEST = "manifest.csv"
STATS = "stats.json"
PREVIEW = "preview.png"
# models/<variant>/
MODEL = "model.keras"  # the last epoch's model
BEST = "best.keras"  # the lowest training loss
TRAINING_LOG = "training_log.csv"
TRAIN_META = "train_meta.json"
BACKUP = "backup"  # BackupAndRestore's folder, for resuming an interrupted run
# results/<variant>/
METRICS = "metrics.json"
CMC = "cmc.csv"
RANKINGS = "rankings.json"
# reports/
REPORT_HTML = "index.html"
REPORT_NOTEBOOK = "report.ipynb"
SCREENSHOT = "screenshot.png"


def prepared_dir(dataset: str, root: str | Path = PREPARED_ROOT) -> Path:
    """`<root>/<dataset>`: the manifest, stats and preview of one prepared data set."""
    return Path(root) / dataset


def manifest_path(dataset: str, root: str | Path = PREPARED_ROOT) -> Path:
    """The split manifest of a prepared data set."""
    return prepared_dir(dataset, root) / MANIFEST


def _run_dir(root: str | Path, variant: str, run: str | None) -> Path:
    return Path(root) / variant if run is None else Path(root) / variant / run


def model_dir(variant: str, run: str | None = None, root: str | Path = MODELS_ROOT) -> Path:
    """`<root>/<variant>[/<run>]`: what training writes (model, best, log, meta, backup)."""
    return _run_dir(root, variant, run)


def model_path(variant: str, run: str | None = None, root: str | Path = MODELS_ROOT) -> Path:
    """The trained model evaluation reads (the last epoch's)."""
    return model_dir(variant, run, root) / MODEL


def results_dir(variant: str, run: str | None = None, root: str | Path = RESULTS_ROOT) -> Path:
    """`<root>/<variant>[/<run>]`: what evaluation writes (metrics, CMC, rankings)."""
    return _run_dir(root, variant, run)
