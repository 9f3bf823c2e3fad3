"""The named choices of the options, as `Literal` types (one home for each list), and the
largest sizes a model may have.

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

# Bottleneck blocks in each of the four stages (conv2..conv5) of a ResNet of each depth (timm's
# resnet14t / resnet26 counts; 50, 101, 152 as keras.applications). The paper uses 50; 14 and 26,
# which have no ImageNet weights, make fast tests and experiments.
RESNET_BLOCKS = {14: (1, 1, 1, 1), 26: (2, 2, 2, 2), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}

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
DEPTHS: tuple[int, ...] = tuple(RESNET_BLOCKS)

# The largest model a configuration may ask for and a saved `.keras` file may ask to build
# (`models.loading.load_dranet` checks a file's config against them before anything is
# allocated): a file from elsewhere must not steer the machine into tens of GB.
MAX_NUM_IDS = 50_000  # twelve times MSMT17's 4,101 identities; 3 x 1024 x 50,000 float32 = 0.6 GB of classifiers
MAX_IMAGE_SIDE = 1024  # pixels of model.height / model.width (re-id crops are 256x128 to 384x192)
MAX_REDUCE_DIM = 2048  # ResNet50's last stage has 2048 channels: a reduction, never an expansion
