"""Models: the ResNet backbone (ResNet50 in the paper) and DRANet."""

from dranet_keras.models.dranet import DRANet, build_dranet
from dranet_keras.models.resnet import resnet, resnet50

__all__ = ["DRANet", "build_dranet", "resnet", "resnet50"]
