"""Where a report's numbers came from: code version, pipeline hashes, software, hardware."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

import yaml

LIBRARIES = ("tensorflow-cpu", "tensorflow", "keras", "numpy", "pandas", "dvc", "matplotlib", "jinja2", "nbformat", "pillow")


def git_state(repo_root: Path) -> dict:
    """{"commit", "branch", "dirty"}; values None when `repo_root` is not a git checkout."""

    def git(*args):
        try:
            done = subprocess.run(["git", *args], cwd=repo_root, capture_output=True, text=True, timeout=20, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "branch": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "branch": git("rev-parse", "--abbrev-ref", "HEAD"), "dirty": bool(status)}


def dvc_lock_stages(path: Path) -> list[dict]:
    """Stages of dvc.lock with the hash of each dependency and output ([] when absent)."""
    if not Path(path).is_file():
        return []
    lock = yaml.safe_load(Path(path).read_text()) or {}
    stages = []
    for name, stage in (lock.get("stages") or {}).items():
        files = []
        for kind in ("deps", "outs"):
            for entry in stage.get(kind) or []:
                digest = entry.get("md5") or entry.get("hash") or entry.get("etag") or ""
                files.append({"kind": kind[:-1], "path": entry.get("path"), "hash": str(digest)})
        stages.append({"name": name, "cmd": stage.get("cmd"), "files": files})
    return stages


def library_versions() -> dict:
    """Installed versions of the libraries that shape the numbers (absent ones left out)."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def hardware() -> dict:
    """The machine that rendered the report (training hardware is in train_meta.json)."""
    import psutil

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
    }


def now_utc() -> str:
    """The current time, ISO 8601 in UTC, to the second."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def file_time_utc(path: Path) -> str | None:
    """Modification time of `path` (ISO 8601 UTC), None when absent."""
    if not Path(path).exists():
        return None
    stamp = dt.datetime.fromtimestamp(Path(path).stat().st_mtime, dt.timezone.utc)
    return stamp.replace(microsecond=0).isoformat()
