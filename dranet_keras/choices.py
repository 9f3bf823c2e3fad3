"""The named choices of the options, as `Literal` types (one home for each list).

Imported by the configuration (which validates against them before any heavy import) and by
the code that takes the option (layers, model, training, data pipeline, evaluation), which
validates its own arguments against the same tuple.
"""

from __future__ import annotations

import typing
from typing import Literal

Variant = Literal["baseline", "cic", "sic", "dra"]
ReverseGradient = Literal["stop", "through"]  # RCAM: stop-gradient on m in C = A * (1 - m)
Erase = Literal["soft", "hard"]  # RSAM: D = B * (1 - h) or B * [h < erase_threshold]
Descriptor = Literal["bn", "raw"]  # retrieval feature: standardised by a BatchNorm, or as pooled
Optimizer = Literal["adamw", "sgd"]
Schedule = Literal["step", "cosine"]  # after the warmup
Strategy = Literal["default", "mirrored", "multi_worker", "tpu"]  # tf.distribute
Sampler = Literal["random", "pk"]  # training batches: shuffled, or P identities x K images
Metric = Literal["cosine", "euclidean"]  # retrieval distance
Protocol = Literal["market", "cuhk03"]  # evaluation protocol (cuhk03: the old single-shot one)

VARIANTS: tuple[str, ...] = typing.get_args(Variant)
REVERSE_GRADIENTS: tuple[str, ...] = typing.get_args(ReverseGradient)
ERASES: tuple[str, ...] = typing.get_args(Erase)
DESCRIPTORS: tuple[str, ...] = typing.get_args(Descriptor)
OPTIMIZERS: tuple[str, ...] = typing.get_args(Optimizer)
SCHEDULES: tuple[str, ...] = typing.get_args(Schedule)
STRATEGIES: tuple[str, ...] = typing.get_args(Strategy)
SAMPLERS: tuple[str, ...] = typing.get_args(Sampler)
METRICS: tuple[str, ...] = typing.get_args(Metric)
PROTOCOLS: tuple[str, ...] = typing.get_args(Protocol)
