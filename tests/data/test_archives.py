"""Reading a data set from its original archive; members escaping the target are rejected."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from dranet_keras.data import load_dataset
from dranet_keras.data.archives import extract_archive
from dranet_keras.data.errors import DatasetError


def test_market1501_from_zip(market_root, tmp_path):
    archive = tmp_path / "downloads" / "Market-1501-v15.09.15.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(market_root.rglob("*")):
            handle.write(path, path.relative_to(market_root.parent))
    split = load_dataset("market1501", archive, extract_dir=tmp_path / "raw")
    assert (len(split.train), len(split.query), len(split.gallery)) == (5, 2, 4)
    assert split.train[0].path.startswith(str(tmp_path / "raw"))
    # Default destination: beside the archive, named after it.
    assert len(load_dataset("market1501", archive).train) == 5
    assert (tmp_path / "downloads" / "Market-1501-v15.09.15" / "Market-1501-v15.09.15" / "query").is_dir()


def test_zip_member_escaping_is_rejected(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("data/ok.txt", "fine")
        handle.writestr("../escaped.txt", "bad")
    with pytest.raises(DatasetError, match=r"member '../escaped.txt' would be written outside"):
        extract_archive(archive, tmp_path / "out" / "evil")
    assert not (tmp_path / "out" / "escaped.txt").exists() and not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "out" / "evil").exists()
    assert list((tmp_path / "out").iterdir()) == []  # the staging folder is cleaned up


@pytest.mark.parametrize("kind", ["absolute", "symlink"])
def test_tar_escapes_are_rejected(tmp_path, kind):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as handle:
        if kind == "absolute":
            member = tarfile.TarInfo(str(tmp_path / "abs.txt"))
            member.size = 3
            handle.addfile(member, io.BytesIO(b"bad"))
        else:
            member = tarfile.TarInfo("data/link")
            member.type, member.linkname = tarfile.SYMTYPE, "../../../etc/passwd"
            handle.addfile(member)
    with pytest.raises(DatasetError, match="outside"):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "abs.txt").exists() and not (tmp_path / "out").exists()


def test_not_an_archive(tmp_path):
    archive = tmp_path / "broken.tar"
    archive.write_bytes(b"this is not a tar file" * 50)
    with pytest.raises(DatasetError, match="broken.tar: cannot extract"):
        extract_archive(archive, tmp_path / "out")


def _bomb(path: Path, megabytes: int) -> Path:
    """A zip of one member of `megabytes` MiB of zeros (~1000x smaller compressed)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as handle:
        with handle.open("Market/bounding_box_train/zeros.jpg", "w") as member:
            for _ in range(megabytes):
                member.write(bytes(1 << 20))
    return path


