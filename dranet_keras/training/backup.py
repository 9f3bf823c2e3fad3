"""The crash-safe backup of an interrupted run and its resume: a commit record per state, the
newest loadable state restored, and a signature that refuses to resume a different run."""

from __future__ import annotations

import json
import secrets
import warnings
from pathlib import Path

import keras

from dranet_keras import layout
from dranet_keras.errors import UserError
from dranet_keras.io import atomic_path, atomic_write_json, remove_temp_files

BACKUP_METADATA = "training_metadata.json"  # the commit record of `CrashSafeBackup`


class ResumeMismatchError(UserError):
    """A backup from an interrupted run does not match the run being started."""


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
        states = backup_states(backup_dir)
        state = {"epoch": self._current_epoch, "batch": self._last_batch_seen, "weights": name}
        atomic_write_json(backup_dir / BACKUP_METADATA, {**state, "previous": states[0] if states else None})
        remove_unreferenced(backup_dir)


def backup_states(backup_dir: Path) -> list[dict]:
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


def remove_unreferenced(backup_dir: Path) -> None:
    """Weights files no committed state points at (older ones; one a kill left uncommitted)."""
    keep = {state["weights"] for state in backup_states(backup_dir)}
    for path in backup_dir.glob("*.weights.h5"):
        if path.name not in keep:
            path.unlink(missing_ok=True)


def restore_backup(model: keras.Model, backup_dir: Path) -> int | None:
    """Load the newest loadable backup state into `model` (built and compiled); returns the
    epoch to resume at, or None when there is nothing to resume. A state that fails to load
    (a half-written file) is skipped with a warning."""
    for state in backup_states(backup_dir):
        path = backup_dir / str(state["weights"])
        try:
            if not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)
            model.load_weights(path)
            return int(state["epoch"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            warnings.warn(f"ignoring the backup {path}: it cannot be loaded ({error})", stacklevel=2)
    return None


def remove_temp_files_of_run(output_dir: Path | None, backup_dir: Path) -> None:
    """What a killed run's atomic writes left behind in `output_dir` (only safe under the
    folder's lock; None: a non-chief worker, which writes only its own `backup_dir`)."""
    for name in (layout.TRAINING_LOG, layout.MODEL, layout.TRAIN_META) if output_dir is not None else ():
        remove_temp_files(output_dir / name)
    if backup_dir.is_dir():
        for path in backup_dir.glob(".*"):
            path.unlink(missing_ok=True)
        remove_unreferenced(backup_dir)


def check_resume_signature(backup_dir: Path, signature: dict, resuming: bool) -> None:
    """Refuse to resume a backup of a different run (any entry of `signature` changed: model,
    schedule, data, ...), leaving it as it is; record the signature for a fresh run."""
    path = backup_dir / "run.json"
    if resuming and path.is_file():
        saved = json.loads(path.read_text())
        changed = sorted(key for key in {*signature, *saved} if saved.get(key) != signature.get(key))
        if changed:
            raise ResumeMismatchError(
                f"{backup_dir} holds an interrupted run with different {', '.join(changed)} "
                f"(saved {[saved.get(k) for k in changed]}, now {[signature.get(k) for k in changed]}); "
                f"rerun with the saved values to resume it, or delete {backup_dir} to start afresh"
            )
    else:
        atomic_write_json(path, signature)
