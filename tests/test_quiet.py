"""TensorFlow's start-up notice is removed from what the CLI prints, nothing else is."""

import os
import subprocess
import sys

from dranet_keras.quiet import filter_notice

NOTICE = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1795953247.873782   15996 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors from different computation orders. "
    "To turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.\n"
)


def test_filter_keeps_every_other_line():
    other = "E0000 something real went wrong\nW tensorflow: a warning that matters\n"
    assert filter_notice(NOTICE + other + NOTICE) == other


def test_a_real_process_prints_no_notice_but_keeps_its_own_stderr():
    code = (
        "import sys; from dranet_keras.quiet import import_tensorflow; import_tensorflow(); "
        "import tensorflow as tf; tf.constant(1.0) + 1; print('after', file=sys.stderr)"
    )
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, check=True)
    assert "oneDNN custom operations" not in done.stderr and "absl::InitializeLog" not in done.stderr
    assert done.stderr.rstrip().endswith("after")
