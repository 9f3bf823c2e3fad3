"""Partial-REID (Zheng et al., ICCV 2015): 60 ids with 5 partial and 5 whole-body images each,
`<root>/{partial_body_images,whole_body_images}/<pid>_<n>.jpg`.

An evaluation-only set (no train split): query = the partial images (occluded views cropped to
the visible part), gallery = the whole-body ones, the model trained on another data set
(Market-1501 in the protocol of DSR, VPM, PVPM and later work). Layout from the public loaders
JDAI-CV/fast-reid `projects/PartialReID/partialreid/partial_dataset.py` and VlSomers/bpbreid
`torchreid/data/datasets/image/partial_reid.py`. (hh23333/PVPM's `partial_reid.py` reads the
release's uncropped `occluded_body_images` as the query instead; we follow the partial protocol.)
Cameras as in bpbreid, PVPM and wangguanan/light-reid: queries camera 0, gallery camera 1 (fast-reid
reads the image number after the pid as a camera, which its own evaluation ignores).
"""

from __future__ import annotations

from pathlib import Path

from dranet_keras.data.datasets.layout import locate, require_dir
from dranet_keras.data.datasets.occluded_reid import GALLERY_CAMERA, QUERY_CAMERA, read_body_images
from dranet_keras.data.records import Split

LAYOUT = "<root>/{partial_body_images,whole_body_images}/<pid>_<n>.jpg, e.g. partial_body_images/001_01.jpg"


def read_partial_reid(root: str | Path) -> Split:
    """Partial-REID as a Split with an empty train split."""
    root = require_dir(locate(Path(root), "partial_body_images"), LAYOUT)
    query = read_body_images(root, "partial_body_images", QUERY_CAMERA, LAYOUT, keep_distractors=False)
    gallery = read_body_images(root, "whole_body_images", GALLERY_CAMERA, LAYOUT, keep_distractors=True)
    return Split([], query, gallery)
