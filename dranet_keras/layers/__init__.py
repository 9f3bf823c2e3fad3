"""Keras layers of DRANet."""

from dranet_keras.layers.batch_normalization import FusedBatchNormalization
from dranet_keras.layers.channel_reverse_attention import ChannelReverseAttention
from dranet_keras.layers.random_erasing import RandomErasing
from dranet_keras.layers.spatial_reverse_attention import SpatialReverseAttention

__all__ = ["ChannelReverseAttention", "FusedBatchNormalization", "RandomErasing", "SpatialReverseAttention"]
