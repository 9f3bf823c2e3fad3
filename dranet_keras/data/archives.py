"""Safe extraction of a data set's original archive (zip, tar, tar.gz, ...).

Python's `zipfile` silently rewrites member names that escape the target ("../x" -> "x") and
`tarfile` before the "data" filter extracted them; a re-id archive never needs either, so any
member that would land outside the target folder (absolute path, "..", a link pointing out) is rejected with an
error naming the archive and the member, before anything is written; so is an archive that
would expand beyond a size or ratio cap (a "zip bomb"). Link members (symbolic or hard) are
refused outright: re-id data sets hold only folders and images, and checking a link's target
as text misses chains of links (CVE-2025-4517 bypasses the "data" filter of Python < 3.11.13
that way). With no link in a fresh folder, every member's name, checked as text, is where it lands.
"""

from __future__ import annotations

import lzma
import json
import tarfile
import zipfile
import zlib
from pathlib import Path

from dranet_keras.data.errors import DatasetError
from dranet_keras.io import atomic_path

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
SOURCE = ".dranet-extracted-from.json"  # in an extraction folder: the archive it holds


# Extraction caps (config.py's data.max_extract_bytes / max_extract_ratio read these).
MAX_EXTRACT_BYTES = 100 * 2**30  # Market-1501 with its 500k distractors is ~45 GB
MAX_EXTRACT_RATIO = 200  # uncompressed / compressed size of an archive

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


def _refuse_link(archive: Path, member: tarfile.TarInfo) -> None:
    if member.issym() or member.islnk():
        kind = "symbolic" if member.issym() else "hard"
        raise DatasetError(
            f"{archive}: member {member.name!r} is a {kind} link (to {member.linkname!r}); re-id data sets hold only "
            "folders and images: refusing to extract (unpack it yourself and point data.root at the folder)"
        )


def _check_size(archive: Path, total: int, max_bytes: int, max_ratio: int) -> None:
    """Refuse a decompression bomb: `total` (the members' declared sizes, which zipfile and
    tarfile do not read past) above `max_bytes`, or above `max_ratio` x the archive's size."""
    ratio = total / max(archive.stat().st_size, 1)
    if total > max_bytes:
        raise DatasetError(
            f"{archive}: would extract {total:,} bytes, more than data.max_extract_bytes={max_bytes:,}; "
            "raise that key if the archive is genuine"
        )
    if ratio > max_ratio:
        raise DatasetError(
            f"{archive}: would extract {total:,} bytes, {ratio:.0f}x its size (more than "
            f"data.max_extract_ratio={max_ratio}); raise that key if the archive is genuine"
        )


def _extract_zip(archive: Path, target: Path, max_bytes: int, max_ratio: int) -> None:
    with zipfile.ZipFile(archive) as handle:
        members = handle.infolist()
        for member in members:
            _check_member(archive, target, member.filename)
            if member.flag_bits & 0x1:  # zipfile would raise RuntimeError midway
                raise DatasetError(f"{archive}: member {member.filename!r} is encrypted; extract it yourself and point data.root at the folder")
        _check_size(archive, sum(member.file_size for member in members), max_bytes, max_ratio)
        handle.extractall(target)


def _extract_tar(archive: Path, target: Path, max_bytes: int, max_ratio: int) -> None:
    with tarfile.open(archive) as handle:
        members = handle.getmembers()
        for member in members:
            _check_member(archive, target, member.name, member.linkname if member.issym() or member.islnk() else None)
            _refuse_link(archive, member)  # also one whose target, read as text, stays inside
        _check_size(archive, sum(member.size for member in members), max_bytes, max_ratio)
        handle.extractall(target, filter="data")


def extract_archive(
    archive: str | Path,
    destination: str | Path,
    *,
    max_bytes: int = MAX_EXTRACT_BYTES,
    max_ratio: int = MAX_EXTRACT_RATIO,
) -> Path:
    """Extract `archive` once into `destination` and return it.

    Extraction goes to a temporary sibling folder that is renamed when complete, so an
    interrupted run leaves nothing half-extracted. The folder records its archive (path, size,
    modification time, in `SOURCE`): an existing `destination` is reused only for the same
    archive, extracted again (replaced) for another one, and refused when it records none
    (not ours to replace). An archive that would write more than `max_bytes`, or more than
    `max_ratio` times its own size, is refused before anything is written.
    """
    archive, destination = Path(archive), Path(destination)
    stat = archive.stat()
    source = {"archive": str(archive.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if destination.is_dir():
        try:
            recorded = json.loads((destination / SOURCE).read_text())
        except (OSError, ValueError):
            raise DatasetError(
                f"{destination} exists but records no archive it was extracted from; to extract {archive} there, "
                "delete it (or set data.extract_dir to another folder)"
            ) from None
        if recorded == source:
            return destination
    with atomic_path(destination, directory=True) as staging:
        target = staging.resolve()
        try:
            extract = _extract_zip if zipfile.is_zipfile(archive) else _extract_tar
            extract(archive, target, max_bytes, max_ratio)
        # (EOFError, zlib.error, lzma.LZMAError: a truncated or corrupt compressed stream;
        # NotImplementedError: a zip compression method Python cannot read, e.g. 93, Zstandard)
        except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError, NotImplementedError) as error:
            raise DatasetError(f"{archive}: cannot extract ({error}); expected a complete zip (stored or deflated) or tar archive") from None
        (staging / SOURCE).write_text(json.dumps(source) + "\n")
    return destination
