"""Where we depend on Keras internals, fail loudly when Keras changes them.

The source hashes pin the installed Keras (pyproject allows keras>=3.10,<4): after a Keras
upgrade these tests fail; re-check dranet_keras/multi_worker_fix.py (and the multi-worker test
in tests/test_training.py) and models/dranet.py's `scale_loss_for_distribution` import against
the new sources, then update the hashes and, for the fix, CHECKED_KERAS.
"""

import hashlib
import inspect
import subprocess
import sys

import keras
import pytest

from dranet_keras import multi_worker_fix

# sha256[:16] of inspect.getsource of each internal, for the Keras these were read against.
SOURCES = {
    "3.15.1": {
        "reduce_per_replica": "2e7d54b1e6edc29a",
        "TensorFlowTrainer._maybe_symbolic_build": "92a504f5eba9b29f",
        "_collective_all_reduce_multi_worker": "0302369d850e6694",
        "scale_loss_for_distribution": "143cd8a5efb6cb17",
    },
}


def digest(function) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]


def test_patched_keras_internals_are_the_ones_the_fix_was_written_for():
    from keras.src.losses.loss import scale_loss_for_distribution

    assert keras.__version__ in SOURCES, f"Keras {keras.__version__}: re-check the fenced internals (module docstring)"
    found = {**multi_worker_fix.originals(), "scale_loss_for_distribution": scale_loss_for_distribution}
    assert {name: digest(function) for name, function in found.items()} == SOURCES[keras.__version__]
    multi_worker_fix.check_keras()  # the runtime check agrees


def test_an_unchecked_keras_is_refused_in_one_line(monkeypatch):
    monkeypatch.setattr(keras, "__version__", "3.99.0")
    with pytest.raises(multi_worker_fix.KerasVersionError, match="this is Keras 3.99.0.*strategy 'mirrored'"):
        multi_worker_fix.check_keras()
    monkeypatch.undo()
    monkeypatch.setattr(multi_worker_fix, "_original_reduce_per_replica", lambda values, strategy: values)
    with pytest.raises(multi_worker_fix.KerasVersionError, match="reduce_per_replica is missing or changed"):
        multi_worker_fix.check_keras()


@pytest.mark.slow  # a second TensorFlow process
def test_training_does_not_import_the_fix_unless_asked():
    code = "import sys, dranet_keras.training as t; t.make_strategy('default'); print('dranet_keras.multi_worker_fix' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.stdout.strip() == "False", done.stderr[-2000:]
