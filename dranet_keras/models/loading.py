"""The one way to load a trained DRANet from a `.keras` file (evaluate, report, export, embed,
notebooks): safe mode, the package's custom objects registered, clear errors naming the file.

A `.keras` file is a zip whose config.json says what to build. Before Keras builds anything,
its config is checked here: a DRANet, of at most the sizes in `choices` (`MAX_NUM_IDS`,
`MAX_IMAGE_SIDE`, `MAX_REDUCE_DIM`); a `weights` entry is ignored (`DRANet.from_config`).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from dranet_keras.choices import MAX_IMAGE_SIDE, MAX_NUM_IDS, MAX_REDUCE_DIM
from dranet_keras.errors import UserError

DRANET = "dranet_keras>DRANet"  # the registered name `model.save` writes
MAX_CONFIG_BYTES = 1 << 20  # a DRANet's config.json is about 3 KB


class ModelFileError(UserError):
    """A model file is missing, unreadable or not a DRANet."""


def _integer(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def saved_config(path: Path) -> dict:
    """The checked `config` of the DRANet in a `.keras` archive, read without Keras."""
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("config.json")
            if info.file_size > MAX_CONFIG_BYTES:
                raise ModelFileError(f"model file {path}: config.json has {info.file_size} bytes, expected at most {MAX_CONFIG_BYTES}")
            saved = json.loads(archive.read(info))
    except (zipfile.BadZipFile, EOFError):
        raise ModelFileError(f"model file {path} could not be loaded: not a complete .keras archive (truncated, or not a zip file)") from None
    except KeyError:
        raise ModelFileError(f"model file {path} could not be loaded: the archive has no config.json") from None
    except (OSError, UnicodeDecodeError, ValueError, NotImplementedError, RuntimeError) as error:  # unreadable, not JSON, unsupported zip
        raise ModelFileError(f"model file {path} could not be loaded: config.json is unreadable ({error})") from None
    if not isinstance(saved, dict) or saved.get("registered_name") != DRANET or not isinstance(saved.get("config"), dict):
        held = saved.get("class_name") if isinstance(saved, dict) else None
        raise ModelFileError(f"model file {path} holds a {held or 'non-Keras object'}, expected a DRANet")
    config = saved["config"]
    where = f"model file {path}: config"
    if not _integer(config.get("num_ids"), 2, MAX_NUM_IDS):
        raise ModelFileError(f"{where}.num_ids: expected an integer in [2, {MAX_NUM_IDS}], got {config.get('num_ids')!r}")
    shape = config.get("input_shape")
    if not (isinstance(shape, list) and len(shape) == 3 and shape[2] == 3 and all(_integer(side, 1, MAX_IMAGE_SIDE) for side in shape[:2])):
        raise ModelFileError(f"{where}.input_shape: expected [height, width, 3] with sides in [1, {MAX_IMAGE_SIDE}], got {shape!r}")
    if not _integer(config.get("reduce_dim"), 1, MAX_REDUCE_DIM):
        raise ModelFileError(f"{where}.reduce_dim: expected an integer in [1, {MAX_REDUCE_DIM}], got {config.get('reduce_dim')!r}")
    return config


def load_dranet(path):
    """Load a DRANet saved with `model.save("....keras")` (safe mode: no arbitrary code)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist (expected a .keras file written by `dranet train`)")
    if path.suffix != ".keras":
        raise ModelFileError(f"model file {path}: expected a .keras file, got {path.suffix or 'no suffix'!r}")
    saved_config(path)  # before Keras allocates what the file asks for

    import keras

    from dranet_keras.models import DRANet  # importing the package registers the layers and the model
    from dranet_keras.training.schedule import WarmupDecay  # noqa: F401  (the LR schedule a saved optimizer holds)

    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as error:  # keras raises many types for a corrupt archive
        raise ModelFileError(f"model file {path} could not be loaded: {error}") from None
