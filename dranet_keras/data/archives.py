"""Safe extraction of a data set's original archive (zip, tar, tar.gz, ...).

Python's `zipfile` silently rewrites member names that escape the target ("../x" -> "x") and
`tarfile` before the "data" filter extracted them; a re-id archive never needs either, so any
member that would land outside the target folder (absolute path, "..", a link pointing out) is
rejected with an error naming the archive and the member, before anything is written.
"""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path

from dranet_keras.data.errors import DatasetError
from dranet_keras.io import atomic_path

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


def is_archive(path: str | Path) -> bool:
    """Whether `path` is a file with an archive suffix we can extract."""
    path = Path(path)
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


def archive_stem(path: str | Path) -> str:
    """File name without the archive suffix: "Market-1501-v15.09.15.zip" -> "Market-1501-v15.09.15"."""
    name = Path(path).name
    for suffix in sorted(ARCHIVE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _check_member(archive: Path, target: Path, name: str, link: str | None = None) -> None:
    destination = (target / name).resolve()
    if not destination.is_relative_to(target):
        raise DatasetError(f"{archive}: member {name!r} would be written outside {target}; refusing to extract")
    if link is not None and not (destination.parent / link).resolve().is_relative_to(target):
        raise DatasetError(f"{archive}: link {name!r} -> {link!r} points outside {target}; refusing to extract")


def _extract_zip(archive: Path, target: Path) -> None:
    with zipfile.ZipFile(archive) as handle:
        for name in handle.namelist():
            _check_member(archive, target, name)
        handle.extractall(target)


def _extract_tar(archive: Path, target: Path) -> None:
    with tarfile.open(archive) as handle:
        for member in handle.getmembers():
            _check_member(archive, target, member.name, member.linkname if member.issym() or member.islnk() else None)
        handle.extractall(target, filter="data")


def extract_archive(archive: str | Path, destination: str | Path) -> Path:
    """Extract `archive` once into `destination` and return it.

    Extraction goes to a temporary sibling folder that is renamed when complete, so an
    interrupted run leaves nothing half-extracted; an existing `destination` is reused as is.
    """
    archive, destination = Path(archive), Path(destination)
    if destination.is_dir():
        return destination
    with atomic_path(destination, directory=True) as staging:
        target = staging.resolve()
        try:
            if zipfile.is_zipfile(archive):
                _extract_zip(archive, target)
            else:
                _extract_tar(archive, target)
        except (zipfile.BadZipFile, tarfile.TarError, OSError) as error:
            raise DatasetError(f"{archive}: cannot extract ({error}); expected a zip or tar archive") from None
    return destination
