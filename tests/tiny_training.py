"""Train a tiny DRANet in its own process, for the resume / determinism / distribution tests.

Usage: python tests/tiny_training.py OUTPUT_DIR '{"epochs": 2, ...}'

The JSON holds `fit_dranet` keyword arguments, `model` (`build_dranet` keyword arguments), and
these test controls:
`logical_cpus` (split the CPU into that many logical devices first), `pause_at`
([epoch, batch]: after that batch write OUTPUT_DIR/paused and sleep, to be killed there),
`kill_at` ([file-name pattern, n]: SIGKILL this process in the n-th (1-based) atomic write
whose target matches the pattern, after half of the temporary file is written and before
the rename) and `image_shape` ([h, w]).
Writes OUTPUT_DIR/result.json: per-epoch history, epochs run, a checksum of the weights.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

NUM_IDS = 8
IMAGES_PER_ID = 8
SHAPE = (64, 32, 3)


def install_kill_hook(pattern: str, occurrence: int) -> None:
    """Die by SIGKILL inside the `occurrence`-th `os.replace` onto a file matching `pattern`
    (every atomic write of the product ends with one), the temporary file cut to half."""
    import fnmatch
    import os
    import signal

    replace, seen = os.replace, [0]

    def replace_or_die(source, target, *args, **kwargs):
        if fnmatch.fnmatch(Path(target).name, pattern):
            seen[0] += 1
            if seen[0] == occurrence:
                size = os.path.getsize(source)
                os.truncate(source, size // 2)
                print(f"killed while writing {target} ({size} bytes, cut to {size // 2})", file=sys.stderr, flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
        return replace(source, target, *args, **kwargs)

    os.replace = replace_or_die


def tiny_dataset(batch_size: int, seed: int = 0, shape=SHAPE):
    """Each identity is a distinct colour layout (top/bottom halves) plus pixel noise."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    colours = rng.uniform(0, 255, size=(NUM_IDS, 2, 3))
    labels = np.repeat(np.arange(NUM_IDS), IMAGES_PER_ID).astype("int32")
    images = np.empty((len(labels), *shape), "float32")
    half = shape[0] // 2
    images[:, :half] = colours[labels, 0][:, None, None, :]
    images[:, half:] = colours[labels, 1][:, None, None, :]
    images = np.clip(images + rng.normal(0, 20, images.shape), 0, 255).astype("float32")
    data = tf.data.Dataset.from_tensor_slices(({"images": images, "labels": labels}, labels))
    return data.shuffle(len(labels), seed=seed).batch(batch_size, drop_remainder=True)


def main(output_dir: str, raw: str) -> None:
    options = json.loads(raw)
    logical_cpus = options.pop("logical_cpus", None)
    pause_at = options.pop("pause_at", None)
    batch_size = options.pop("batch_size", 16)
    shape = (*options.pop("image_shape", SHAPE[:2]), 3)
    if "kill_at" in options:
        install_kill_hook(*options.pop("kill_at"))
    model_arguments = options.pop("model", {})
    options.setdefault("mixed_precision", None)  # float32: the tests compare losses and weights

    import tensorflow as tf

    if logical_cpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * logical_cpus)
    import keras

    from dranet_keras.models import build_dranet
    from dranet_keras.training import fit_dranet, make_strategy

    strategy = make_strategy(options.pop("strategy", "default"))
    out = Path(output_dir)
    callbacks = []
    if pause_at is not None:

        class Pause(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.epoch = epoch

            def on_train_batch_end(self, batch, logs=None):
                if [self.epoch, batch] == pause_at:
                    (out / "paused").write_text("")
                    time.sleep(600)

        callbacks.append(Pause())
    model, history = fit_dranet(
        tiny_dataset(batch_size, shape=shape),
        lambda: build_dranet(NUM_IDS, input_shape=shape, **model_arguments),
        output_dir=out,
        strategy=strategy,
        callbacks=callbacks,
        verbose=0,
        **options,
    )
    weights = np.concatenate([np.ravel(w) for w in model.get_weights()]).astype("float64")
    result = {
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "epochs_run": len(history.history.get("loss", [])),
        "weights_sum": float(np.sum(weights)),
        "weights_abs_sum": float(np.sum(np.abs(weights))),
        # BatchNorm moving statistics are per worker (not synchronised); trainable weights are
        "trainable_abs_sum": float(sum(np.abs(np.asarray(w, "float64")).sum() for w in model.trainable_weights)),
        "num_replicas": strategy.num_replicas_in_sync,
        "iterations": int(model.optimizer.iterations.numpy()),
    }
    (out / "result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
