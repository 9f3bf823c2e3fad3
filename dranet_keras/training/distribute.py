"""Distribution: `tf.distribute` strategies by name, and which worker this process is.

TensorFlow is imported inside the functions: the rest of `dranet_keras.training` (schedule,
callbacks, backup) imports on any Keras backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dranet_keras.choices import STRATEGIES
from dranet_keras.errors import UserError

if TYPE_CHECKING:
    import tensorflow as tf


class StrategyError(UserError):
    """The requested distribution strategy cannot run on this machine."""


def make_strategy(name: str) -> tf.distribute.Strategy:
    """A `tf.distribute` strategy by name; create it before any other TensorFlow work.

    * `default`: one device (the first GPU if any, else the CPU);
    * `mirrored`: all local GPUs, or all logical CPU devices when there is no GPU;
    * `multi_worker`: synchronous data parallelism over the machines listed in `TF_CONFIG`
      (one process per machine; see the README);
    * `tpu`: the TPU found by `TPUClusterResolver` (Cloud TPU VM or `TPU_NAME`).
    """
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if name == "multi_worker":
        # Keras 3 fit() is broken in multi-worker mode; the fix patches Keras internals, so it
        # is imported (and version-checked) for this strategy only.
        from dranet_keras import multi_worker_fix

        multi_worker_fix.apply()
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, RuntimeError, tf.errors.OpError) as error:
            raise StrategyError(f"train.strategy: 'tpu' but no TPU is reachable here ({error})") from None
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"strategy must be one of {list(STRATEGIES)}, got {name!r}")


def worker_role(strategy: tf.distribute.Strategy) -> tuple[bool, str]:
    """(is_chief, name) of this process; single-process strategies are always the chief."""
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    if not task_type:
        return True, "chief"
    task_id = resolver.task_id or 0
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    is_chief = task_type == "chief" or (task_type == "worker" and task_id == 0 and not has_chief)
    return is_chief, f"{task_type}-{task_id}"
