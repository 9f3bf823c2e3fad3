"""Training a DRANet, one concept per module: `schedule` (the LR schedule, optimisers),
`callbacks` (the CSV log and its readers, the LR logger, the final save), `backup` (crash-safe
backup and resume), `distribute` (strategies, worker roles) and `fit` (`fit_dranet`, the one
entry point the train stage and notebooks call). The pieces are public so that a notebook can
assemble its own `model.fit`. Only `fit_dranet` and `make_strategy` need TensorFlow (imported
when called); the rest runs on any Keras backend."""

from dranet_keras.training.backup import CrashSafeBackup, ResumeMismatchError, restore_backup
from dranet_keras.training.callbacks import CSVLog, FinalSave, LearningRateLogger, save_model_atomically
from dranet_keras.training.distribute import StrategyError, make_strategy, worker_role
from dranet_keras.training.fit import fit_dranet
from dranet_keras.training.schedule import WarmupDecay, make_optimizer

__all__ = [
    "CSVLog",
    "CrashSafeBackup",
    "FinalSave",
    "LearningRateLogger",
    "ResumeMismatchError",
    "StrategyError",
    "WarmupDecay",
    "fit_dranet",
    "make_optimizer",
    "make_strategy",
    "restore_backup",
    "save_model_atomically",
    "worker_role",
]
