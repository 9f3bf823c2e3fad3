"""Embedding a folder of images: order, normalisation, file list, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dranet_keras.cli import main
from dranet_keras.embedding import ImageFolderError, embed_folder, list_images, save_embeddings
from dranet_keras.models import build_dranet

SHAPE = (64, 32, 3)  # on a ResNet14 backbone: the tests are of embedding, not of the backbone


def unit_rows(x):
    x = np.asarray(x, dtype="float64")
    return x / np.sqrt((x**2).sum(axis=1, keepdims=True))


@pytest.fixture(scope="module")
def model():
    return build_dranet(5, "dra", input_shape=SHAPE, depth=14)


@pytest.fixture
def folder(tmp_path):
    """Three PNGs (lossless, at the model's input size) in a nested tree, written out of order,
    plus a file that is not an image."""
    rng = np.random.default_rng(1)
    root = tmp_path / "images"
    arrays = {}
    for name in ("b/0002_c1.png", "0010_c2.png", "a/0001_c3.png"):
        arrays[name] = rng.integers(0, 256, size=SHAPE, dtype=np.uint8)
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arrays[name]).save(root / name)
    (root / "notes.txt").write_text("not an image")
    return root, arrays


def test_list_images_is_sorted_recursive_and_skips_other_files(folder):
    root, _ = folder
    assert [p.relative_to(root).as_posix() for p in list_images(root)] == ["0010_c2.png", "a/0001_c3.png", "b/0002_c1.png"]


def test_embed_folder_gives_unit_rows_of_the_model_in_sorted_order(folder, model):
    root, arrays = folder
    paths, features = embed_folder(model, root, batch_size=2)
    order = ["0010_c2.png", "a/0001_c3.png", "b/0002_c1.png"]
    assert [p.relative_to(root).as_posix() for p in paths] == order
    images = np.stack([arrays[name] for name in order]).astype("float32")
    expected = unit_rows(model(images, training=False))
    assert features.shape == (3, 2048) and features.dtype == np.float32
    np.testing.assert_allclose(features, expected, atol=1e-5)


def test_flip_sums_the_embeddings_of_the_image_and_its_mirror(folder, model):
    root, arrays = folder
    _, features = embed_folder(model, root, batch_size=8, flip=True)
    image = arrays["0010_c2.png"].astype("float32")[None]
    both = np.asarray(model(image, training=False)) + np.asarray(model(image[:, :, ::-1].copy(), training=False))
    np.testing.assert_allclose(features[0], unit_rows(both)[0], atol=1e-5)


def test_images_of_another_size_are_resized_to_the_model_input(tmp_path, model):
    Image.fromarray(np.full((128, 64, 3), 90, np.uint8)).save(tmp_path / "big.jpg")
    _, features = embed_folder(model, tmp_path)
    assert features.shape == (1, 2048)
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)


def test_save_embeddings_writes_npy_and_file_list(folder, tmp_path):
    root, _ = folder
    paths = list_images(root)
    features = unit_rows(np.arange(6, dtype="float32").reshape(3, 2) + 1)
    out, listing = save_embeddings(tmp_path / "out" / "feats.npy", paths, features, root)
    np.testing.assert_array_equal(np.load(out), features.astype("float32"))
    assert listing == tmp_path / "out" / "feats.txt"
    assert listing.read_text().splitlines() == ["0010_c2.png", "a/0001_c3.png", "b/0002_c1.png"]


def test_folder_errors_name_the_path(tmp_path):
    with pytest.raises(ImageFolderError, match="does not exist"):
        list_images(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageFolderError, match="holds no images"):
        list_images(tmp_path / "empty")


@pytest.mark.slow  # saves and reloads a DRANet and traces its inference
def test_dranet_embed_end_to_end_and_its_user_errors(folder, model, tmp_path, capsys):
    root, _ = folder
    model_path = tmp_path / "model.keras"
    model.save(model_path)
    out = tmp_path / "feats.npy"
    assert main(["embed", "--model", str(model_path), "--images", str(root), "--out", str(out), "--batch-size", "2"]) == 0
    features = np.load(out)
    assert features.shape == (3, 2048)
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)
    assert len(out.with_suffix(".txt").read_text().splitlines()) == 3
    capsys.readouterr()

    (root / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    mistakes = {
        "does not exist": ["--images", str(tmp_path / "absent"), "--out", str(out)],
        "corrupt.png": ["--images", str(root), "--out", str(tmp_path / "again.npy")],
        "ending in .npy": ["--images", str(root), "--out", str(tmp_path / "feats.csv")],
    }
    for message, arguments in mistakes.items():
        assert main(["embed", "--model", str(model_path), *arguments]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "again.npy").exists()


def test_an_output_that_is_a_folder_and_a_non_utf8_image_name_are_refused_before_the_model_loads(folder, tmp_path, capsys):
    import os

    root, _ = folder
    (tmp_path / "existing_dir.npy").mkdir()
    missing_model = str(tmp_path / "never_read.keras")  # the refusals come before the model is looked at
    assert main(["embed", "--model", missing_model, "--images", str(root), "--out", str(tmp_path / "existing_dir.npy")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "existing_dir.npy: it is a folder" in err, err
    Image.new("RGB", (16, 32)).save(os.fsdecode(bytes(root) + b"/\xe9t\xe9.png"))
    assert main(["embed", "--model", missing_model, "--images", str(root), "--out", str(tmp_path / "f.npy")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\\xe9t\\xe9.png: file name is not UTF-8" in err, err


@pytest.mark.slow  # saves and reloads a DRANet and traces its inference
def test_dranet_embed_refuses_a_model_whose_embeddings_are_nan(folder, tmp_path, capsys):
    root, _ = folder
    broken = build_dranet(5, "dra", input_shape=SHAPE, depth=14)
    broken.set_weights([np.full(w.shape, np.nan, w.dtype) for w in broken.get_weights()])  # a diverged run's model
    model_path = tmp_path / "nan.keras"
    broken.save(model_path)
    out = tmp_path / "feats.npy"
    assert main(["embed", "--model", str(model_path), "--images", str(root), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "NaN or infinite embeddings for 3 of 3 images" in err
    assert not out.exists() and not out.with_suffix(".txt").exists()