def test_zip_bomb_is_refused_by_ratio_before_anything_is_written(tmp_path):
    archive = _bomb(tmp_path / "bomb.zip", 20)
    assert archive.stat().st_size < 100_000
    with pytest.raises(DatasetError, match=r"bomb.zip: would extract 20,971,520 bytes, \d+x its size .*data.max_extract_ratio=200"):
        extract_archive(archive, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.zip"]  # no folder, no staging left
    # A genuine archive that compresses this well: raising the key lets it through.
    assert (extract_archive(archive, tmp_path / "out", max_ratio=10_000) / "Market").is_dir()


def test_total_size_cap_names_the_key(tmp_path):
    archive = _bomb(tmp_path / "bomb.zip", 2)
    with pytest.raises(DatasetError, match=r"2,097,152 bytes, more than data.max_extract_bytes=1,000,000"):
        extract_archive(archive, tmp_path / "out", max_bytes=1_000_000, max_ratio=10_000)
    with tarfile.open(tmp_path / "bomb.tar.gz", "w:gz") as handle:
        info = tarfile.TarInfo("zeros.bin")
        info.size = 2 << 20
        handle.addfile(info, io.BytesIO(bytes(info.size)))
    with pytest.raises(DatasetError, match="bomb.tar.gz: .*data.max_extract_ratio"):
        extract_archive(tmp_path / "bomb.tar.gz", tmp_path / "out2")


def _zip_with(path: Path, flag_bits: int = 0, compress_type: int = zipfile.ZIP_STORED) -> Path:
    """A one-member zip whose header says `flag_bits` (0x1: encrypted) and `compress_type`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as handle:
        handle.writestr("data/0001_c1_a.jpg", b"x" * 64)
    data = bytearray(buffer.getvalue())
    for signature, flags_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):  # local and central headers
        start = data.index(signature)
        data[start + flags_at : start + flags_at + 2] = flag_bits.to_bytes(2, "little")
        data[start + method_at : start + method_at + 2] = compress_type.to_bytes(2, "little")
    path.write_bytes(bytes(data))
    return path


def _truncated_tar_gz(path: Path) -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as handle:
        payload = bytes(range(256)) * 400
        info = tarfile.TarInfo("data/0001_c1_a.jpg")
        info.size = len(payload)
        handle.addfile(info, io.BytesIO(payload))
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return path


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: _zip_with(p / "locked.zip", flag_bits=0x1), r"locked.zip: member 'data/0001_c1_a.jpg' is encrypted"),
        (lambda p: _zip_with(p / "zstd.zip", compress_type=93), r"zstd.zip: cannot extract \(.*compression method.*\); expected a complete zip"),
        (lambda p: _truncated_tar_gz(p / "cut.tar.gz"), r"cut.tar.gz: cannot extract \(.*\); expected a complete zip"),
    ],
)
def test_archives_python_cannot_extract_are_one_line_errors(tmp_path, make, message):
    archive = make(tmp_path)
    with pytest.raises(DatasetError, match=message) as error:
        extract_archive(archive, tmp_path / "out")
    assert "\n" not in str(error.value)
    assert not (tmp_path / "out").exists()  # nothing half-extracted


def _path_max_escape(path: Path) -> Path:
    """The archive of CVE-2025-4517 (which `tarfile`'s "data" filter misses on Python < 3.11.13):
    16 nested 247-character folders, each beside a one-letter link to it, so that
    `a/b/.../p/lll...` is longer than PATH_MAX and `os.path.realpath` stops following links
    there; the link `lll... -> ../../...` (16 levels: the top), `escape -> a/b/.../p/lll.../../../..`
    (three levels above the top, for the kernel; inside, read as text), then a file under
    `escape/`."""
    long, steps = "d" * 247, "abcdefghijklmnop"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as handle:
        folder = ""
        for step in steps:
            directory = tarfile.TarInfo(f"{folder}{long}")
            directory.type = tarfile.DIRTYPE
            handle.addfile(directory)
            link = tarfile.TarInfo(f"{folder}{step}")
            link.type, link.linkname = tarfile.SYMTYPE, long
            handle.addfile(link)
            folder += f"{long}/"
        deep = "/".join(steps) + "/" + "l" * 254
        link = tarfile.TarInfo(deep)
        link.type, link.linkname = tarfile.SYMTYPE, "../" * len(steps)
        handle.addfile(link)
        escape = tarfile.TarInfo("escape")
        escape.type, escape.linkname = tarfile.SYMTYPE, f"{deep}/../../.."
        handle.addfile(escape)
        payload = b"written outside the extraction folder"
        member = tarfile.TarInfo("escape/PWNED_by_archive.txt")
        member.size = len(payload)
        handle.addfile(member, io.BytesIO(payload))
    return path


def test_links_resolving_past_path_max_cannot_write_outside(tmp_path):
    archive = _path_max_escape(tmp_path / "x.tar")
    destination = tmp_path / "one" / "two" / "out" / "x"
    destination.parent.mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"x.tar: member '[a-p]' is a symbolic link .*refusing to extract"):
        extract_archive(archive, destination)
    assert [p for p in tmp_path.rglob("*") if "PWNED" in p.name] == []
    assert not destination.exists() and list(destination.parent.iterdir()) == []


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_a_link_inside_the_folder_is_refused_too(tmp_path, kind):
    """Re-id data sets hold folders and images only: any link member is refused in one line."""
    archive = tmp_path / "links.tar"
    with tarfile.open(archive, "w") as handle:
        image = tarfile.TarInfo("data/0001_c1s1_000001_00.jpg")
        image.size = 3
        handle.addfile(image, io.BytesIO(b"jpg"))
        link = tarfile.TarInfo("data/0001_c1s1_000002_00.jpg")
        link.type, link.linkname = kind, "data/0001_c1s1_000001_00.jpg" if kind == tarfile.LNKTYPE else "0001_c1s1_000001_00.jpg"
        handle.addfile(link)
    kind_name = "symbolic" if kind == tarfile.SYMTYPE else "hard"
    with pytest.raises(DatasetError, match=rf"member 'data/0001_c1s1_000002_00.jpg' is a {kind_name} link"):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def _tar_of(path: Path, name: str, payload: bytes) -> Path:
    with tarfile.open(path, "w") as handle:
        member = tarfile.TarInfo(f"set/{name}")
        member.size = len(payload)
        handle.addfile(member, io.BytesIO(payload))
    return path


def test_an_extraction_is_reused_only_for_its_own_archive(tmp_path):
    """a.tar then b.tar into the same folder: b's files, not a's stale ones; a folder that
    records no archive (a user's) is refused, untouched."""
    destination = tmp_path / "raw" / "set"
    extract_archive(_tar_of(tmp_path / "a.tar", "a.jpg", b"a"), destination)
    assert (destination / "set" / "a.jpg").read_bytes() == b"a"
    extract_archive(tmp_path / "a.tar", destination)  # the same archive: reused
    extract_archive(_tar_of(tmp_path / "b.tar", "b.jpg", b"b"), destination)
    assert sorted(p.name for p in (destination / "set").iterdir()) == ["b.jpg"]
    assert str(tmp_path / "b.tar") in (destination / ".dranet-extracted-from.json").read_text()

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(DatasetError, match=rf"{mine} exists but records no archive .* delete it \(or set data.extract_dir"):
        extract_archive(tmp_path / "a.tar", mine)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
