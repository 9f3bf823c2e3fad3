"""One writer per output folder: a lock file holding the owner's pid and host.

The lock is an exclusive `fcntl.flock` on `<folder>/.lock` (the kernel drops it when the owner
dies, however it dies), and the file's text names the owner for the error message. A lock
file left by a dead process of this host is taken over with a message; one written on another
host is refused (that process may still be running on a shared file system).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
from pathlib import Path

from dranet_keras.errors import UserError

LOCK_FILENAME = ".lock"
_held: dict[Path, int] = {}  # folder -> open descriptor, so that nested `run_lock`s are free


class RunLockedError(UserError):
    """Another process is writing into the same output folder."""


def _owner(text: str) -> dict:
    try:
        owner = json.loads(text)
        return owner if isinstance(owner, dict) else {}
    except ValueError:
        return {}


def _acquire(folder: Path) -> int:
    path = folder / LOCK_FILENAME
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _owner(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
            os.close(fd)
            raise RunLockedError(
                f"{folder} is in use by pid {owner.get('pid', '?')} on {owner.get('host', '?')} (lock {path}); "
                "wait for that run to end or stop it first"
            ) from None
        if os.path.exists(path) and os.fstat(fd).st_ino == os.stat(path).st_ino:
            break
        os.close(fd)  # the owner removed the file between our open and flock: lock the new one
    owner = _owner(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
    host = socket.gethostname()
    if owner and owner.get("host") != host:
        os.close(fd)
        raise RunLockedError(
            f"{folder} is in use by pid {owner.get('pid', '?')} on host {owner.get('host')} (lock {path}); "
            f"if that run is gone, delete {path}"
        )
    if owner:
        print(f"note: taking over the lock of pid {owner.get('pid')} (no longer running) on {path}", file=sys.stderr)
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": host}).encode(), 0)
    return fd


@contextlib.contextmanager
def run_lock(folder):
    """Hold the lock of `folder` (created if missing) for the `with` block; re-entrant."""
    folder = Path(folder).resolve()
    if folder in _held:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    _held[folder] = _acquire(folder)
    try:
        yield
    finally:
        fd = _held.pop(folder)
        (folder / LOCK_FILENAME).unlink(missing_ok=True)  # under the lock: a waiter re-checks the inode
        os.close(fd)
