"""CUHK03 (Li et al. 2014), new protocol (Zhong et al. 2017): 767 training and 700 test ids.

Inputs: the official `cuhk-03.mat` (MATLAB v7.3, i.e. HDF5: groups `labeled` and `detected`,
each 5 camera pairs of (persons x 10) cells of HxWx3 uint8 images) and the new-protocol split
files `cuhk03_new_protocol_config_{labeled,detected}.mat` (MATLAB v5: `filelist`, `labels`,
1-based `train_idx`, `query_idx`, `gallery_idx`). The images are extracted once to
`<pair>_<person:03d>_<view>_<image:02d>.png` (the names `filelist` uses); the camera id is the
view (0 or 1).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from dranet_keras.data.datasets.layout import locate, relabel, require_file, require_records
from dranet_keras.data.errors import DatasetError
from dranet_keras.data.records import Record, Split
from dranet_keras.io import atomic_write_bytes

KINDS = ("labeled", "detected")
LAYOUT = (
    "<root>/cuhk-03.mat (MATLAB v7.3) and <root>/cuhk03_new_protocol_config_{labeled,detected}.mat "
    "(from the re-ranking repository of Zhong et al.)"
)


def image_name(pair: int, person: int, slot: int) -> str:
    """File name of cell `slot` (0..9; 0-4 view 1, 5-9 view 2) of `person` in camera `pair` (0-based)."""
    return f"{pair + 1}_{person + 1:03d}_{1 if slot < 5 else 2}_{slot + 1:02d}.png"


def extract_images(mat_path: Path, kind: str, images_dir: Path) -> None:
    """Write every non-empty `kind` image of `cuhk-03.mat` to `images_dir` as PNG (existing
    files are kept, so this runs once)."""
    import h5py

    try:
        mat = h5py.File(mat_path, "r")
    except OSError:
        raise DatasetError(f"{mat_path}: not a MATLAB v7.3 (HDF5) file; expected the official cuhk-03.mat") from None
    with mat:
        if kind not in mat:
            raise DatasetError(f"{mat_path}: has no {kind!r} group; expected {LAYOUT}")
        images_dir.mkdir(parents=True, exist_ok=True)
        try:
            _write_cells(mat, kind, images_dir)
        except (KeyError, TypeError, ValueError, IndexError, OSError) as error:  # h5py's, for a damaged file
            raise DatasetError(f"{mat_path}: the {kind!r} images cannot be read ({error}); expected {LAYOUT}") from None


def _write_cells(mat, kind: str, images_dir: Path) -> None:
    from PIL import Image

    for pair, pair_ref in enumerate(mat[kind][0]):
        cells = mat[pair_ref][:].T  # MATLAB stores column-major: (persons, 10) after .T
        for person in range(cells.shape[0]):
            for slot, ref in enumerate(cells[person]):
                target = images_dir / image_name(pair, person, slot)
                if target.exists():
                    continue
                pixels = mat[ref][:].T
                if pixels.ndim < 3 or pixels.size == 0:  # an empty cell
                    continue
                buffer = io.BytesIO()
                Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8)).save(buffer, format="PNG")
                atomic_write_bytes(target, buffer.getvalue())


def _read_split_file(path: Path) -> dict:
    import scipy.io

    try:
        values = scipy.io.loadmat(path)
    except (ValueError, OSError, NotImplementedError, scipy.io.matlab.MatReadError) as error:
        raise DatasetError(f"{path}: cannot read as a MATLAB file ({error}); expected {LAYOUT}") from None
    missing = [k for k in ("filelist", "labels", "train_idx", "query_idx", "gallery_idx") if k not in values]
    if missing:
        raise DatasetError(f"{path}: missing {missing}; expected the new-protocol split file")
    return values


def read_cuhk03(root: str | Path, kind: str = "labeled", images_dir: str | Path | None = None) -> Split:
    """CUHK03 `kind` ("labeled" or "detected"), new protocol, as a Split.

    Images are extracted to `images_dir` (default `<root>/images_<kind>`) on first use.
    """
    if kind not in KINDS:
        raise DatasetError(f"CUHK03 kind {kind!r}: expected one of {list(KINDS)}")
    root = locate(Path(root), "cuhk-03.mat")
    mat_path = require_file(root / "cuhk-03.mat", LAYOUT)
    split = _read_split_file(require_file(root / f"cuhk03_new_protocol_config_{kind}.mat", LAYOUT))
    images_dir = Path(images_dir) if images_dir is not None else root / f"images_{kind}"
    extract_images(mat_path, kind, images_dir)

    filelist = [str(np.asarray(entry).ravel()[0]) for entry in split["filelist"].ravel()]
    labels = split["labels"].ravel().astype(int)

    def records(key: str) -> list[Record]:
        chosen = []
        for index in split[key].ravel().astype(int) - 1:
            name = filelist[index]
            path = images_dir / name
            if not path.is_file():
                raise DatasetError(f"{path}: listed in the {kind} split file but not in {mat_path}")
            chosen.append(Record(str(path), int(labels[index]), int(name.split("_")[2]) - 1))
        return require_records(chosen, f"{key} of the {kind} split file", LAYOUT)

    return Split(relabel(records("train_idx")), records("query_idx"), records("gallery_idx"))
