"""Atomic file writes: write a temp file in the same directory, then `os.replace` it."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path, text: str) -> None:
    """UTF-8 text version of `atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, value) -> None:
    """JSON (indented, keys in insertion order, trailing newline) written atomically."""
    atomic_write_text(path, json.dumps(value, indent=2) + "\n")


@contextlib.contextmanager
def atomic_path(path, suffix: str = ".tmp"):
    """A temporary path beside `path` for a library's own saver (`model.save`, `save_weights`):
    fsynced and moved onto `path` when the block ends without error, removed otherwise.
    `suffix`: the ending the saver insists on (e.g. ".keras", ".weights.h5")."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_temp_files(path) -> list[Path]:
    """Delete what an interrupted atomic write of `path` left (`.<name>.*` beside it)."""
    path = Path(path)
    leftovers = sorted(path.parent.glob(f".{glob.escape(path.name)}.*")) if path.parent.is_dir() else []
    for leftover in leftovers:
        leftover.unlink(missing_ok=True)
    return leftovers


def check_writable(*paths) -> None:
    """Refuse, before any work, output `paths` that cannot be created: under a file, or in a
    read-only or forbidden folder (a UserError naming the path)."""
    from dranet_keras.errors import UserError

    for path in paths:
        path = Path(path).absolute()
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir():
            raise UserError(f"cannot write {path}: {folder} is a file, not a folder")
        try:  # a real probe: os.access says yes to root on read-only or special file systems
            fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-probe.")
            os.close(fd)
            os.unlink(probe)
        except OSError as error:
            raise UserError(f"cannot write {path}: {folder} is not writable ({error.strerror})") from None
