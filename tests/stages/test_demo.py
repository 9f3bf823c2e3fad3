"""`dranet demo` refuses what it cannot do with one clear line (the full run is test_pipeline's)."""

from dranet_keras.cli import main


def test_demo_outside_a_dvc_repository_is_one_clear_error(tmp_path, capsys):
    assert main(["demo", "--repo", str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "dvc.yaml" in error and str(tmp_path) in error


def test_demo_points_overrides_to_dvc_exp_run(capsys):
    assert main(["demo", "--set", "train.epochs=3"]) == 2
    assert "dvc exp run -S" in capsys.readouterr().err
