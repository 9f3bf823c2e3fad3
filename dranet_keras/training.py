"""Compile and fit a DRANet: optimiser, warmup + step/cosine LR, callbacks, resume, distribution.

`fit_dranet` is the one entry point (the DVC train stage and notebooks call it). The pieces it is
made of (`WarmupDecay`, `make_optimizer`, `make_strategy`, `FinalSave`, ...) are public so
a notebook can assemble its own `model.fit`.

What Keras already does well is used as is: `keras.optimizers.AdamW`/`SGD`, `TerminateOnNaN`,
`BackupAndRestore`'s schedule (model + optimizer state, so the LR schedule resumes at the
right step), `keras.mixed_precision`, and `tf.distribute` strategies. Written here: the re-id
learning-rate schedule (Bag of Tricks: linear warmup from 1% then x0.1 steps), atomic
checkpoints, CSV log and backup files (Keras writes them in place, so a kill mid-write leaves
a broken file), a lock per output folder, and the bookkeeping that makes a resumed run's log
identical to an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import secrets
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import keras
import tensorflow as tf
from keras import ops

from dranet_keras import layout
from dranet_keras.choices import OPTIMIZERS, SCHEDULES, STRATEGIES
from dranet_keras.errors import UserError
from dranet_keras.precision import resolve_policy
from dranet_keras.io import atomic_path, atomic_write_json, atomic_write_text, remove_temp_files
from dranet_keras.run_lock import run_lock

if TYPE_CHECKING:
    from dranet_keras.models import DRANet

BACKUP_METADATA = "training_metadata.json"  # the commit record of `CrashSafeBackup`


class ResumeMismatchError(UserError):
    """A backup from an interrupted run does not match the run being started."""


class StrategyError(UserError):
    """The requested distribution strategy cannot run on this machine."""


@keras.saving.register_keras_serializable(package="dranet_keras")
class WarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup, then step or cosine decay; epochs counted as `step / steps_per_epoch`.

    * warmup: the factor grows linearly from `warmup_factor` to 1 over `warmup_epochs`
      (at whole epochs this equals Bag of Tricks' per-epoch warmup; in between it is smooth);
    * `"step"`: times `gamma` for every milestone epoch reached (milestones in epochs);
    * `"cosine"`: half a cosine from 1 at the end of warmup to 0 at `epochs`.

    Example:
        >>> lr = WarmupDecay(3.5e-4, steps_per_epoch=100, epochs=120, warmup_epochs=10,
        ...                  milestones=(40, 70))
        >>> float(lr(0)), float(lr(1000)), float(lr(4000)), float(lr(7000))
        (3.5e-06, 0.00035, 3.5e-05, 3.5e-06)
    """

    def __init__(
        self,
        base_lr: float,
        steps_per_epoch: int,
        epochs: int,
        warmup_epochs: float = 5,
        warmup_factor: float = 0.01,
        schedule: str = "step",
        milestones: Sequence[int] = (15, 25),
        gamma: float = 0.1,
    ):
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {list(SCHEDULES)}, got {schedule!r}")
        if steps_per_epoch < 1 or epochs < 1:
            raise ValueError(f"steps_per_epoch and epochs must be >= 1, got {steps_per_epoch}, {epochs}")
        self.base_lr = float(base_lr)
        self.steps_per_epoch = int(steps_per_epoch)
        self.epochs = int(epochs)
        self.warmup_epochs = float(warmup_epochs)
        self.warmup_factor = float(warmup_factor)
        self.schedule = schedule
        self.milestones = tuple(int(m) for m in milestones)
        self.gamma = float(gamma)

    def __call__(self, step):
        epoch = ops.cast(step, "float32") / float(self.steps_per_epoch)
        factor = ops.ones_like(epoch)
        if self.warmup_epochs > 0:
            progress = ops.minimum(epoch / self.warmup_epochs, 1.0)
            factor = factor * (self.warmup_factor + (1.0 - self.warmup_factor) * progress)
        if self.schedule == "step":
            reached = ops.zeros_like(epoch)
            for milestone in self.milestones:
                reached = reached + ops.cast(ops.floor(epoch) >= milestone, "float32")
            factor = factor * ops.power(self.gamma, reached)
        else:
            span = max(self.epochs - self.warmup_epochs, 1e-8)
            progress = ops.clip((epoch - self.warmup_epochs) / span, 0.0, 1.0)
            factor = factor * 0.5 * (1.0 + ops.cos(math.pi * progress))
        return self.base_lr * factor

    def get_config(self):
        return {
            "base_lr": self.base_lr,
            "steps_per_epoch": self.steps_per_epoch,
            "epochs": self.epochs,
            "warmup_epochs": self.warmup_epochs,
            "warmup_factor": self.warmup_factor,
            "schedule": self.schedule,
            "milestones": list(self.milestones),
            "gamma": self.gamma,
        }


