"""Gradients on whichever Keras backend runs the tests (TensorFlow or JAX), so that the layer
and loss tests also run with KERAS_BACKEND=jax (see tests/test_backend_portability.py)."""

from __future__ import annotations

import keras
import numpy as np


def value_and_gradients(loss_fn, *inputs):
    """(float loss, [numpy gradient per input]) of the scalar `loss_fn(*inputs)`."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.convert_to_tensor(x) for x in inputs]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            loss = loss_fn(*tensors)
        gradients = tape.gradient(loss, tensors, unconnected_gradients=tf.UnconnectedGradients.ZERO)  # as JAX
        return float(loss), [np.asarray(g) for g in gradients]
    if backend == "jax":
        import jax

        loss, gradients = jax.value_and_grad(loss_fn, argnums=tuple(range(len(inputs))))(*map(jax.numpy.asarray, inputs))
        return float(loss), [np.asarray(g) for g in gradients]
    raise NotImplementedError(f"gradients on the {backend} backend")
