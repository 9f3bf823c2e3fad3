"""`load_dranet`, the one loader: refuses what is not a readable DRANet, naming the file."""

import keras
import pytest

from dranet_keras.models.loading import ModelFileError, load_dranet


def test_rejects_missing_wrong_corrupt_and_foreign_files(tmp_path):
    with pytest.raises(ModelFileError, match="absent.keras does not exist"):
        load_dranet(tmp_path / "absent.keras")
    (tmp_path / "weights.h5").write_bytes(b"x")
    with pytest.raises(ModelFileError, match=r"weights.h5: expected a \.keras file"):
        load_dranet(tmp_path / "weights.h5")
    (tmp_path / "broken.keras").write_bytes(b"not a zip archive")
    with pytest.raises(ModelFileError, match="broken.keras could not be loaded"):
        load_dranet(tmp_path / "broken.keras")
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    other.save(tmp_path / "other.keras")
    with pytest.raises(ModelFileError, match="other.keras holds a Sequential, expected a DRANet"):
        load_dranet(tmp_path / "other.keras")
