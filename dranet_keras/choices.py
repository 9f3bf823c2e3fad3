"""The named choices of the model's options, as `Literal` types (one home for each list).

Imported by the configuration (which validates against them before any heavy import) and by
the layers and the model (which validate their own arguments).
"""

from __future__ import annotations

import typing
from typing import Literal

Variant = Literal["baseline", "cic", "sic", "dra"]
ReverseGradient = Literal["stop", "through"]  # RCAM: stop-gradient on m in C = A * (1 - m)
Erase = Literal["soft", "hard"]  # RSAM: D = B * (1 - h) or B * [h < erase_threshold]
Descriptor = Literal["bn", "raw"]  # retrieval feature: standardised by a BatchNorm, or as pooled

VARIANTS: tuple[str, ...] = typing.get_args(Variant)
REVERSE_GRADIENTS: tuple[str, ...] = typing.get_args(ReverseGradient)
ERASES: tuple[str, ...] = typing.get_args(Erase)
DESCRIPTORS: tuple[str, ...] = typing.get_args(Descriptor)
