"""Test-wide settings: quiet, deterministic TensorFlow on CPU."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
