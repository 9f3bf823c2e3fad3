"""The atomic-write helpers: all or nothing, and one permission rule (umask-based)."""

import os
import stat

import pytest

from dranet_keras.errors import UserError
from dranet_keras.io import atomic_path, atomic_write_bytes, atomic_write_json, atomic_write_text


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_files_and_folders_get_what_open_and_mkdir_would_give(tmp_path, umask_027):
    atomic_write_text(tmp_path / "a" / "x.txt", "hello")
    assert (tmp_path / "a" / "x.txt").read_text() == "hello"
    assert mode(tmp_path / "a" / "x.txt") == 0o640  # 0666 minus umask 027
    with atomic_path(tmp_path / "tree", directory=True) as staging:
        (staging / "inner.txt").write_text("1")
    assert mode(tmp_path / "tree") == 0o750  # 0777 minus umask 027
    assert (tmp_path / "tree" / "inner.txt").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "tree"]  # no temporaries left


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "model.keras"
    atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            assert tmp.name.endswith(".keras") and tmp.parent == tmp_path  # writers that check suffixes
            tmp.write_bytes(b"half")
            raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def test_a_folder_replaces_an_older_one_whole(tmp_path):
    target = tmp_path / "export"
    with atomic_path(target, directory=True) as staging:
        (staging / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target, directory=True) as staging:
            (staging / "new.txt").write_text("new")
            raise RuntimeError
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    with atomic_path(target, directory=True) as staging:
        (staging / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["export"]


def test_a_file_is_never_replaced_by_a_folder(tmp_path):
    (tmp_path / "export").write_text("mine")
    with pytest.raises(UserError, match="export exists and is not a directory"):
        with atomic_path(tmp_path / "export", directory=True):
            pass
    assert (tmp_path / "export").read_text() == "mine"


def test_json_is_indented_with_a_trailing_newline(tmp_path):
    atomic_write_json(tmp_path / "m.json", {"b": 1, "a": [1, 2]})
    assert (tmp_path / "m.json").read_text() == '{\n  "b": 1,\n  "a": [\n    1,\n    2\n  ]\n}\n'
