"""Occluded-REID (Zhuo et al., ICME 2018): 200 ids with 5 occluded and 5 whole-body images each,
`<root>/{occluded_body_images,whole_body_images}/<pid>/<pid>_<n>.tif`.

An evaluation-only set (no train split): query = the occluded images, gallery = the whole-body
ones, and the model is trained on another data set (Market-1501 in the paper's protocol).
Layout from the public loaders hh23333/PVPM `torchreid/data/datasets/image/occlusion_reid.py`,
VlSomers/bpbreid `torchreid/data/datasets/image/occluded_reid.py` (which globs `*/*.tif`) and
wangguanan/light-reid `lightreid/data/datasets/occluded_reid.py`. The pid is the file name's part
before the first "_", as those loaders read it. Cameras: all three put every query in camera 0
and the gallery in camera 1; so do we, so that the market protocol's same-camera rule removes no
whole-body match. TensorFlow cannot decode TIFF: each TIFF is converted once to a PNG under
`images_dir` (JPEG/PNG copies are read as they are).
"""

from __future__ import annotations

import io
from pathlib import Path

from dranet_keras.data.datasets.layout import (
    DISTRACTOR_PID,
    IMAGE_SUFFIXES,
    JUNK_PID,
    TIFF_SUFFIXES,
    list_images,
    locate,
    parse_pid,
    require_dir,
    require_records,
)
from dranet_keras.data.errors import DatasetError
from dranet_keras.data.records import Record, Split
from dranet_keras.io import atomic_write_bytes

LAYOUT = "<root>/{occluded_body_images,whole_body_images}/<pid>/<pid>_<n>.tif, e.g. occluded_body_images/001/001_01.tif"
QUERY_CAMERA, GALLERY_CAMERA = 0, 1


def _to_png(source: Path, target: Path) -> Path:
    """`target`, a PNG copy of `source` written unless it is already there."""
    if not target.is_file():
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(source) as image:
                buffer = io.BytesIO()
                image.convert("RGB").save(buffer, format="PNG")
        except (OSError, UnidentifiedImageError, ValueError) as error:
            raise DatasetError(f"{source}: cannot be converted to PNG ({error})") from None
        atomic_write_bytes(target, buffer.getvalue())
    return target


def read_body_images(
    root: Path, folder: str, camid: int, layout: str, *, keep_distractors: bool, images_dir: Path | None = None
) -> list[Record]:
    """Records of the images in `root/folder` and in its person sub-folders, all in camera `camid`.

    The pid is the file name's part before the first "_" (-1 = junk, dropped; 0 = distractor,
    kept only with `keep_distractors`). With `images_dir`, TIFF images count too and are read
    from PNG copies at the same relative path under `images_dir`.
    """
    top = require_dir(root / folder, layout)
    suffixes = IMAGE_SUFFIXES + (TIFF_SUFFIXES if images_dir is not None else ())
    subfolders = sorted(p for p in top.iterdir() if p.is_dir())
    records = []
    for path in list_images(top, suffixes) + [p for sub in subfolders for p in list_images(sub, suffixes)]:
        text, sep, _ = path.stem.partition("_")
        if not sep:
            raise DatasetError(f"{path}: file name has no '<pid>_' prefix; expected {layout}")
        pid = parse_pid(text, path, layout)
        if pid == JUNK_PID or (pid == DISTRACTOR_PID and not keep_distractors):
            continue
        if path.suffix.lower() in TIFF_SUFFIXES:
            path = _to_png(path, images_dir / path.relative_to(root).with_suffix(".png"))
        records.append(Record(str(path), pid, camid))
    return require_records(records, top, layout)


def read_occluded_reid(root: str | Path, images_dir: str | Path | None = None) -> Split:
    """Occluded-REID as a Split with an empty train split; TIFF images become PNGs in
    `images_dir` (default `<root>/images_png`) on first use."""
    root = require_dir(locate(Path(root), "occluded_body_images"), LAYOUT)
    images_dir = Path(images_dir) if images_dir is not None else root / "images_png"
    query = read_body_images(root, "occluded_body_images", QUERY_CAMERA, LAYOUT, keep_distractors=False, images_dir=images_dir)
    gallery = read_body_images(root, "whole_body_images", GALLERY_CAMERA, LAYOUT, keep_distractors=True, images_dir=images_dir)
    return Split([], query, gallery)
