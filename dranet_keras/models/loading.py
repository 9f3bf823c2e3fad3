"""The one way to load a trained DRANet from a `.keras` file (evaluate, report, export, embed,
notebooks): safe mode, the package's custom objects registered, clear errors naming the file."""

from __future__ import annotations

from pathlib import Path

from dranet_keras.errors import UserError


class ModelFileError(UserError):
    """A model file is missing, unreadable or not a DRANet."""


def load_dranet(path):
    """Load a DRANet saved with `model.save("....keras")` (safe mode: no arbitrary code)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist (expected a .keras file written by `dranet train`)")
    if path.suffix != ".keras":
        raise ModelFileError(f"model file {path}: expected a .keras file, got {path.suffix or 'no suffix'!r}")

    import keras

    from dranet_keras.models import DRANet  # importing the package registers the layers and the model
    from dranet_keras.training.schedule import WarmupDecay  # noqa: F401  (the LR schedule a saved optimizer holds)

    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except Exception as error:  # keras raises many types for a corrupt archive
        raise ModelFileError(f"model file {path} could not be loaded: {error}") from None
    if not isinstance(model, DRANet):
        raise ModelFileError(f"model file {path} holds a {type(model).__name__}, expected a DRANet")
    return model
