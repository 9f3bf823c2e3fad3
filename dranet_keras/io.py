"""Atomic writes: everything is written under a temporary name beside its target, then moved
into place with `os.replace`, so readers see the old file (or folder) or the new one, never a
part. One permission rule for all of them: the mode a plain `open()` / `mkdir()` would give
(0666 / 0777 minus the umask), although `mkstemp`/`mkdtemp` create private (0600 / 0700) temps.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from dranet_keras.errors import UserError


def _usual_mode(directory: bool) -> int:
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def _replace_directory(source: Path, target: Path) -> None:
    """Move the finished folder `source` to `target`, replacing an older one."""
    if not target.exists():
        os.replace(source, target)
        return
    if not target.is_dir() or target.is_symlink():
        raise UserError(f"{target} exists and is not a directory; refusing to replace it")
    retired = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old."))
    os.replace(target, retired / target.name)
    os.replace(source, target)
    shutil.rmtree(retired, ignore_errors=True)


@contextmanager
def atomic_path(path, *, directory: bool = False, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path` for a writer that needs a path (`model.save`, h5,
    an extraction): a file whose name ends like `path`'s (an existing empty file), or with
    `directory=True` an empty folder. When the block ends without an error the result gets the
    usual permissions and replaces `path` (an older folder is removed); otherwise it is deleted.
    `suffix`: the ending a saver insists on (e.g. ".weights.h5"); default ".tmp" + `path`'s.
    Temporary names start with ".<name>." (what `remove_temp_files` clears after a kill).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    else:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix or f".tmp{path.suffix}")
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, _usual_mode(directory))
        if not directory:  # the bytes on disk before the name points at them (a crash-safe backup)
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
        if directory:
            _replace_directory(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        if directory:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


def atomic_write_bytes(path, data: bytes) -> None:
    """Write `data` to `path` atomically (`atomic_path` flushes it to disk before the rename)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)


def atomic_write_text(path, text: str) -> None:
    """UTF-8 text version of `atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, value) -> None:
    """JSON (indented, keys in insertion order, trailing newline) written atomically."""
    atomic_write_text(path, json.dumps(value, indent=2) + "\n")


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
    for path in paths:
        path = Path(path).absolute()
        if path.is_dir():
            raise UserError(f"cannot write {path}: it is a folder; name a file")
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
