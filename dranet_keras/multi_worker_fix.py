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
other strategy on Keras' own code. It is idempotent; `training.make_strategy` calls it.
"""

from __future__ import annotations

import tensorflow as tf
from keras.src.backend.tensorflow import trainer as tf_trainer

_original_reduce_per_replica = tf_trainer.reduce_per_replica
_original_maybe_symbolic_build = tf_trainer.TensorFlowTrainer._maybe_symbolic_build


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
    """Install the two fixes (once)."""
    tf_trainer.reduce_per_replica = _reduce_per_replica
    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
