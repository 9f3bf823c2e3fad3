"""Shared checks every layer must pass (after keras-hub's layer test helper)."""

from __future__ import annotations

import keras
import numpy as np


def assert_config_round_trip(layer: keras.layers.Layer) -> None:
    """from_config(get_config()) rebuilds a layer with the same config."""
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config


def assert_survives_save_and_load(model: keras.Model, inputs, tmp_path) -> None:
    """A model containing the layer saves to .keras, reloads in safe mode, same outputs."""
    expected = keras.ops.convert_to_numpy(model(inputs, training=False))
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    actual = keras.ops.convert_to_numpy(reloaded(inputs, training=False))
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-6)
