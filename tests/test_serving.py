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

SHAPE = (64, 32, 3)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny DRANet (64x32 input, 5 ids) saved as .keras and exported by `dranet export`
    (SavedModel + TFLite) over an older export; then, in a FRESH interpreter with plain
    TensorFlow, both exports embed uint8 probe images. Also returns the in-memory model's
    embeddings normalised by the textbook formula x / ||x||."""
    directory = tmp_path_factory.mktemp("serving")
    model = build_dranet(5, "dra", input_shape=SHAPE, depth=14)  # a ResNet14: the test is of the export
    model.save(directory / "model.keras")
    images = np.random.default_rng(0).integers(0, 256, size=(3, *SHAPE), dtype=np.uint8)
    raw = np.asarray(model(images.astype("float32"), training=False), dtype="float64")
    expected = raw / np.sqrt((raw**2).sum(axis=1, keepdims=True))

    exports = directory / "exports"
    (exports / "dra").mkdir(parents=True)
    (exports / "dra" / "saved_model.pb").write_bytes(b"an older export")
    (exports / "dra" / "stale.txt").write_text("from an older export")
    argv = ["export", "--model", str(directory / "model.keras"), "--out", str(exports / "dra")]
    assert main([*argv, "--tflite", str(exports / "dra.tflite")]) == 0
    np.save(directory / "images.npy", images)
    served = _serve_in_fresh_process(exports, directory / "images.npy")
    return exports, served, expected


def _serve_in_fresh_process(exports, images_path):
    """Run both exports with TensorFlow alone in a new interpreter; report the signature."""
    script = textwrap.dedent(
        f"""
        import json, warnings, numpy as np, tensorflow as tf
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        images = np.load({str(images_path)!r})
        loaded = tf.saved_model.load({str(exports / "dra")!r})
        fn = loaded.signatures["serving_default"]
        spec = fn.structured_input_signature[1]["images"]
        result = fn(images=tf.constant(images))
        lite = tf.lite.Interpreter(model_path={str(exports / "dra.tflite")!r}).get_signature_runner("serving_default")
        print(json.dumps({{
            "dtype": spec.dtype.name, "shape": spec.shape.as_list(), "outputs": sorted(result),
            "saved_model": result["embeddings"].numpy().tolist(),
            "tflite": lite(images=images)["embeddings"].tolist(),
        }}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_saved_model_round_trip_in_fresh_process(exported):
    _, served, expected = exported
    assert (served["dtype"], served["shape"], served["outputs"]) == ("uint8", [None, *SHAPE], ["embeddings"])
    embeddings = np.array(served["saved_model"])
    assert embeddings.shape == (3, 2048)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(embeddings, expected, atol=1e-5)


@pytest.mark.slow
def test_tflite_export_gives_the_same_embeddings(exported):
    _, served, expected = exported
    np.testing.assert_allclose(np.array(served["tflite"]), expected, atol=1e-4)


@pytest.mark.slow
def test_export_replaces_an_older_export_without_leftovers(exported):
    exports, _, _ = exported
    assert sorted(p.name for p in exports.iterdir()) == ["dra", "dra.tflite"]
    assert (exports / "dra" / "saved_model.pb").is_file()
    assert not (exports / "dra" / "stale.txt").exists()


def test_export_of_a_missing_model_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["export", "--model", str(tmp_path / "absent.keras"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "absent.keras" in err and "does not exist" in err
    assert not (tmp_path / "x").exists()


def test_export_refuses_to_replace_a_user_folder_in_one_line(tmp_path, capsys):
    """A folder that is not an export (no saved_model.pb) is left as it was: exit 2, before the model loads."""
    folder = tmp_path / "mine"
    (folder / "sub").mkdir(parents=True)
    (folder / "thesis.txt").write_text("years of work")
    (folder / "sub" / "data.csv").write_text("a,b\n1,2\n")
    model = tmp_path / "model.keras"
    model.write_bytes(b"not read: the folder is refused first")
    assert main(["export", "--model", str(model), "--out", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"export target {folder} is a folder that holds no SavedModel" in err
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) == ["sub", "sub/data.csv", "thesis.txt"]
    assert (folder / "thesis.txt").read_text() == "years of work"
