"""The callbacks `fit_dranet` adds (the CSV log, the LR logger, the final save) and the one
reader and writer of the training log (`training_log.csv`: `epoch`, then the sorted log keys)."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import keras
from keras import ops

from dranet_keras.errors import UserError
from dranet_keras.io import atomic_path, atomic_write_text


class TrainingDivergedError(UserError):
    """The loss became NaN or infinite."""


def read_log(path: Path) -> list[dict]:
    """The rows of a training log ([] when there is none)."""
    return list(csv.DictReader(Path(path).read_text().splitlines())) if Path(path).is_file() else []


def write_log(path: Path, rows: list[dict], fieldnames: list[str]) -> None:
    """Replace the training log with `rows`, atomically."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fieldnames, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, out.getvalue())


def final_loss(path: Path) -> float:
    """The loss of the last epoch in the training log (a resumed run may have run none)."""
    return float(read_log(path)[-1]["loss"])


def truncate_log(path: Path, keep_before_epoch: int) -> None:
    """Drop log rows of epochs that the resumed run repeats."""
    rows = read_log(path)
    if rows:
        write_log(path, [row for row in rows if int(row["epoch"]) < keep_before_epoch], list(rows[0]))


def save_model_atomically(model: keras.Model, path: str | Path) -> None:
    """`model.save(path)`, atomically (through `dranet_keras.io.atomic_path`)."""
    with atomic_path(path) as tmp:
        model.save(tmp, overwrite=True)


class FinalSave(keras.callbacks.Callback):
    """Save the model to `path`, atomically, when training ends.

    Only the final model: resuming mid-run is `CrashSafeBackup`'s job, re-id evaluates the
    final model, and a ResNet50 with AdamW state is ~430 MB, so a "best training loss" copy
    per epoch would double the checkpoint writes for a file nothing reads.
    """

    def __init__(self, path):
        super().__init__()
        self.path = Path(path)

    def on_train_end(self, logs=None):
        save_model_atomically(self.model, self.path)


class CSVLog(keras.callbacks.Callback):
    """Per-epoch log as CSV (`epoch` then the sorted log keys), rewritten atomically each epoch.

    Instead of `keras.callbacks.CSVLogger`, which appends in place (a kill can leave half a
    row) and adds empty `val_*` columns when there is no validation data.
    """

    def __init__(self, path, first_epoch: int = 0):
        super().__init__()
        self.path = Path(path)
        self.first_epoch = first_epoch  # the first write drops rows from here on (an earlier run's)

    def on_epoch_end(self, epoch, logs=None):
        rows = read_log(self.path)
        if epoch == self.first_epoch:
            rows = [row for row in rows if int(row["epoch"]) < self.first_epoch]
        rows.append({"epoch": epoch, **{key: float(value) for key, value in sorted((logs or {}).items())}})
        write_log(self.path, rows, list(rows[-1]))


class StopOnDivergence(keras.callbacks.Callback):
    """Raise `TrainingDivergedError` at the first step whose loss is not finite.

    Instead of `keras.callbacks.TerminateOnNaN`, which lets the epoch end: the callbacks after
    it would log the NaN row, back up and save the NaN weights, and delete the good backup.
    Put it first in the list: an exception stops `fit` before any other callback sees the step.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            raise TrainingDivergedError(f"training diverged (loss {loss} in epoch {self.epoch}, step {batch})")


class LearningRateLogger(keras.callbacks.Callback):
    """Adds `lr` (the rate of the epoch's last step) to the epoch logs, for the CSV log.

    `schedule`: the LearningRateSchedule the optimizer was compiled with, or None for a constant
    rate. (The optimizer's public `learning_rate` is the rate of the *next* step.)
    """

    def __init__(self, schedule: keras.optimizers.schedules.LearningRateSchedule | None = None):
        super().__init__()
        self.schedule = schedule

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        optimizer = self.model.optimizer
        rate = optimizer.learning_rate if self.schedule is None else self.schedule(optimizer.iterations - 1)
        logs["lr"] = float(ops.convert_to_numpy(rate))
