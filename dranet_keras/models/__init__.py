"""Models: the ResNet50 backbone and DRANet."""

from dranet_keras.models.dranet import DRANet, build_dranet
from dranet_keras.models.resnet import resnet50

__all__ = ["DRANet", "build_dranet", "resnet50"]
