"""The re-id learning-rate schedule and the optimisers (`keras.ops` only: any Keras backend)."""

from __future__ import annotations

import math
from typing import Sequence

import keras
from keras import ops

from dranet_keras.choices import OPTIMIZERS, SCHEDULES


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
