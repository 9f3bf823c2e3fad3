"""Market-1501 (Zheng et al. 2015): `bounding_box_train`, `query`, `bounding_box_test` of
`<pid>_c<cam>s<seq>_<frame>_<box>.jpg`; pid -1 is junk (dropped), pid 0 a distractor (kept in
the gallery). The optional `images` folder (Market-1501+500k distractors) joins the gallery only
when asked."""

from __future__ import annotations

import re
from pathlib import Path

from dranet_keras.data.datasets.layout import locate, list_images, parse_names, relabel, require_dir, require_records
from dranet_keras.data.records import Split

NAME = re.compile(r"^(-?[0-9]+)_c([0-9]+)")
LAYOUT = "<root>/{bounding_box_train,query,bounding_box_test}/<pid>_c<camera>..., e.g. 0002_c1s1_000451_03.jpg"


def read_market_layout(
    root: str | Path, layout: str = LAYOUT, extra_gallery: str | None = None, train_folder: str | None = "bounding_box_train"
) -> Split:
    """A data set in Market-1501's folder and file-name layout (also DukeMTMC-reID's and ours).

    `extra_gallery` names an optional further folder of gallery images (e.g. "images");
    `train_folder=None` reads an evaluation-only set (no training split).
    """
    root = locate(Path(root), train_folder or "query")
    require_dir(root, layout)

    def read(folder: str, keep_distractors: bool):
        path = require_dir(root / folder, layout)
        records = parse_names(list_images(path), NAME, layout)
        if not keep_distractors:
            records = [r for r in records if r.pid != 0]
        return require_records(records, path, layout)

    train = relabel(read(train_folder, keep_distractors=False)) if train_folder else []
    query = read("query", keep_distractors=False)
    gallery = read("bounding_box_test", keep_distractors=True)
    if extra_gallery is not None:
        gallery = gallery + read(extra_gallery, keep_distractors=True)
    return Split(train, query, gallery)


def read_market1501(root: str | Path, extra_gallery: bool = False) -> Split:
    """Market-1501 as a Split; `extra_gallery=True` adds the 500k distractors in `images`."""
    return read_market_layout(root, LAYOUT, "images" if extra_gallery else None)