def make_optimizer(name: str, learning_rate, weight_decay: float = 5e-4, momentum: float = 0.9):
    """`"adamw"` -> keras AdamW; `"sgd"` -> SGD with momentum (both decoupled weight decay)."""
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=weight_decay)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be one of {list(OPTIMIZERS)}, got {name!r}")


def make_strategy(name: str) -> tf.distribute.Strategy:
    """A `tf.distribute` strategy by name; create it before any other TensorFlow work.

    * `default`: one device (the first GPU if any, else the CPU);
    * `mirrored`: all local GPUs, or all logical CPU devices when there is no GPU;
    * `multi_worker`: synchronous data parallelism over the machines listed in `TF_CONFIG`
      (one process per machine; see the README);
    * `tpu`: the TPU found by `TPUClusterResolver` (Cloud TPU VM or `TPU_NAME`).
    """
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

    def __init__(self, path):
        super().__init__()
        self.path = Path(path)

    def on_epoch_end(self, epoch, logs=None):
        rows = list(csv.DictReader(self.path.read_text().splitlines())) if self.path.is_file() else []
        rows.append({"epoch": epoch, **{key: float(value) for key, value in sorted((logs or {}).items())}})
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[-1]), lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.path, out.getvalue())


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


class CrashSafeBackup(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` whose backup survives a kill at any moment.

    Keras writes `latest.weights.h5` in place (a kill mid-write leaves a file that fails every
    later resume) and its metadata separately. Here each backup is a new
    `weights-<id>.weights.h5` (written to a temporary name, fsynced, renamed), then
    `training_metadata.json` is replaced atomically to point at it and at the previous one:
    that rename is the commit, so the backup on disk is always a complete old or new state.
    Restoring (`restore_backup`, before `fit`) falls back to the previous state, with a
    warning, when the newest does not load.
    """

    def __init__(self, backup_dir, save_freq="epoch"):
        super().__init__(str(backup_dir), save_freq=save_freq, delete_checkpoint=True)

    def on_train_begin(self, logs=None):
        """Nothing: `restore_backup` ran before `fit` (the log must be truncated to match)."""

    def _save_model(self):
        backup_dir = Path(self.backup_dir)
        name = f"weights-{self._current_epoch:04d}-{self._last_batch_seen:06d}-{secrets.token_hex(4)}.weights.h5"
        with atomic_path(backup_dir / name, suffix=".weights.h5") as tmp:
            self.model.save_weights(tmp, overwrite=True)
        states = _backup_states(backup_dir)
        state = {"epoch": self._current_epoch, "batch": self._last_batch_seen, "weights": name}
        atomic_write_json(backup_dir / BACKUP_METADATA, {**state, "previous": states[0] if states else None})
        _remove_unreferenced(backup_dir)


def _backup_states(backup_dir: Path) -> list[dict]:
    """The committed states of a `CrashSafeBackup`, newest first ([] when there is none)."""
    path = backup_dir / BACKUP_METADATA
    if not path.is_file():
        return []
    try:
        metadata = json.loads(path.read_text())
        newest = {key: metadata[key] for key in ("epoch", "batch", "weights")}
    except (ValueError, KeyError, TypeError):
        warnings.warn(f"{path}: not a backup record of this version; ignoring the backup", stacklevel=2)
        return []
    previous = metadata.get("previous")
    return [newest, *([previous] if isinstance(previous, dict) else [])]


def _remove_unreferenced(backup_dir: Path) -> None:
    """Weights files no committed state points at (older ones; one a kill left uncommitted)."""
    keep = {state["weights"] for state in _backup_states(backup_dir)}
    for path in backup_dir.glob("*.weights.h5"):
        if path.name not in keep:
            path.unlink(missing_ok=True)


def restore_backup(model: keras.Model, backup_dir: Path) -> int | None:
    """Load the newest loadable backup state into `model` (built and compiled); returns the
    epoch to resume at, or None when there is nothing to resume. A state that fails to load
    (a half-written file) is skipped with a warning."""
    for state in _backup_states(backup_dir):
        path = backup_dir / str(state["weights"])
        try:
            if not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)
            model.load_weights(path)
            return int(state["epoch"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            warnings.warn(f"ignoring the backup {path}: it cannot be loaded ({error})", stacklevel=2)
    return None


def _remove_temp_files(output_dir: Path, backup_dir: Path) -> None:
    """What a killed run's atomic writes left behind (only safe under the folder's lock)."""
    for name in (layout.TRAINING_LOG, layout.MODEL, layout.TRAIN_META):
        remove_temp_files(output_dir / name)
    if backup_dir.is_dir():
        for path in backup_dir.glob(".*"):
            path.unlink(missing_ok=True)
        _remove_unreferenced(backup_dir)


def _truncate_log(log_path: Path, keep_before_epoch: int) -> None:
    """Drop log rows of epochs that the resumed run repeats."""
    if not log_path.is_file():
        return
    rows = list(csv.DictReader(log_path.read_text().splitlines()))
    kept = [row for row in rows if int(row["epoch"]) < keep_before_epoch]
    if rows:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept)
        atomic_write_text(log_path, out.getvalue())


def _check_resume_signature(backup_dir: Path, signature: dict, resuming: bool) -> None:
    """Refuse to resume a backup of a different model/optimiser; record it for a fresh run."""
    path = backup_dir / "run.json"
    if resuming and path.is_file():
        saved = json.loads(path.read_text())
        changed = sorted(key for key in signature if saved.get(key) != signature[key])
        if changed:
            raise ResumeMismatchError(
                f"{backup_dir} holds an interrupted run with different {', '.join(changed)} "
                f"(saved {[saved.get(k) for k in changed]}, now {[signature[k] for k in changed]}); "
                "delete that folder to start afresh"
            )
    else:
        atomic_write_json(path, signature)


def fit_dranet(
    train_data: tf.data.Dataset,
    build_model: Callable[[], DRANet],
    *,
    epochs: int,
    steps_per_epoch: int | None = None,
    optimizer: str = "adamw",
    learning_rate: float = 3.5e-4,
    weight_decay: float = 5e-4,
    momentum: float = 0.9,
    warmup_epochs: float = 5,
    warmup_factor: float = 0.01,
    schedule: str = "step",
    lr_milestones: Sequence[int] = (15, 25),
    lr_gamma: float = 0.1,
    output_dir: str | Path | None = None,
    backup_every_steps: int | None = None,
    mixed_precision: str | None = "auto",
    strategy: str | tf.distribute.Strategy = "default",
    seed: int | None = None,
    deterministic: bool = False,
    jit_compile: bool = False,
    run_eagerly: bool = False,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose="auto",
) -> tuple[DRANet, keras.callbacks.History]:
    """Build, compile and train a DRANet; returns `(model, history)`.

    `train_data` yields ONE epoch of `({"images", "labels"}, labels)` batches (global batch
    size); it is repeated here and `steps_per_epoch` defaults to its cardinality.
    `build_model()` returns the model to train (e.g. `lambda: build_dranet(751, variant="dra")`;
    the loss is the model's own); it is called here, inside the strategy's scope and under
    `mixed_precision`.

    With `output_dir`, writes `training_log.csv` (epoch, loss, the CE of each loss, accuracy, lr)
    after each epoch and `model.keras` (the final model) at the end, atomically, and keeps a
    `backup/` of model + optimizer state after every epoch (and every `backup_every_steps`
    steps): calling `fit_dranet` again with the same arguments after an interruption, even a
    SIGKILL at any moment, resumes there and finishes the planned `epochs`; the backup is
    removed at the end. The folder is locked (`run_lock`) while training: a second trainer
    into it raises `RunLockedError`.

    `deterministic=True` seeds everything with `seed` (0 if None) and enables TensorFlow op
    determinism (process-wide): two runs give identical losses and weights.
    `jit_compile=False` by default: XLA compilation of ResNet50 costs minutes on a CPU.
    `run_eagerly=True` skips graph tracing (30-70 s for ResNet50 on a CPU) at the cost of slower
    steps: for debugging and for runs of a few steps on tiny images.
    """
    if deterministic or seed is not None:
        keras.utils.set_random_seed(0 if seed is None else seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    if isinstance(strategy, str):
        strategy = make_strategy(strategy)
    if steps_per_epoch is None:
        steps_per_epoch = int(train_data.cardinality())
        if steps_per_epoch <= 0:
            raise ValueError("train_data has unknown or infinite length: pass steps_per_epoch")
    dataset = train_data.repeat()
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        # Our datasets start from in-memory path lists, not files: shard by data.
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        dataset = dataset.with_options(options)

    previous_policy = keras.mixed_precision.dtype_policy()
    policy, _ = resolve_policy(mixed_precision)
    if policy:
        keras.mixed_precision.set_dtype_policy(policy)
    try:
        with strategy.scope():
            model = build_model()
            rate = WarmupDecay(
                learning_rate,
                steps_per_epoch,
                epochs,
                warmup_epochs=warmup_epochs,
                warmup_factor=warmup_factor,
                schedule=schedule,
                milestones=lr_milestones,
                gamma=lr_gamma,
            )
            model.compile(optimizer=make_optimizer(optimizer, rate, weight_decay, momentum), jit_compile=jit_compile, run_eagerly=run_eagerly)
    finally:
        keras.mixed_precision.set_dtype_policy(previous_policy)

    all_callbacks = [LearningRateLogger(rate), keras.callbacks.TerminateOnNaN()]
    resume_epoch = None
    with contextlib.ExitStack() as lock:
        if output_dir is not None:
            output_dir = Path(output_dir)
            output_dir.mkdir(parents=True, exist_ok=True)
            is_chief, role = worker_role(strategy)
            backup_dir = output_dir / (layout.BACKUP if is_chief else f"{layout.BACKUP}-{role}")
            if is_chief:  # one chief per folder; the other workers write only their own backup
                lock.enter_context(run_lock(output_dir))
            _remove_temp_files(output_dir, backup_dir)
            signature = {
                **{key: value for key, value in model.get_config().items() if key not in ("name", "trainable", "dtype")},
                "optimizer": optimizer,
                "steps_per_epoch": steps_per_epoch,
            }
            states = _backup_states(backup_dir)
            _check_resume_signature(backup_dir, json.loads(json.dumps(signature)), resuming=bool(states))
            with strategy.scope():
                resume_epoch = restore_backup(model, backup_dir)
            if resume_epoch is None and states:  # none of them loads: start afresh
                (backup_dir / BACKUP_METADATA).unlink()
                _remove_unreferenced(backup_dir)
            if is_chief:
                if resume_epoch is None:
                    # A fresh run: outputs of an earlier, finished run must not be appended to.
                    (output_dir / layout.TRAINING_LOG).unlink(missing_ok=True)
                _truncate_log(output_dir / layout.TRAINING_LOG, resume_epoch or 0)
                all_callbacks += [CSVLog(output_dir / layout.TRAINING_LOG), FinalSave(output_dir / layout.MODEL)]
            # Last, so that a kill between the writes above and the backup only repeats an epoch
            # (whose log row `_truncate_log` then drops) instead of losing one.
            all_callbacks.append(CrashSafeBackup(backup_dir, save_freq=backup_every_steps or "epoch"))
        all_callbacks += list(callbacks)
        history = model.fit(
            dataset,
            epochs=epochs,
            initial_epoch=resume_epoch or 0,
            steps_per_epoch=steps_per_epoch,
            callbacks=all_callbacks,
            verbose=verbose,
            # the tf.data pipeline shuffles (seeded, per epoch); Keras would ignore its default
            # shuffle=True for a Dataset and warn about it in every run
            shuffle=False,
        )
    return model, history
