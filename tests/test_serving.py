"""SavedModel/TFLite export: the reloaded export (fresh process, TensorFlow only) gives the
Keras model's L2-normalised embeddings."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from dranet_keras.cli import main
from dranet_keras.models import build_dranet
from dranet_keras.serving import ModelFileError, load_dranet

SHAPE = (64, 32, 3)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A tiny DRANet (64x32 input, 5 ids) saved as .keras, with uint8 probe images and the
    in-memory model's embeddings normalised by the textbook formula x / ||x||."""
    directory = tmp_path_factory.mktemp("model")
    model = build_dranet(5, "dra", input_shape=SHAPE)
    path = directory / "model.keras"
    model.save(path)
    images = np.random.default_rng(0).integers(0, 256, size=(3, *SHAPE), dtype=np.uint8)
    raw = np.asarray(model(images.astype("float32"), training=False), dtype="float64")
    expected = raw / np.sqrt((raw**2).sum(axis=1, keepdims=True))
    return path, images, expected


def _run_export_in_fresh_process(export_dir, images_path, out_path):
    """Load the SavedModel with plain TensorFlow in a new interpreter; record its signature."""
    script = textwrap.dedent(
        f"""
        import json, numpy as np, tensorflow as tf
        loaded = tf.saved_model.load({str(export_dir)!r})
        fn = loaded.signatures["serving_default"]
        spec = fn.structured_input_signature[1]["images"]
        result = fn(images=tf.constant(np.load({str(images_path)!r})))
        np.save({str(out_path)!r}, result["embeddings"].numpy())
        print(json.dumps({{"dtype": spec.dtype.name, "shape": spec.shape.as_list(), "outputs": sorted(result)}}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_export_round_trip_in_fresh_process(saved_model, tmp_path, capsys):
    path, images, expected = saved_model
    export_dir = tmp_path / "export"
    assert main(["export", "--model", str(path), "--out", str(export_dir)]) == 0
    assert "serving_default" in capsys.readouterr().out
    np.save(tmp_path / "images.npy", images)
    signature = _run_export_in_fresh_process(export_dir, tmp_path / "images.npy", tmp_path / "out.npy")
    assert signature == {"dtype": "uint8", "shape": [None, *SHAPE], "outputs": ["embeddings"]}
    served = np.load(tmp_path / "out.npy")
    assert served.shape == (3, 2048)
    np.testing.assert_allclose(np.linalg.norm(served, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(served, expected, atol=1e-5)


def test_export_replaces_an_older_export_without_leftovers(saved_model, tmp_path):
    path, _, _ = saved_model
    export_dir = tmp_path / "export"
    export_dir.mkdir()
    (export_dir / "stale.txt").write_text("from an older export")
    assert main(["export", "--model", str(path), "--out", str(export_dir)]) == 0
    assert not (export_dir / "stale.txt").exists()
    assert (export_dir / "saved_model.pb").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]


@pytest.mark.slow
def test_tflite_conversion_gives_the_same_embeddings(saved_model, tmp_path):
    import tensorflow as tf

    path, images, expected = saved_model
    tflite = tmp_path / "model.tflite"
    assert main(["export", "--model", str(path), "--out", str(tmp_path / "export"), "--tflite", str(tflite)]) == 0
    runner = tf.lite.Interpreter(model_path=str(tflite)).get_signature_runner("serving_default")
    served = runner(images=images)["embeddings"]
    np.testing.assert_allclose(served, expected, atol=1e-4)


def test_load_dranet_rejects_missing_wrong_and_corrupt_files(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        load_dranet(tmp_path / "absent.keras")
    (tmp_path / "weights.h5").write_bytes(b"x")
    with pytest.raises(ModelFileError, match=r"expected a \.keras file"):
        load_dranet(tmp_path / "weights.h5")
    (tmp_path / "broken.keras").write_bytes(b"not a zip archive")
    with pytest.raises(ModelFileError, match="could not be loaded"):
        load_dranet(tmp_path / "broken.keras")


def test_export_of_a_missing_model_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["export", "--model", str(tmp_path / "absent.keras"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "absent.keras" in err and "does not exist" in err
    assert not (tmp_path / "x").exists()
