"""Where the pipeline puts each run: the one home of the models/ and results/ layout that the
stages, the report and dvc.yaml (checked by tests/test_layout.py) share.

A run is one (variant, seed): models/<variant>/seed<k>/ and results/<variant>/seed<k>/, each
started from the backbone the `pretrain` stage wrote (models/pretrain/). The references (a hand-crafted descriptor, chance) need no training and no seed:
results/<reference>/.
"""

from __future__ import annotations

import re
from pathlib import Path

MODELS_DIR = "models"
RESULTS_DIR = "results"
REFERENCES = ("colour_histogram", "chance")
PRETRAIN_DIR = "pretrain"  # under MODELS_DIR
BACKBONE_FILE = "backbone.weights.h5"
_SEED_DIR = re.compile(r"seed(\d+)")


def run_dir(base: str | Path, variant: str, seed: int) -> Path:
    """<base>/<variant>/seed<seed> (base: models/ or results/)."""
    return Path(base) / variant / f"seed{seed}"


def pretrain_dir(models: str | Path) -> Path:
    """models/pretrain: the pre-trained baseline and the backbone weights every variant starts from."""
    return Path(models) / PRETRAIN_DIR


def reference_dir(results: str | Path, name: str) -> Path:
    """results/<name> of a reference (see REFERENCES)."""
    return Path(results) / name


def seeds_present(base: str | Path, variant: str) -> list[int]:
    """The seeds with a <base>/<variant>/seed<k>/ folder, ascending."""
    folder = Path(base) / variant
    if not folder.is_dir():
        return []
    return sorted(int(match[1]) for child in folder.iterdir() if child.is_dir() and (match := _SEED_DIR.fullmatch(child.name)))
