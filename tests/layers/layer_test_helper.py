"""Shared checks every layer must pass (after keras-hub's `TestCase.run_layer_test`):
config round trip, build, symbolic call, eager call, one training step, serialization (object
and `.keras` file in safe mode), and mixed precision (`mixed_bfloat16`)."""

from __future__ import annotations

import keras
import numpy as np


def _as_list(outputs):
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def assert_config_round_trip(layer: keras.layers.Layer) -> None:
    """from_config(get_config()) rebuilds a layer with the same config."""
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config


def assert_survives_save_and_load(model: keras.Model, inputs, tmp_path) -> None:
    """A model containing the layer saves to .keras, reloads in safe mode, same outputs."""
    expected = [keras.ops.convert_to_numpy(o) for o in _as_list(model(inputs, training=False))]
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    actual = [keras.ops.convert_to_numpy(o) for o in _as_list(reloaded(inputs, training=False))]
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, rtol=1e-6, atol=1e-6)


def _functional(layer, x, extra_inputs, training):
    """A functional model around `layer`: inputs [x, *extra], outputs the layer's list."""
    x_in = keras.Input(batch_shape=x.shape, dtype="float32", name="x")
    extra_in = {name: keras.Input(batch_shape=np.shape(v), dtype=np.asarray(v).dtype.name, name=name) for name, v in extra_inputs.items()}
    outputs = _as_list(layer(x_in, **extra_in, training=training))
    return keras.Model([x_in, *extra_in.values()] if extra_in else x_in, outputs)


class SummedSquares(keras.Model):
    """The mean squares of the layer's outputs summed to one value per sample: a structure
    that does not depend on `training` (the layer may return more outputs in training), so
    `fit` can train it. Inputs: a dict of `x` and the layer's extra call arguments."""

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer

    def call(self, inputs, training=None):
        extra = {name: value for name, value in inputs.items() if name != "x"}
        outputs = _as_list(self.layer(inputs["x"], **extra, training=training))
        squares = [keras.ops.mean(keras.ops.square(keras.ops.cast(o, "float32")), axis=tuple(range(1, len(o.shape)))) for o in outputs]
        return sum(squares[1:], squares[0])


def run_layer_test(
    layer_cls,
    init_kwargs: dict,
    input_data,
    expected_output_shapes,
    tmp_path,
    *,
    training_inputs: dict | None = None,
    expected_training_shapes=None,
    expected_num_trainable_weights: int | None = None,
    expected_num_non_trainable_weights: int | None = None,
    trains_weights: bool = True,
    float32_outputs: tuple[int, ...] = (),
):
    """Run the shared checks on `layer_cls(**init_kwargs)` called on `input_data` (B, ...).

    `expected_output_shapes`: the list of output shapes at inference (`training=False`);
    `training_inputs` (e.g. `{"labels": ...}`) are passed in training, whose outputs have
    `expected_training_shapes` (default: the inference ones). `trains_weights`: one `fit`
    step must change every trainable weight that the training outputs depend on.
    `float32_outputs`: indices of the (training) outputs that a float32 sublayer computes by
    design, as classifiers are; under `mixed_bfloat16` those must be float32, all others bf16."""
    x = np.asarray(input_data, "float32")
    training_inputs = training_inputs or {}
    expected_training_shapes = expected_training_shapes or expected_output_shapes

    # Config round trip: every constructor argument is in the config, and it rebuilds the layer.
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    for key, value in init_kwargs.items():
        assert config[key] == value, (key, config[key], value)
    assert_config_round_trip(layer)

    # Build: weights exist after build, in the stated numbers.
    layer.build(x.shape)
    assert layer.built
    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights
    if expected_num_non_trainable_weights is not None:
        assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights

    # Symbolic call (inference and training) gives the stated shapes.
    symbolic = _functional(layer_cls(**init_kwargs), x, {}, training=False)
    assert [tuple(o.shape) for o in symbolic.outputs] == [tuple(s) for s in expected_output_shapes]
    symbolic_train = _functional(layer_cls(**init_kwargs), x, training_inputs, training=True)
    assert [tuple(o.shape) for o in symbolic_train.outputs] == [tuple(s) for s in expected_training_shapes]

    # Eager call.
    eager = _as_list(layer_cls(**init_kwargs)(x, training=False))
    assert [tuple(o.shape) for o in eager] == [tuple(s) for s in expected_output_shapes]

    # One training step through `fit` moves the trainable weights.
    model = SummedSquares(layer_cls(**init_kwargs))
    inputs = {"x": x, **{name: np.asarray(v) for name, v in training_inputs.items()}}
    model(inputs)  # build
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    history = model.fit(inputs, np.zeros(len(x), "float32"), batch_size=len(x), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    if trains_weights:
        assert before and all(np.any(a != b) for a, b in zip(after, before))

    # Serialization: the object, and a model with the layer as a `.keras` file (safe mode).
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is layer_cls and restored.get_config() == layer.get_config()
    assert_survives_save_and_load(_functional(layer_cls(**init_kwargs), x, {}, training=False), x, tmp_path)

    # Mixed precision: computes in bfloat16 (outputs declared float32 excepted), keeps float32 variables.
    mixed = layer_cls(**init_kwargs, dtype="mixed_bfloat16")
    outputs = _as_list(mixed(x, **training_inputs, training=True))
    assert mixed.compute_dtype == "bfloat16"
    assert set(float32_outputs) <= set(range(len(outputs))), (float32_outputs, len(outputs))
    dtypes = [keras.backend.standardize_dtype(o.dtype) for o in outputs]
    assert dtypes == ["float32" if i in float32_outputs else "bfloat16" for i in range(len(outputs))], dtypes
    assert all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in mixed.weights)
    return layer
