"""`dranet train` errors a user can cause (training itself: test_training, test_pipeline)."""

import pytest

from dranet_keras.config import load_config

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


def _manifest(tmp_path, images_per_id=(3, 3, 2, 2)):
    """A hand-written manifest (training refuses it before any image is read)."""
    rows = ["split,path,pid,camid"]
    for pid, count in enumerate(images_per_id):
        rows += [f"train,x/{pid}_{i}.jpg,{pid},{i % 2}" for i in range(count)]
    rows += ["query,x/q.jpg,1,0", "gallery,x/g.jpg,1,1"]
    path = tmp_path / "manifest.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["train.batch_size=12"], "train.batch_size=12 is larger than the 10 training images"),
        (["train.sampler=pk", "train.batch_size=10", "train.instances_per_id=2"], "needs 5 identities, .* has 4"),
        (["train.sampler=pk", "train.batch_size=8", "train.instances_per_id=4"], "instances_per_id=4 but no identity .* more than 3"),
        (["train.batch_size=2", "--images-per-id=5"], "the training split has 1 identities, expected 2 to 50000"),
    ],
)
def test_infeasible_batches_are_refused_before_tensorflow(tmp_path, capsys, overrides, message):
    import re

    images_per_id = [int(item.split("=")[1]) for item in overrides if item.startswith("--images-per-id")] or (3, 3, 2, 2)
    overrides = [item for item in overrides if not item.startswith("--images-per-id")]
    manifest = _manifest(tmp_path, images_per_id)
    args = ["train", "--params", str(_params(tmp_path)), "--manifest", str(manifest), "--models-dir", str(tmp_path)]
    for item in overrides:
        args += ["--set", item]
    assert main(args) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and re.search(message, error), error


