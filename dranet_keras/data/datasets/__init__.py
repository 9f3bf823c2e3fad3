"""Readers of the supported data sets, and `load_dataset(name, root, **options)`."""

from __future__ import annotations

import inspect
from functools import partial
from pathlib import Path

from dranet_keras.data.archives import archive_stem, extract_archive, is_archive
from dranet_keras.data.datasets.cuhk03 import read_cuhk03
from dranet_keras.data.datasets.dukemtmc import read_dukemtmc
from dranet_keras.data.datasets.folder import read_folder
from dranet_keras.data.datasets.market1501 import read_market1501
from dranet_keras.data.datasets.msmt17 import read_msmt17
from dranet_keras.data.datasets.occluded_dukemtmc import read_occluded_dukemtmc
from dranet_keras.data.datasets.occluded_reid import read_occluded_reid
from dranet_keras.data.datasets.p_dukemtmc import read_p_dukemtmc
from dranet_keras.data.datasets.partial_reid import read_partial_reid
from dranet_keras.data.errors import DatasetError
from dranet_keras.data.records import Split

READERS = {
    "market1501": read_market1501,
    "dukemtmc": read_dukemtmc,
    "cuhk03_labeled": partial(read_cuhk03, kind="labeled"),
    "cuhk03_detected": partial(read_cuhk03, kind="detected"),
    "msmt17": read_msmt17,
    "folder": read_folder,
    "occluded_dukemtmc": read_occluded_dukemtmc,
    "p_dukemtmc": read_p_dukemtmc,
    "occluded_reid": read_occluded_reid,  # evaluation only: an empty train split
    "partial_reid": read_partial_reid,  # evaluation only
}
DATASETS = (*READERS, "synthetic")


def load_dataset(
    name: str, root: str | Path, *, extract_dir: str | Path | None = None, extract_limits: dict | None = None, **options
) -> Split:
    """Read data set `name` from `root` as a Split of (path, pid, camid) records.

    `root` may also be the data set's original zip/tar archive: it is extracted safely, once,
    into `extract_dir` (default: beside the archive, named after it), within `extract_limits`
    (`extract_archive`'s `max_bytes`/`max_ratio`). For "synthetic" the set
    is generated into `root` first unless it is already there with the same `options`
    (see `dranet_keras.data.synthetic.generate`). Other `options` go to the reader:
    `extra_gallery` (market1501), `include_val` (msmt17), `camera_ids` (folder),
    `images_dir` (cuhk03_*, occluded_reid: where extracted or converted images go).
    """
    if name == "synthetic":
        from dranet_keras.data.synthetic import load_synthetic

        return load_synthetic(root, **options)
    if name not in READERS:
        raise DatasetError(f"unknown data set {name!r}; expected one of {list(DATASETS)}")
    if is_archive(root):
        destination = Path(extract_dir) if extract_dir is not None else Path(root).with_name(archive_stem(root))
        root = extract_archive(root, destination, **(extract_limits or {}))
    reader = READERS[name]
    try:
        inspect.signature(reader).bind(root, **options)
    except TypeError as error:
        raise DatasetError(f"data set {name!r}: invalid options {sorted(options)} ({error})") from None
    return reader(root, **options)


__all__ = ["DATASETS", "load_dataset"]
