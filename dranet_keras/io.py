"""Atomic writes: everything is written under a temporary name beside its target, then moved
into place with `os.replace`, so readers see the old file (or folder) or the new one, never a
part. One permission rule for all of them: the mode a plain `open()` / `mkdir()` would give
(0666 / 0777 minus the umask), although `mkstemp`/`mkdtemp` create private (0600 / 0700) temps.
"""

from __future__ import annotations

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
def atomic_path(path, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path` for a writer that needs a path (`model.save`, h5,
    an extraction): a file whose name ends like `path`'s (an existing empty file), or with
    `directory=True` an empty folder. When the block ends without an error the result gets the
    usual permissions and replaces `path` (an older folder is removed); otherwise it is deleted.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    else:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, _usual_mode(directory))
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
    """Write `data` to `path` atomically (flushed to disk before the rename)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def atomic_write_text(path, text: str) -> None:
    """UTF-8 text version of `atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, value) -> None:
    """JSON (indented, keys in insertion order, trailing newline) written atomically."""
    atomic_write_text(path, json.dumps(value, indent=2) + "\n")
