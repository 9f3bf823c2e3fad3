"""CUHK03 new protocol from a real MATLAB v7.3 (HDF5) cuhk-03.mat written with h5py."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
from PIL import Image

from dranet_keras.data import load_dataset
from dranet_keras.data.errors import DatasetError

# Camera pair -> persons -> image slots present (0-4: view 1, 5-9: view 2); others empty cells.
SLOTS = {
    "labeled": {1: {1: [0, 1, 5, 6], 2: [0, 1, 5, 6], 3: [0, 1, 5, 6]}, 2: {1: [0, 1, 5, 6], 2: [0, 5]}},
    "detected": {1: {1: [0, 1, 2, 5, 6], 2: [0, 1, 5, 6], 3: [0, 1, 5, 6]}, 2: {1: [0, 1, 5, 6], 2: [0, 5]}},
}
LABELS = {(1, 1): 1, (1, 2): 2, (1, 3): 3, (2, 1): 4, (2, 2): 5}  # global person labels
TRAIN_LABELS = {1, 4}


def pixels(pair, person, slot, kind):
    """A distinct 6x4 (height x width) image per cell; not square, so a transposition shows."""
    rng = np.random.default_rng([pair, person, slot, len(kind)])
    return rng.integers(0, 256, size=(6, 4, 3), dtype=np.uint8)


def write_mat_v73(path: Path) -> None:
    """What MATLAB's `save -v7.3` writes: HDF5 with a 512-byte MATLAB header, cells as object
    references into #refs#, arrays stored transposed (column-major)."""
    with h5py.File(path, "w", userblock_size=512) as mat:
        refs = mat.create_group("#refs#")
        count = 0

        def store(array, matlab_class):
            nonlocal count
            count += 1
            dataset = refs.create_dataset(f"r{count}", data=array)
            dataset.attrs["MATLAB_class"] = np.bytes_(matlab_class)
            return dataset.ref

        for kind, pairs in SLOTS.items():
            pair_refs = []
            for pair in sorted(pairs):
                persons = pairs[pair]
                cells = np.empty((len(persons), 10), dtype=h5py.ref_dtype)
                for person in sorted(persons):
                    for slot in range(10):
                        if slot in persons[person]:
                            cells[person - 1, slot] = store(pixels(pair, person, slot, kind).T, "uint8")
                        else:
                            cells[person - 1, slot] = store(np.zeros(2, dtype=np.uint64), "double")
                pair_refs.append(store(cells.T, "cell"))
            mat.create_dataset(kind, data=np.array([pair_refs], dtype=h5py.ref_dtype)).attrs["MATLAB_class"] = np.bytes_("cell")
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2018 HDF5 schema 1.00 ."
    with open(path, "r+b") as handle:
        handle.write(header.ljust(116) + b"\x00" * 8 + b"\x00\x02" + b"IM")


def write_split(path: Path, kind: str) -> None:
    """A new-protocol split file (MATLAB v5, as published): query = first image of each test
    person in each view, gallery = the rest."""
    names, labels, train, query, gallery = [], [], [], [], []
    for pair, persons in SLOTS[kind].items():
        for person, slots in persons.items():
            seen_views = set()
            for slot in slots:
                view = 1 if slot < 5 else 2
                names.append(f"{pair}_{person:03d}_{view}_{slot + 1:02d}.png")
                labels.append(LABELS[pair, person])
                index = len(names)  # 1-based, as MATLAB
                if LABELS[pair, person] in TRAIN_LABELS:
                    train.append(index)
                elif view not in seen_views:
                    query.append(index)
                    seen_views.add(view)
                else:
                    gallery.append(index)
    filelist = np.empty((len(names), 1), dtype=object)
    for i, name in enumerate(names):
        filelist[i, 0] = name
    scipy.io.savemat(path, {
        "filelist": filelist, "labels": np.array(labels, dtype=float)[:, None], "train_idx": np.array(train, dtype=float)[:, None],
        "query_idx": np.array(query, dtype=float)[:, None], "gallery_idx": np.array(gallery, dtype=float)[:, None]})


