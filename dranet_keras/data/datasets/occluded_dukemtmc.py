"""Occluded-DukeMTMC (Miao et al., ICCV 2019): DukeMTMC-reID re-split so that every query and
about 10% of the gallery are occluded; 15,618 train images of 702 ids, 2,210 queries, 17,661
gallery images, 8 cameras, DukeMTMC-reID's file names `<pid>_c<camera>_f<frame>.jpg`.

Two ways to give it:
* the authors' name lists over a DukeMTMC-reID copy, no image copied:
  `<root>/{train,query,gallery}.list` (one file name a line) and `<root>/DukeMTMC-reID/` (the
  extracted DukeMTMC-reID.zip). A name is looked up in its DukeMTMC-reID folder (train:
  bounding_box_train, query: query, gallery: bounding_box_test), else in bounding_box_test (the
  re-split moved occluded gallery images into the query), as the authors' script does;
* the tree that script writes: `<root>/{bounding_box_train,query,bounding_box_test}`, read as
  DukeMTMC-reID (so too by hh23333/PVPM `occluded_duke.py` and VlSomers/bpbreid
  `occluded_dukemtmc.py`).

Source of the lists and of the lookup rule: lightas/ICCV19_Pose_Guided_Occluded_Person_ReID,
`dataset/Occluded_Duke/{train,query,gallery}.list` and `dataset/convert_duke_to_occduke.py`
(linked from lightas/Occluded-DukeMTMC-Dataset).
"""

from __future__ import annotations

from pathlib import Path

from dranet_keras.data.datasets.layout import (
    DISTRACTOR_PID,
    locate,
    parse_names,
    relabel,
    require_dir,
    require_file,
    require_records,
)
from dranet_keras.data.datasets.market1501 import NAME, read_market_layout
from dranet_keras.data.errors import DatasetError
from dranet_keras.data.records import Record, Split

LAYOUT = (
    "<root>/{train,query,gallery}.list with <root>/DukeMTMC-reID/{bounding_box_train,query,bounding_box_test}, "
    "or <root>/{bounding_box_train,query,bounding_box_test} (convert_duke_to_occduke.py's output); "
    "file names <pid>_c<camera>_f<frame>.jpg"
)
# list -> (its DukeMTMC-reID folder, keep distractors); a name not there is in bounding_box_test.
LISTS = {"train": ("bounding_box_train", False), "query": ("query", False), "gallery": ("bounding_box_test", True)}
FALLBACK = "bounding_box_test"


def _listed_names(list_path: Path) -> list[tuple[int, str]]:
    """(line number, file name) of each non-empty line, sorted by name."""
    try:
        text = require_file(list_path, LAYOUT).read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise DatasetError(f"{list_path}: not a text file ({error.reason} at byte {error.start}); expected {LAYOUT}") from None
    names = []
    for number, line in enumerate(text.splitlines(), start=1):
        name = line.strip()
        if not name:
            continue
        if Path(name).name != name or name in (".", ".."):
            raise DatasetError(f"{list_path}:{number}: {name!r} is not a bare file name; expected {LAYOUT}")
        names.append((number, name))
    return sorted(names, key=lambda item: item[1])


def _read_lists(root: Path) -> Split:
    duke = require_dir(locate(root / "DukeMTMC-reID", "bounding_box_train"), LAYOUT)
    splits = {}
    for split, (folder, keep_distractors) in LISTS.items():
        list_path = root / f"{split}.list"
        paths = []
        for number, name in _listed_names(list_path):
            path = duke / folder / name
            if not path.is_file():
                path = duke / FALLBACK / name
            if not path.is_file():
                raise DatasetError(f"{list_path}:{number}: {name} is in neither {duke / folder} nor {duke / FALLBACK}")
            paths.append(path)
        records: list[Record] = parse_names(paths, NAME, LAYOUT)
        if not keep_distractors:
            records = [r for r in records if r.pid != DISTRACTOR_PID]
        splits[split] = require_records(records, list_path, LAYOUT)
    return Split(relabel(splits["train"]), splits["query"], splits["gallery"])


def read_occluded_dukemtmc(root: str | Path) -> Split:
    """Occluded-DukeMTMC as a Split, from the name lists or from the converted tree."""
    lists_root = locate(Path(root), "train.list")
    if (lists_root / "train.list").is_file() and not (lists_root / "bounding_box_train").is_dir():
        return _read_lists(lists_root)
    return read_market_layout(root, LAYOUT)
