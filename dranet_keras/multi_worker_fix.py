"""Make Keras 3's `model.fit` work under `tf.distribute.MultiWorkerMirroredStrategy`.

Keras 3 (checked up to 3.15.1) breaks `fit` in multi-worker mode in two places, for any model:

* `TensorFlowTrainer._maybe_symbolic_build` reduces the first distributed batch with a
  cross-worker `strategy.reduce("MEAN", batch)`, which cannot take a dict batch
  (`{"images", "labels"}`) at all; a replica's local batch has the same shapes and dtypes, which
  is all the symbolic build needs.
* `reduce_per_replica(..., reduction="auto")` maps to `strategy.reduce("MEAN", v, axis=0)`,
  which fails on the scalar logs every train step returns ("Invalid reduction dimension 0 for
  input with 0 dimensions", tensorflow/tensorflow#72388). The mean over workers is
  `axis=None`.

`apply()` replaces exactly those two behaviours for multi-worker strategies and leaves every
other strategy on Keras' own code. It is idempotent; `training.distribute.make_strategy` imports this
module and calls it for the `multi_worker` strategy only, so no other strategy depends on these
Keras internals. `apply()` refuses a Keras outside the checked versions, or one whose patched
functions changed signature, with a one-line error instead of patching blind;
tests/test_keras_fences.py also pins the patched functions' source for the installed Keras.
"""

from __future__ import annotations

import inspect

import keras
import tensorflow as tf

from dranet_keras.errors import UserError

try:
    from keras.src.backend.tensorflow import trainer as tf_trainer
except ImportError:  # a Keras that moved it: check_keras explains
    tf_trainer = None

CHECKED_KERAS = ((3, 10), (3, 15))  # first and last minor version the fix was checked on
# The patched (and used) Keras internals with the parameters this module relies on.
PATCHED = {
    "reduce_per_replica": ("values", "strategy", "reduction"),
    "TensorFlowTrainer._maybe_symbolic_build": ("self", "iterator", "data_batch"),
    "_collective_all_reduce_multi_worker": ("strategy",),
}


# getattr: a Keras without them must reach check_keras' clear error, not an AttributeError.
_original_reduce_per_replica = getattr(tf_trainer, "reduce_per_replica", None)
_original_maybe_symbolic_build = getattr(getattr(tf_trainer, "TensorFlowTrainer", None), "_maybe_symbolic_build", None)


def originals() -> dict:
    """The Keras functions (as Keras defines them) named in PATCHED; None for a missing one."""
    return {
        "reduce_per_replica": _original_reduce_per_replica,
        "TensorFlowTrainer._maybe_symbolic_build": _original_maybe_symbolic_build,
        "_collective_all_reduce_multi_worker": getattr(tf_trainer, "_collective_all_reduce_multi_worker", None),
    }


class KerasVersionError(UserError):
    """The installed Keras is not one the multi-worker fix was checked against."""


def check_keras() -> None:
    """A KerasVersionError unless this Keras is a checked version with the expected internals."""
    version = tuple(int(part) for part in keras.__version__.split(".")[:2])
    why = None
    if not CHECKED_KERAS[0] <= version <= CHECKED_KERAS[1]:
        why = f"it was checked on Keras {'.'.join(map(str, CHECKED_KERAS[0]))}-{'.'.join(map(str, CHECKED_KERAS[1]))}"
    else:
        found = originals()
        for name, parameters in PATCHED.items():
            function = found[name]
            if function is None or tuple(inspect.signature(function).parameters) != parameters:
                why = f"keras.src.backend.tensorflow.trainer.{name} is missing or changed"
                break
    if why:
        raise KerasVersionError(
            f"train.strategy: 'multi_worker' patches Keras internals (dranet_keras/multi_worker_fix.py) and {why}; "
            f"this is Keras {keras.__version__}: install keras>=3.10,<3.16 or use strategy 'mirrored'"
        )


def _is_multi_worker(strategy) -> bool:
    return tf_trainer._collective_all_reduce_multi_worker(strategy)


def _reduce_per_replica(values, strategy, reduction):
    if _is_multi_worker(strategy) and reduction in ("auto", "mean"):
        return tf.nest.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None), values)
    return _original_reduce_per_replica(values, strategy, reduction)


def _local_value(strategy, value):
    if isinstance(value, tf.distribute.DistributedValues):
        return strategy.experimental_local_results(value)[0]
    return value


def _maybe_symbolic_build(self, iterator=None, data_batch=None):
    strategy = self._distribute_strategy
    if strategy is None or not _is_multi_worker(strategy) or iterator is None:
        return _original_maybe_symbolic_build(self, iterator=iterator, data_batch=data_batch)
    for _, _, batches in iterator:
        data_batch = tf.nest.map_structure(lambda value: _local_value(strategy, value), next(batches))
        break
    with strategy.scope():
        self._symbolic_build(data_batch=data_batch)


def apply() -> None:
    """Install the two fixes (once), after `check_keras`."""
    check_keras()
    tf_trainer.reduce_per_replica = _reduce_per_replica
    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
