"""`dranet train` errors a user can cause (training itself: test_training, test_pipeline)."""

import pytest

from dranet_keras.cli import main


def test_missing_manifest_is_one_line_naming_the_file_and_the_fix(tmp_path, capsys):
    manifest = tmp_path / "nowhere" / "manifest.csv"
    assert main(["train", "--variant", "cic", "--manifest", str(manifest), "--models-dir", str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and str(manifest) in error and "dranet prepare" in error
    assert not (tmp_path / "cic").exists()


def test_unknown_variant_is_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--variant", "dran"])
    assert exit_info.value.code == 2 and "dran" in capsys.readouterr().err
