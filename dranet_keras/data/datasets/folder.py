"""A user's own data: `<root>/{train,query,gallery}/<pid>/<camera>_<anything>.jpg`.

`<pid>` is a folder named by a decimal integer in ASCII digits (0 = distractor, kept in the
gallery; -1 = junk, dropped; zero padding is fine, but each id has one spelling: "1" and "01"
together are refused);
`<camera>` is the part of the file name before the first "_" (any name; cameras are numbered
0..C-1 in sorted order over all three splits). Without camera information pass
`camera_ids=False`: every image becomes its own camera, so the cross-camera rule of the
evaluation removes nothing and same-camera matches of a query count as correct.
"""

from __future__ import annotations

from pathlib import Path

from dranet_keras.data.datasets.layout import (
    DISTRACTOR_PID,
    JUNK_PID,
    list_images,
    parse_pid,
    relabel,
    require_dir,
    require_records,
)
from dranet_keras.data.errors import DatasetError
from dranet_keras.data.records import Record, Split

LAYOUT = "<root>/{train,query,gallery}/<pid integer>/<camera>_<name>.jpg, e.g. train/0007/cam2_0001.jpg"
SPLITS = ("train", "query", "gallery")


def _camera_key(name: str):
    # numbers in numeric order, then by spelling: "1" and "01" are two cameras, always in one order
    return (0, int(name), name) if name.lstrip("-").isdigit() else (1, 0, name)


def _list_split(root: Path, split: str, spellings: dict[int, Path]) -> list[tuple[Path, int, str]]:
    """(path, pid, camera name) of `split`; `spellings` (pid -> first folder) catches "1" vs "01"."""
    folder = require_dir(root / split, LAYOUT)
    items = []
    for pid_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        pid = parse_pid(pid_dir.name, pid_dir, LAYOUT)
        first = spellings.setdefault(pid, pid_dir)
        if first.name != pid_dir.name:
            raise DatasetError(
                f"{pid_dir}: person folder {pid_dir.name!r} and {first} are both pid {pid}; "
                "spell each id one way (same zero padding everywhere)"
            )
        if pid == JUNK_PID:
            continue
        for path in list_images(pid_dir):
            camera, sep, _ = path.stem.partition("_")
            if not sep or not camera:
                raise DatasetError(f"{path}: file name has no '<camera>_' prefix; expected {LAYOUT}")
            items.append((path, pid, camera))
    return require_records(items, folder, LAYOUT)


def read_folder(root: str | Path, camera_ids: bool = True) -> Split:
    """A Split from the folder layout above (see the module docstring for `camera_ids`)."""
    root = require_dir(Path(root), LAYOUT)
    spellings: dict[int, Path] = {}
    listed = {split: _list_split(root, split, spellings) for split in SPLITS}
    cameras = sorted({camera for items in listed.values() for _, _, camera in items}, key=_camera_key)
    camera_index = {name: index for index, name in enumerate(cameras)}
    splits, running = {}, 0
    for split in SPLITS:
        records = []
        for path, pid, camera in listed[split]:
            records.append(Record(str(path), pid, camera_index[camera] if camera_ids else running))
            running += 1
        if split != "gallery":
            records = require_records([r for r in records if r.pid != DISTRACTOR_PID], root / split, LAYOUT)
        splits[split] = records
    return Split(relabel(splits["train"]), splits["query"], splits["gallery"])
