"""P-DukeMTMC-reID (Zhuo et al., ICME 2018): DukeMTMC-reID people with occluded and whole-body
images, `<root>/{train,test}/{occluded_body_images,whole_body_images}/<pid>/<pid>_<...>.jpg`.

Train = both folders of `train` (pids relabelled 0..N-1 over the two); query = `test`'s occluded
images, gallery = `test`'s whole-body images. Layout from the public loaders hh23333/PVPM
`torchreid/data/datasets/image/pduke_reid.py` and VlSomers/bpbreid
`torchreid/data/datasets/image/p_dukemtmc_reid.py`; the data set itself is distributed by the
authors of tinajia2012/ICME2018_Occluded-Person-Reidentification_datasets. Cameras as in those
loaders: occluded images camera 0, whole-body images camera 1 (in train too), so the market
protocol's same-camera rule removes no whole-body match of a query.
"""

from __future__ import annotations

from pathlib import Path

from dranet_keras.data.datasets.layout import locate, relabel, require_dir
from dranet_keras.data.datasets.occluded_reid import GALLERY_CAMERA, QUERY_CAMERA, read_body_images
from dranet_keras.data.records import Split

LAYOUT = "<root>/{train,test}/{occluded_body_images,whole_body_images}/<pid>/<pid>_<name>.jpg"


def read_p_dukemtmc(root: str | Path) -> Split:
    """P-DukeMTMC-reID as a Split."""
    root = require_dir(locate(Path(root), "test"), LAYOUT)
    train = root / "train"
    train_records = read_body_images(train, "whole_body_images", GALLERY_CAMERA, LAYOUT, keep_distractors=False)
    train_records += read_body_images(train, "occluded_body_images", QUERY_CAMERA, LAYOUT, keep_distractors=False)
    test = root / "test"
    query = read_body_images(test, "occluded_body_images", QUERY_CAMERA, LAYOUT, keep_distractors=False)
    gallery = read_body_images(test, "whole_body_images", GALLERY_CAMERA, LAYOUT, keep_distractors=True)
    return Split(relabel(train_records), query, gallery)
