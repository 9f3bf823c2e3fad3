"""Helpers every reader shares: checked folders, sorted listings, file-name parsing, the
re-id conventions (junk dropped, train pids relabelled 0..N-1 in sorted order)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable

from dranet_keras.data.errors import DatasetError
from dranet_keras.data.records import Record

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
# Pillow reads TIFF, tf.io.decode_image does not: a reader that meets it converts it to PNG once.
TIFF_SUFFIXES = (".tif", ".tiff")
JUNK_PID = -1
DISTRACTOR_PID = 0
MAX_PID = 2**63 - 1  # pids are int64 downstream
# Python's int() also takes "+1", " 1", "1_0" and non-ASCII digits ("٣"): ids must be spelt plainly.
_DECIMAL = re.compile(r"-?[0-9]+", re.ASCII)


def parse_pid(text: str, where, layout: str) -> int:
    """Person id `text` (ASCII decimal digits; -1 = junk, 0 = distractor), within int64."""
    if not _DECIMAL.fullmatch(text):
        raise DatasetError(f"{where}: person id {text!r} is not a decimal integer in ASCII digits; expected {layout}")
    pid = int(text)
    if not JUNK_PID <= pid <= MAX_PID:
        raise DatasetError(f"{where}: person id {text} is out of range [-1, 2**63-1]; expected {layout}")
    return pid


def parse_camera(text: str, where, layout: str) -> int:
    """0-based camid of the 1-based camera number `text` (0 is refused, not made -1)."""
    if not _DECIMAL.fullmatch(text) or not 1 <= int(text) <= MAX_PID:
        raise DatasetError(f"{where}: camera number {text!r} is not an integer >= 1 (cameras count from 1); expected {layout}")
    return int(text) - 1


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


def non_utf8_name(path: Path) -> str | None:
    """`path` shown with its undecodable bytes escaped when its name is not UTF-8, else None
    (the manifest is UTF-8 text and TensorFlow takes UTF-8 file names)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(path).decode("utf-8", "backslashreplace")
    return None


def list_images(folder: Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> list[Path]:
    """Image files directly in `folder`, sorted by name (so relabelling is deterministic)."""
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes and p.is_file())
    for path in paths:
        if (shown := non_utf8_name(path)) is not None:
            raise DatasetError(f"{shown}: file name is not UTF-8; rename it")
    return paths


def parse_names(paths: Iterable[Path], pattern: re.Pattern, layout: str) -> list[Record]:
    """Records from file names whose `pattern` groups are (pid, 1-based camera); junk dropped.

    A name that does not match is an error naming the file and the `layout`.
    """
    records = []
    for path in paths:
        match = pattern.match(path.name)
        if match is None:
            raise DatasetError(f"{path}: file name does not parse; expected {layout}")
        pid, camid = parse_pid(match.group(1), path, layout), parse_camera(match.group(2), path, layout)
        if pid == JUNK_PID:
            continue
        records.append(Record(str(path), pid, camid))
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
