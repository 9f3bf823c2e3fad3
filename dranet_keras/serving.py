"""Inference artefacts of a trained DRANet: SavedModel and TFLite export.

The exported function takes uint8 RGB images (batch, height, width, 3) at the model's input
size and returns L2-normalised embeddings (batch, embedding_dim) under the output key
`"embeddings"`: the descriptor retrieval compares by cosine similarity (a dot product). The
SavedModel runs with TensorFlow alone; dranet_keras need not be installed where it is served.
"""

from __future__ import annotations

from pathlib import Path

from dranet_keras.errors import UserError
from dranet_keras.io import atomic_path, atomic_write_bytes

SIGNATURE = "serving_default"
OUTPUT_KEY = "embeddings"


def check_replaceable(directory) -> None:
    """Refuse an export target that exists and is not an export: a file, or a non-empty folder
    without `saved_model.pb` (a user's folder must never be replaced)."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise UserError(f"export target {directory} exists and is not a directory")
    if directory.is_dir() and any(directory.iterdir()) and not (directory / "saved_model.pb").is_file():
        raise UserError(
            f"export target {directory} is a folder that holds no SavedModel (no saved_model.pb); "
            "refusing to replace it: choose a new or empty --out"
        )


def export_saved_model(model, directory, *, tflite_path=None) -> Path:
    """Write `model` as an inference SavedModel at `directory` (atomically: a complete export
    or the previous one, never half of one; an existing folder only if it is an export);
    optionally also a TFLite flatbuffer.

    Returns the SavedModel directory. Its `serving_default` signature maps `images`
    (uint8, (None, height, width, 3)) to `embeddings` (float32, (None, embedding_dim)).
    """
    import keras
    import tensorflow as tf

    directory = Path(directory)
    height, width, channels = model.image_shape

    def embed(images):
        embedding = model(tf.cast(images, tf.float32), training=False)
        return {OUTPUT_KEY: tf.math.l2_normalize(tf.cast(embedding, tf.float32), axis=-1)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name=SIGNATURE,
        fn=embed,
        input_signature=[tf.TensorSpec((None, height, width, channels), tf.uint8, name="images")],
    )
    check_replaceable(directory)  # before the slow tracing
    with atomic_path(directory, directory=True) as staging:
        archive.write_out(str(staging), verbose=False)
    if tflite_path is not None:
        export_tflite(directory, tflite_path)
    return directory


def export_tflite(saved_model_dir, tflite_path) -> Path:
    """Convert an exported SavedModel to a TFLite flatbuffer (float32, same signature)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir), signature_keys=[SIGNATURE])
    tflite_path = Path(tflite_path)
    atomic_write_bytes(tflite_path, converter.convert())
    return tflite_path