def _params(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("seed: 0\nmodel: {height: 64, width: 32, depth: 14}\n")  # ResNet14: these tests check the stage, not the backbone
    return path


def test_second_trainer_into_the_same_folder_is_refused_in_one_line(tmp_path, capsys):
    import socket
    import subprocess
    import sys

    from tests.test_run_lock import HOLD

    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "dra" / "seed0")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        args = ["train", "--params", str(_params(tmp_path)), "--manifest", str(_manifest(tmp_path)), "--models-dir", str(tmp_path)]
        assert main([*args, "--variant", "dra", "--set", "train.batch_size=2"]) == 2
    finally:
        holder.kill()
        holder.wait()
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"in use by pid {holder.pid} on {socket.gethostname()}" in error


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_rerun_after_a_kill_in_the_final_save_finishes_with_a_final_loss(tmp_path):
    """`dranet train` SIGKILLed while writing model.keras; the plain rerun only saves the model
    and train_meta.json gets the logged last-epoch loss (it was None, then a TypeError)."""
    import csv
    import json
    import os
    import signal
    import subprocess
    import sys

    from tests.data.fake_trees import write_image

    rows = ["split,path,pid,camid"]
    for pid in range(4):
        for i in range(2):
            rows.append(f"train,{write_image(tmp_path / 'img' / f'{pid}_{i}.jpg', size=(64, 32), value=40 * pid)},{pid},{i}")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n")
    args = [
        "train", "--params", str(_params(tmp_path)), "--manifest", str(manifest), "--models-dir", str(tmp_path / "models"),
        "--variant", "baseline", "--set", "train.epochs=1", "--set", "train.batch_size=2", "--set", "train.steps_per_epoch=1",
        "--set", "train.run_eagerly=true",  # one step: tracing would cost more than it saves
    ]
    killer = "import sys\nfrom tests.tiny_training import install_kill_hook\ninstall_kill_hook('model.keras', 1)\nfrom dranet_keras.cli import main\nmain(sys.argv[1:])"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    first = subprocess.run([sys.executable, "-c", killer, *args], capture_output=True, text=True, env=env, timeout=600)
    assert first.returncode == -signal.SIGKILL, first.stderr[-2000:]
    out = tmp_path / "models" / "baseline" / "seed0"
    assert not (out / "model.keras").exists() and not (out / "train_meta.json").exists()

    rerun = subprocess.run([sys.executable, "-m", "dranet_keras.cli", *args], capture_output=True, text=True, env=env, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    meta = json.loads((out / "train_meta.json").read_text())
    with open(out / "training_log.csv") as handle:
        log = list(csv.DictReader(handle))
    assert [row["epoch"] for row in log] == ["0"] and meta["epochs_this_run"] == 0
    assert meta["final_loss"] == pytest.approx(float(log[-1]["loss"]))
    assert (out / "model.keras").is_file() and not (out / "backup").exists()
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


def test_pretraining_zero_epochs_on_one_identity_is_refused_in_one_line(tmp_path, capsys):
    args = ["pretrain", "--params", str(_params(tmp_path)), "--manifest", str(_manifest(tmp_path, (5,))),
            "--models-dir", str(tmp_path)]  # (the default batch of 64 is not checked: nothing trains)
    assert main(args) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "the training split has 1 identities" in error, error


def test_the_resume_signature_covers_every_train_key_that_changes_the_trajectory(tmp_path):
    """fit_dranet's own arguments, the precision policy and the replicas (strategy), and the
    stage's data signature: every train.* key but run_eagerly (an execution choice)."""
    import dataclasses

    from dranet_keras.config import TrainConfig
    from dranet_keras.stages.train import data_signature, pipeline_arguments
    from dranet_keras.training.fit import TRAJECTORY_ARGUMENTS

    config = load_config(_params(tmp_path))
    covered = {*TRAJECTORY_ARGUMENTS, "mixed_precision", "strategy", *pipeline_arguments(config)}
    assert {f.name for f in dataclasses.fields(TrainConfig)} - covered == {"run_eagerly"}
    manifest = _manifest(tmp_path)
    before = data_signature(config, manifest)
    assert {key for key in before if key.startswith("train.")} == {f"train.{key}" for key in pipeline_arguments(config)}
    manifest.write_text(manifest.read_text().replace("x/0_0.jpg,0", "x/0_0.jpg,1"))  # same ids count, one label moved
    assert data_signature(config, manifest)["manifest_sha256"] != before["manifest_sha256"]


def test_a_changed_key_refuses_the_resume_in_one_line_and_keeps_the_backup(tmp_path):
    import json

    from dranet_keras.training.backup import ResumeMismatchError, check_resume_signature

    backup = tmp_path / "backup"
    backup.mkdir()
    check_resume_signature(backup, {"learning_rate": 0.001, "train.pad": 10, "epochs": 4}, resuming=False)
    (backup / "training_metadata.json").write_text("{}")
    with pytest.raises(ResumeMismatchError) as error:
        check_resume_signature(backup, {"learning_rate": 0.002, "train.pad": 10, "epochs": 2}, resuming=True)
    message = str(error.value)
    assert message.count("\n") == 0 and "different epochs, learning_rate (saved [4, 0.001], now [2, 0.002])" in message
    assert f"rerun with the saved values to resume it, or delete {backup} to start afresh" in message
    assert json.loads((backup / "run.json").read_text())["learning_rate"] == 0.001  # the backup's record kept


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_multi_worker_cli_on_two_localhost_workers_with_separate_folders(tmp_path):
    """`dranet train --set train.strategy=multi_worker`, two processes, each with its own models
    folder: both exit 0; only the chief's folder gets the outputs (model, log, meta), the other
    worker reads no log it did not write and leaves its folder empty of outputs."""
    import json
    import os
    import subprocess
    import sys

    from tests.data.fake_trees import write_image
    from tests.test_training import _free_port

    rows = ["split,path,pid,camid"]
    for pid in range(4):
        for i in range(2):
            rows.append(f"train,{write_image(tmp_path / 'img' / f'{pid}_{i}.png', size=(48, 16), value=50 * pid)},{pid},{i}")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n")
    (tmp_path / "params.yaml").write_text("seed: 0\nmodel: {height: 48, width: 16, depth: 14}\n")
    workers = [f"localhost:{_free_port()}" for _ in range(2)]
    processes = []
    for index in range(2):
        args = [
            sys.executable, "-m", "dranet_keras.cli", "train", "--params", str(tmp_path / "params.yaml"), "--manifest", str(manifest),
            "--models-dir", str(tmp_path / f"worker{index}"), "--variant", "baseline", "--set", "train.strategy=multi_worker",
            "--set", "train.epochs=1", "--set", "train.batch_size=4", "--set", "train.steps_per_epoch=1",
            "--set", "train.run_eagerly=true", "--set", "train.mixed_precision=null",
        ]
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "PYTHONPATH": os.getcwd(), "TF_CONFIG": json.dumps(tf_config)}
        processes.append(subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    results = [(process.wait(timeout=1100), *process.communicate()) for process in processes]
    for code, out, err in results:
        assert code == 0, err[-3000:]
    chief, other = (tmp_path / f"worker{i}" / "baseline" / "seed0" for i in range(2))
    assert sorted(p.name for p in chief.iterdir() if not p.name.startswith(".")) == ["model.keras", "train_meta.json", "training_log.csv"]
    assert sorted(p.name for p in other.iterdir() if not p.name.startswith(".")) == []
    assert "worker-1 done" in results[1][1]
