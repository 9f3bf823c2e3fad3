"""Helpers every reader shares: checked folders, sorted listings, file-name parsing, the
re-id conventions (junk dropped, train pids relabelled 0..N-1 in sorted order)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from dranet_keras.data.errors import DatasetError
from dranet_keras.data.records import Record

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
JUNK_PID = -1
DISTRACTOR_PID = 0


def require_dir(path: Path, layout: str) -> Path:
    """`path` if it is a folder, else a DatasetError naming it and the expected `layout`."""
    if not path.is_dir():
        raise DatasetError(f"{path}: folder not found; expected layout: {layout}")
    return path


def require_file(path: Path, layout: str) -> Path:
    """`path` if it is a file, else a DatasetError naming it and the expected `layout`."""
    if not path.is_file():
        raise DatasetError(f"{path}: file not found; expected layout: {layout}")
    return path


def list_images(folder: Path) -> list[Path]:
    """Image files directly in `folder`, sorted by name (so relabelling is deterministic)."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def parse_names(paths: Iterable[Path], pattern: re.Pattern, layout: str) -> list[Record]:
    """Records from file names whose `pattern` groups are (pid, 1-based camera); junk dropped.

    A name that does not match is an error naming the file and the `layout`.
    """
    records = []
    for path in paths:
        match = pattern.match(path.name)
        if match is None:
            raise DatasetError(f"{path}: file name does not parse; expected {layout}")
        pid, camera = int(match.group(1)), int(match.group(2))
        if pid == JUNK_PID:
            continue
        records.append(Record(str(path), pid, camera - 1))
    return records


def relabel(records: list[Record]) -> list[Record]:
    """Train pids mapped to 0..N-1 in sorted order of the original pids."""
    labels = {pid: label for label, pid in enumerate(sorted({r.pid for r in records}))}
    return [r._replace(pid=labels[r.pid]) for r in records]


def require_records(records: list, where: Path | str, layout: str) -> list:
    """`records` unless empty; an empty split is an error naming where it was read."""
    if not records:
        raise DatasetError(f"{where}: no images found; expected layout: {layout}")
    return records


def locate(root: Path, marker: str) -> Path:
    """The folder holding `marker`: `root` itself or its only sub-folder that has it (archives
    and downloads usually wrap the data set in one top-level folder)."""
    if (root / marker).exists():
        return root
    if root.is_dir():
        candidates = [child for child in sorted(root.iterdir()) if (child / marker).exists()]
        if len(candidates) == 1:
            return candidates[0]
    return root