@pytest.fixture
def cuhk03_root(tmp_path) -> Path:
    root = tmp_path / "cuhk03"
    root.mkdir()
    write_mat_v73(root / "cuhk-03.mat")
    for kind in SLOTS:
        write_split(root / f"cuhk03_new_protocol_config_{kind}.mat", kind)
    return root


def test_labeled_counts_conventions_and_pixels(cuhk03_root):
    assert h5py.is_hdf5(cuhk03_root / "cuhk-03.mat")
    split = load_dataset("cuhk03_labeled", cuhk03_root)
    # 18 labeled images: train persons 1 and 4 (4 images each) relabelled 0 and 1.
    assert [(Path(r.path).name, r.pid, r.camid) for r in split.train] == [
        ("1_001_1_01.png", 0, 0), ("1_001_1_02.png", 0, 0), ("1_001_2_06.png", 0, 1), ("1_001_2_07.png", 0, 1),
        ("2_001_1_01.png", 1, 0), ("2_001_1_02.png", 1, 0), ("2_001_2_06.png", 1, 1), ("2_001_2_07.png", 1, 1),
    ]
    assert [(r.pid, r.camid) for r in split.query] == [(2, 0), (2, 1), (3, 0), (3, 1), (5, 0), (5, 1)]
    assert [(r.pid, r.camid) for r in split.gallery] == [(2, 0), (2, 1), (3, 0), (3, 1)]
    assert len(list((cuhk03_root / "images_labeled").glob("*.png"))) == 18
    # The extracted PNG holds the HxWx3 image MATLAB saved (orientation and values intact).
    extracted = np.asarray(Image.open(cuhk03_root / "images_labeled" / "1_003_2_07.png"))
    np.testing.assert_array_equal(extracted, pixels(1, 3, 6, "labeled"))


def test_detected_uses_its_own_images(cuhk03_root, tmp_path):
    split = load_dataset("cuhk03_detected", cuhk03_root, images_dir=tmp_path / "png")
    assert (len(split.train), len(split.query), len(split.gallery)) == (9, 6, 4)
    extracted = np.asarray(Image.open(tmp_path / "png" / "1_001_1_03.png"))
    np.testing.assert_array_equal(extracted, pixels(1, 1, 2, "detected"))


def test_errors(cuhk03_root):
    (cuhk03_root / "cuhk03_new_protocol_config_labeled.mat").unlink()
    with pytest.raises(DatasetError, match="cuhk03_new_protocol_config_labeled.mat: file not found"):
        load_dataset("cuhk03_labeled", cuhk03_root)
    scipy.io.savemat(cuhk03_root / "cuhk-03.mat", {"labeled": np.zeros(3)})  # a v5 file
    with pytest.raises(DatasetError, match="not a MATLAB v7.3"):
        load_dataset("cuhk03_detected", cuhk03_root)


def test_empty_or_damaged_mat_files_are_one_line_errors(cuhk03_root):
    (cuhk03_root / "cuhk03_new_protocol_config_labeled.mat").write_bytes(b"")
    with pytest.raises(DatasetError, match="cuhk03_new_protocol_config_labeled.mat: cannot read as a MATLAB file"):
        load_dataset("cuhk03_labeled", cuhk03_root)
    (cuhk03_root / "cuhk-03.mat").write_bytes(b"")
    with pytest.raises(DatasetError, match="cuhk-03.mat: not a MATLAB v7.3"):
        load_dataset("cuhk03_detected", cuhk03_root)
    with h5py.File(cuhk03_root / "cuhk-03.mat", "w") as mat:  # HDF5, but the cells are not references
        mat["detected"] = np.zeros((1, 5))
    with pytest.raises(DatasetError, match="cuhk-03.mat: the 'detected' images cannot be read"):
        load_dataset("cuhk03_detected", cuhk03_root)
