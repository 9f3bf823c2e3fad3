"""MSMT17 (Wei et al. 2018): list files `list_{train,val,query,gallery}.txt` of
`<pid>/<pid>_<index>_<camera>_<...>.jpg <pid>` lines, images under `train/` and `test/`
(V1) or `mask_train_v2/` and `mask_test_v2/` (V2). Train is train + val (32,621 images of
1,041 ids, as published results use) unless `include_val=False`."""

from __future__ import annotations

from pathlib import Path

from dranet_keras.data.datasets.layout import (
    locate,
    parse_camera,
    parse_pid,
    relabel,
    require_dir,
    require_file,
    require_records,
)
from dranet_keras.data.errors import DatasetError
from dranet_keras.data.records import Record, Split

LAYOUT = (
    "<root>/list_{train,val,query,gallery}.txt with lines '<pid>/<pid>_<n>_<camera>_<...>.jpg <pid>', "
    "images in <root>/train and <root>/test (or mask_train_v2 and mask_test_v2)"
)


def _image_dir(root: Path, names: tuple[str, str]) -> Path:
    for name in names:
        if (root / name).is_dir():
            return root / name
    return require_dir(root / names[0], LAYOUT)


def _read_list(list_path: Path, image_dir: Path) -> list[Record]:
    try:
        text = require_file(list_path, LAYOUT).read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise DatasetError(f"{list_path}: not a text file ({error.reason} at byte {error.start}); expected {LAYOUT}") from None
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            relative, pid = line.split()
            camera = Path(relative).name.split("_")[2]
        except (ValueError, IndexError):
            raise DatasetError(f"{list_path}:{number}: cannot parse {line!r}; expected {LAYOUT}") from None
        where = f"{list_path}:{number}"
        records.append(Record(str(image_dir / relative), parse_pid(pid, where, LAYOUT), parse_camera(camera, where, LAYOUT)))
    return require_records(records, list_path, LAYOUT)


def read_msmt17(root: str | Path, include_val: bool = True) -> Split:
    """MSMT17 (V1 or V2 folder names) as a Split."""
    root = require_dir(locate(Path(root), "list_train.txt"), LAYOUT)
    train_dir = _image_dir(root, ("train", "mask_train_v2"))
    test_dir = _image_dir(root, ("test", "mask_test_v2"))
    train = _read_list(root / "list_train.txt", train_dir)
    if include_val:
        train += _read_list(root / "list_val.txt", train_dir)
    query = _read_list(root / "list_query.txt", test_dir)
    gallery = _read_list(root / "list_gallery.txt", test_dir)
    return Split(relabel(train), query, gallery)
