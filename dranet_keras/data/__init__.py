"""Data sets and input pipelines."""

from dranet_keras.data.datasets import load_dataset
from dranet_keras.data.records import Record, Split

__all__ = ["Record", "Split", "load_dataset"]
