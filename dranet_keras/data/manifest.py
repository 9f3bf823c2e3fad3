"""The prepared data set on disk: manifest.csv (split, path, pid, camid) and its statistics."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from dranet_keras import layout
from dranet_keras.data.errors import DatasetError
from dranet_keras.data.records import Record, Split
from dranet_keras.io import atomic_write_text

COLUMNS = ["split", "path", "pid", "camid"]
SPLITS = ("train", "query", "gallery")


def write_manifest(split: Split, path: str | Path) -> None:
    """Write `split` as CSV with columns split, path, pid, camid (atomically)."""
    rows = [(name, *record) for name in SPLITS for record in getattr(split, name)]
    atomic_write_text(path, pd.DataFrame(rows, columns=COLUMNS).to_csv(index=False))


def read_manifest(path: str | Path) -> Split:
    """The Split a manifest.csv describes, in file order."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: manifest not found; run `dranet prepare` first")
    try:
        frame = pd.read_csv(path, dtype={"split": str, "path": str})
    except (ValueError, pd.errors.ParserError) as error:
        raise DatasetError(f"{path}: not a readable CSV ({error})") from None
    if list(frame.columns) != COLUMNS:
        raise DatasetError(f"{path}: columns {list(frame.columns)}; expected {COLUMNS}")
    unknown = sorted(set(frame["split"]) - set(SPLITS))
    if unknown:
        raise DatasetError(f"{path}: unknown split values {unknown}; expected {list(SPLITS)}")
    try:
        frame[["pid", "camid"]] = frame[["pid", "camid"]].astype(int)
    except (ValueError, TypeError):
        raise DatasetError(f"{path}: pid and camid must be integers") from None
    groups = {name: [Record(p, int(i), int(c)) for _, p, i, c in rows.itertuples(index=False)] for name, rows in frame.groupby("split", sort=False)}
    return Split(*(groups.get(name, []) for name in SPLITS))


def split_stats(split: Split) -> dict:
    """Counts training and evaluation read: ids, images, images per id, per-camera counts."""
    stats = {}
    for name in SPLITS:
        records = getattr(split, name)
        per_id = Counter(r.pid for r in records if r.pid > 0 or name == "train")
        stats[name] = {
            "images": len(records),
            "ids": len(per_id),
            "images_per_id": {
                "min": min(per_id.values(), default=0),
                "mean": round(sum(per_id.values()) / max(len(per_id), 1), 3),
                "max": max(per_id.values(), default=0),
            },
            "per_camera": {str(cam): n for cam, n in sorted(Counter(r.camid for r in records).items())},
        }
    stats["gallery"]["distractors"] = sum(r.pid == 0 for r in split.gallery)
    stats["num_train_ids"] = split.num_train_ids
    stats["num_cameras"] = len({r.camid for name in SPLITS for r in getattr(split, name)})
    return stats


def dataset_header(name: str) -> dict:
    """The keys that name the data set in stats.json and in every results file."""
    return {"dataset": name, "synthetic": name == "synthetic"}


@dataclass(frozen=True)
class PreparedSet:
    """The data set a manifest's images came from: its name, its root and the stats.json that
    `dranet prepare` wrote beside the manifest at `stats_path` (None for a manifest made by hand)."""

    name: str
    root: str
    stats: dict | None
    stats_path: Path

    @property
    def synthetic(self) -> bool:
        return self.name == "synthetic"


def prepared_set(manifest: str | Path, name: str, root: str) -> PreparedSet:
    """The set `manifest` was prepared from, as the stats.json beside it records it; without
    one, data set `name` at `root` (the configuration's)."""
    path = Path(manifest).parent / layout.STATS
    if not path.is_file():
        return PreparedSet(name, root, None, path)
    try:
        stats = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DatasetError(f"{path}: cannot read JSON ({error}); prepare the set again (dranet prepare)") from None
    if not isinstance(stats, dict) or not all(isinstance(stats.get(key), str) for key in ("dataset", "root")):
        raise DatasetError(f"{path}: expected an object with the set's 'dataset' and 'root' (docs/formats.md); "
                           "prepare the set again (dranet prepare)")
    return PreparedSet(stats["dataset"], stats["root"], stats, path)
