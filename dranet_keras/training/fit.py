"""`fit_dranet`: build, compile and fit a DRANet with the pieces of this package (warmup + step or
cosine LR, the CSV log, the final save, the crash-safe backup and resume, distribution).

What Keras already does well is used as is: `keras.optimizers.AdamW`/`SGD`,
`BackupAndRestore`'s schedule (model + optimizer state, so the LR schedule resumes at the
right step), `keras.mixed_precision`, and `tf.distribute` strategies. Written here: the
bookkeeping that makes a resumed run's log identical to an uninterrupted one, and a lock per
output folder.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import keras

from dranet_keras import layout
from dranet_keras.precision import resolve_policy
from dranet_keras.run_lock import run_lock
from dranet_keras.training.backup import (
    BACKUP_METADATA,
    CrashSafeBackup,
    backup_states,
    check_resume_signature,
    remove_temp_files_of_run,
    remove_unreferenced,
    restore_backup,
)
from dranet_keras.training.callbacks import CSVLog, FinalSave, LearningRateLogger, StopOnDivergence, TrainingDivergedError, truncate_log
from dranet_keras.training.distribute import make_strategy, worker_role
from dranet_keras.training.schedule import WarmupDecay, make_optimizer

if TYPE_CHECKING:
    import tensorflow as tf

# fit_dranet's arguments that change the trajectory: a backup resumes only a run that agrees on
# all of them (and on the model's configuration and the caller's `signature`).
TRAJECTORY_ARGUMENTS = (
    "epochs", "steps_per_epoch", "optimizer", "learning_rate", "weight_decay", "momentum", "warmup_epochs",
    "warmup_factor", "schedule", "lr_milestones", "lr_gamma", "seed", "deterministic",
)


def fit_dranet(
    train_data: tf.data.Dataset | Callable[[int], tf.data.Dataset],
    build_model: Callable[[], keras.Model],
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
    signature: Mapping | None = None,
    mixed_precision: str | None = "auto",
    strategy: str | tf.distribute.Strategy = "default",
    seed: int | None = None,
    deterministic: bool = False,
    jit_compile: bool = False,
    run_eagerly: bool = False,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose="auto",
) -> tuple[keras.Model, keras.callbacks.History]:
    """Build, compile and train a DRANet; returns `(model, history)`.

    `train_data` yields ONE epoch of `({"images", "labels"}, labels)` batches (global batch
    size); it is repeated here and `steps_per_epoch` defaults to its cardinality. It may also
    be a function `first_epoch -> such a dataset` whose n-th iteration is epoch
    `first_epoch + n` (`data.pipeline.train_dataset(..., first_epoch=)`): called with the epoch
    a resumed run starts at, so that it sees the data an uninterrupted run sees.
    `build_model()` returns the model to train (e.g. `lambda: build_dranet(751, variant="dra")`;
    the loss is the model's own); it is called here, inside the strategy's scope and under
    `mixed_precision`.

    With `output_dir`, writes `training_log.csv` (epoch, loss, the CE of each loss, accuracy, lr)
    after each epoch and `model.keras` (the final model) at the end, atomically, and keeps a
    `backup/` of model + optimizer state after every epoch: calling `fit_dranet` again with
    the same arguments after an interruption, even a SIGKILL at any moment, resumes there and
    finishes the planned `epochs`; the backup is removed at the end. A backup resumes only
    the same run: the model's configuration, `TRAJECTORY_ARGUMENTS`, the number of replicas,
    the precision policy and `signature` (what the caller knows identifies the run: data,
    augmentation) must agree, else `ResumeMismatchError`. The folder is locked (`run_lock`)
    while training: a second trainer into it raises `RunLockedError`.
    A non-finite loss raises `TrainingDivergedError` at once: nothing of the diverged steps is
    logged, backed up or saved, and an earlier model, log and backup stay as they were.

    `deterministic=True` seeds everything with `seed` (0 if None) and enables TensorFlow op
    determinism (process-wide): two runs give identical losses and weights.
    `jit_compile=False` by default: XLA compilation of ResNet50 costs minutes on a CPU.
    `run_eagerly=True` skips graph tracing (30-70 s for ResNet50 on a CPU) at the cost of slower
    steps: for debugging and for runs of a few steps on tiny images.
    """
    import tensorflow as tf  # here, so that the package's other modules import on any backend

    arguments = locals()
    if deterministic or seed is not None:
        keras.utils.set_random_seed(0 if seed is None else seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    if isinstance(strategy, str):
        strategy = make_strategy(strategy)
    epoch_data = train_data if callable(train_data) else lambda first_epoch: train_data
    if steps_per_epoch is None:
        steps_per_epoch = int(epoch_data(0).cardinality())
        if steps_per_epoch <= 0:
            raise ValueError("train_data has unknown or infinite length: pass steps_per_epoch")

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

    # First: a diverged step must reach no other callback (no NaN log row, backup or model).
    all_callbacks = [StopOnDivergence(), LearningRateLogger(rate)]
    resume_epoch, backup_dir = None, None
    with contextlib.ExitStack() as lock:
        if output_dir is not None:
            output_dir = Path(output_dir)
            output_dir.mkdir(parents=True, exist_ok=True)
            is_chief, role = worker_role(strategy)
            backup_dir = output_dir / (layout.BACKUP if is_chief else f"{layout.BACKUP}-{role}")
            if is_chief:  # one chief per folder; the other workers write only their own backup
                lock.enter_context(run_lock(output_dir))
                remove_temp_files_of_run(output_dir, backup_dir)
            else:
                remove_temp_files_of_run(None, backup_dir)
            run = {
                **{key: value for key, value in model.get_config().items() if key not in ("name", "trainable", "dtype")},
                **{name: arguments[name] for name in TRAJECTORY_ARGUMENTS},
                "steps_per_epoch": steps_per_epoch,
                "replicas": strategy.num_replicas_in_sync,
                "mixed_precision": policy,
                **(signature or {}),
            }
            states = backup_states(backup_dir)
            check_resume_signature(backup_dir, json.loads(json.dumps(run)), resuming=bool(states))
            with strategy.scope():
                resume_epoch = restore_backup(model, backup_dir)
            if resume_epoch is None and states:  # none of them loads: start afresh
                (backup_dir / BACKUP_METADATA).unlink()
                remove_unreferenced(backup_dir)
            if is_chief:
                if resume_epoch is not None:  # the log must end where the backup does
                    truncate_log(output_dir / layout.TRAINING_LOG, resume_epoch)
                # A fresh run's first row replaces the log of an earlier run (kept until then).
                all_callbacks += [CSVLog(output_dir / layout.TRAINING_LOG, resume_epoch or 0), FinalSave(output_dir / layout.MODEL)]
            # Last, so that a kill between the writes above and the backup only repeats an epoch
            # (whose log row `truncate_log` then drops) instead of losing one.
            all_callbacks.append(CrashSafeBackup(backup_dir))
        all_callbacks += list(callbacks)
        dataset = epoch_data(resume_epoch or 0).repeat()
        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            # Our datasets start from in-memory path lists, not files: shard by data.
            options = tf.data.Options()
            options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
            dataset = dataset.with_options(options)
        try:
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
        except TrainingDivergedError as error:
            raise TrainingDivergedError(f"{error}; {_kept(output_dir, backup_dir)}") from None
    return model, history


def _kept(output_dir: Path | None, backup_dir: Path | None) -> str:
    """What a diverged run leaves, in words (it removes a backup folder that holds no state)."""
    if output_dir is None:
        return "nothing was saved"
    states = backup_states(backup_dir)
    if not states:
        shutil.rmtree(backup_dir, ignore_errors=True)  # only this run's signature record
    backup = f"its backup to resume at epoch {states[0]['epoch']}" if states else "no backup"
    return f"nothing of it was saved: {output_dir} keeps its earlier model and log, and {backup}"
