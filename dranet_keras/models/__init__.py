"""Models: the ResNet50 backbone and DRANet."""

from dranet_keras.models.dranet import DRANet, build_dranet
from dranet_keras.models.resnet import resnet50
from dranet_keras.training import WarmupDecay  # noqa: F401  (registers the LR schedule saved optimizers use)

__all__ = ["DRANet", "build_dranet", "resnet50"]
