"""Training: LR schedule, optimisers, and (slow, each in its own processes) kill-and-resume,
determinism, MirroredStrategy on two logical CPUs, MultiWorkerMirroredStrategy on two workers."""

from __future__ import annotations

import bisect
import csv
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from dranet_keras.models import build_dranet  # also registers the classes saved models use
from dranet_keras.training import LearningRateLogger, ResumeMismatchError, WarmupDecay, fit_dranet, make_optimizer

HERE = Path(__file__).parent
WORKER = HERE / "tiny_training.py"
DEPTH = 14  # a ResNet14 backbone: these tests check the training machinery, not the ResNet50
TINY = {"learning_rate": 1e-3, "warmup_epochs": 1, "lr_milestones": [1], "lr_gamma": 0.5, "model": {"depth": DEPTH}}
STEPS = 4  # tiny_training: 64 images, batch 16
# Small images, run eagerly: tracing the backbone costs seconds (30-70 s for a ResNet50) per process, these steps seconds
FAST = {"image_shape": [48, 16], "run_eagerly": True}
SHAPE = (*FAST["image_shape"], 3)
LOG_COLUMNS = ["epoch", "accuracy", "ce_c", "ce_d", "ce_sic", "loss", "lr"]


def bag_of_tricks_lr(epoch, base, warmup, milestones, gamma, warmup_factor=0.01):
    """Reference: WarmupMultiStepLR of reid-strong-baseline at the start of `epoch`."""
    warm = warmup_factor * (1 - epoch / warmup) + epoch / warmup if epoch < warmup else 1.0
    return base * warm * gamma ** bisect.bisect_right(milestones, epoch)


def test_warmup_step_schedule_matches_bag_of_tricks_at_epoch_starts():
    schedule = WarmupDecay(3.5e-4, steps_per_epoch=7, epochs=120, warmup_epochs=10, milestones=(40, 70), gamma=0.1)
    for epoch in range(120):
        expected = bag_of_tricks_lr(epoch, 3.5e-4, 10, [40, 70], 0.1)
        assert float(schedule(epoch * 7)) == pytest.approx(expected, rel=1e-5), epoch
    # within the warmup the rate grows linearly per step
    assert float(schedule(7 * 5 + 3)) == pytest.approx(3.5e-4 * (0.01 + 0.99 * (5 + 3 / 7) / 10), rel=1e-5)


def test_cosine_schedule_and_serialisation():
    schedule = WarmupDecay(1.0, steps_per_epoch=10, epochs=12, warmup_epochs=2, schedule="cosine")
    for step in (20, 45, 70, 95, 120):
        progress = (step / 10 - 2) / 10
        assert float(schedule(step)) == pytest.approx(0.5 * (1 + math.cos(math.pi * progress)), abs=1e-6)
    optimizer = make_optimizer("adamw", schedule, weight_decay=5e-4)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(restored, keras.optimizers.AdamW)
    assert isinstance(restored._learning_rate, WarmupDecay)
    assert [float(restored._learning_rate(s)) for s in (0, 33, 77)] == [float(schedule(s)) for s in (0, 33, 77)]


def test_make_optimizer_sgd_and_unknown():
    sgd = make_optimizer("sgd", 0.01, weight_decay=1e-4, momentum=0.8)
    assert isinstance(sgd, keras.optimizers.SGD) and sgd.momentum == 0.8 and sgd.weight_decay == 1e-4
    with pytest.raises(ValueError, match="adamw"):
        make_optimizer("adam", 0.01)


@pytest.mark.parametrize("loss_scaled", [False, True])
def test_lr_logger_reports_the_rate_of_each_epoch_s_last_step(loss_scaled):
    """Public optimizer API only (iterations, learning_rate), also under a LossScaleOptimizer."""
    schedule = WarmupDecay(1e-2, steps_per_epoch=3, epochs=4, warmup_epochs=2, milestones=(3,), gamma=0.5)
    for logger, rate in ((LearningRateLogger(schedule), schedule), (LearningRateLogger(), 0.25)):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        optimizer = keras.optimizers.SGD(rate)
        model.compile(optimizer=keras.optimizers.LossScaleOptimizer(optimizer) if loss_scaled else optimizer, loss="mse")
        x = np.ones((6, 2), "float32")
        history = model.fit(x, x[:, :1], batch_size=2, epochs=4, verbose=0, callbacks=[logger])
        if rate is schedule:  # last step of epoch e is step 3e + 2: epochs (3e + 2) / 3 done
            expected = [1e-2 * (0.01 + 0.99 * min((3 * e + 2) / 3 / 2, 1)) * 0.5 ** ((3 * e + 2) / 3 >= 3) for e in range(4)]
        else:
            expected = [0.25] * 4
        np.testing.assert_allclose(history.history["lr"], expected, rtol=1e-5)


def _env(**extra):
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(HERE.parent), **extra}


def _start(out: Path, options: dict, **env) -> subprocess.Popen:
    out.mkdir(parents=True, exist_ok=True)
    log = open(out / "stderr.txt", "ab")
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(out), json.dumps(options)], stdout=log, stderr=log, env=_env(**env)
    )


def _finish(process: subprocess.Popen, out: Path, timeout=900) -> dict:
    assert process.wait(timeout=timeout) == 0, (out / "stderr.txt").read_text()[-3000:]
    return json.loads((out / "result.json").read_text())


def _log(out: Path) -> list[dict]:
    with open(out / "training_log.csv") as handle:
        return list(csv.DictReader(handle))


def _assert_learns(result: dict):
    losses = result["history"]["loss"]
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0], losses


def _assert_model_loads(path: Path, embedding_dim=2048):
    model = keras.saving.load_model(path)  # safe mode
    embedding = model(np.zeros((2, *model.image_shape), "float32"), training=False)
    assert tuple(embedding.shape) == (2, embedding_dim)
    return model


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_sigkill_mid_epoch_then_rerun_finishes_planned_epochs(tmp_path):
    out = tmp_path / "run"
    options = {**TINY, "epochs": 3, "seed": 1, "batch_size": 2, "steps_per_epoch": 2, **FAST}  # 2 steps an epoch, as below
    first = _start(out, {**options, "pause_at": [1, 0]})
    deadline = time.time() + 900
    while not (out / "paused").exists():
        assert first.poll() is None and time.time() < deadline, (out / "stderr.txt").read_text()[-3000:]
        time.sleep(0.5)
    first.send_signal(signal.SIGKILL)  # in epoch 1, after its 1st batch
    first.wait()
    assert json.loads((out / "backup" / "training_metadata.json").read_text())["epoch"] == 1
    assert [row["epoch"] for row in _log(out)] == ["0"]

    # The backup belongs to this model: another one must not silently load it.
    from tests.tiny_training import tiny_dataset

    with pytest.raises(ResumeMismatchError, match="num_ids"):
        fit_dranet(tiny_dataset(16, shape=SHAPE), lambda: build_dranet(5, input_shape=SHAPE, depth=DEPTH), epochs=3, output_dir=out, verbose=0)

    result = _finish(_start(out, options), out)
    assert result["epochs_run"] == 2  # epochs 1 and 2; epoch 0 came from the backup
    assert result["iterations"] == 3 * 2  # optimiser state (and LR schedule step) restored
    log = _log(out)
    assert [row["epoch"] for row in log] == ["0", "1", "2"]
    assert not (out / "backup").exists()
    model = _assert_model_loads(out / "model.keras")
    assert int(model.optimizer.iterations.numpy()) == 3 * 2


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_deterministic_runs_are_identical_and_log_is_complete(tmp_path):
    options = {**TINY, **FAST, "epochs": 2, "seed": 7, "deterministic": True}
    runs = [_start(tmp_path / name, options) for name in ("a", "b")]
    a, b = (_finish(process, tmp_path / name) for process, name in zip(runs, ("a", "b")))
    assert a["history"] == b["history"]
    assert (a["weights_sum"], a["weights_abs_sum"]) == (b["weights_sum"], b["weights_abs_sum"])
    _assert_learns(a)

    log = _log(tmp_path / "a")
    assert list(log[0]) == LOG_COLUMNS
    for row in log:  # lr of each epoch's last step, by the reference formula
        epoch_done = (int(row["epoch"]) * STEPS + STEPS - 1) / STEPS
        warm = 0.01 + 0.99 * min(epoch_done, 1.0)
        assert float(row["lr"]) == pytest.approx(1e-3 * warm * 0.5 ** (epoch_done >= 1), rel=1e-5)
    assert float(log[-1]["loss"]) == pytest.approx(a["history"]["loss"][-1])
    _assert_model_loads(tmp_path / "a" / "model.keras")
    # what fit_dranet leaves: the final model and the log (no backup, lock or temporary file);
    # result.json and stderr.txt are the test worker's
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["model.keras", "result.json", "stderr.txt", "training_log.csv"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_mirrored_on_two_logical_cpus_learns_like_one_device(tmp_path):
    """Three epochs: with 8 images per replica the per-epoch loss is noisier than on one device."""
    result = _finish(_start(tmp_path, {**TINY, **FAST, "epochs": 3, "seed": 3, "strategy": "mirrored", "logical_cpus": 2}), tmp_path)
    assert result["num_replicas"] == 2 and result["iterations"] == 3 * STEPS
    _assert_learns(result)
    _assert_model_loads(tmp_path / "model.keras")


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_multi_worker_on_two_localhost_processes(tmp_path):
    options = {**TINY, **FAST, "epochs": 3, "seed": 3, "strategy": "multi_worker"}
    workers = [f"localhost:{_free_port()}" for _ in range(2)]
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        processes.append(_start(tmp_path / f"worker{index}", options, TF_CONFIG=json.dumps(tf_config)))
    chief, other = (_finish(p, tmp_path / f"worker{i}") for i, p in enumerate(processes))
    assert chief["num_replicas"] == other["num_replicas"] == 2
    _assert_learns(chief)
    _assert_learns(other)
    # synchronous data parallelism: both workers end with the same trainable weights
    assert chief["trainable_abs_sum"] == pytest.approx(other["trainable_abs_sum"], rel=1e-6)
    assert chief["iterations"] == other["iterations"] == 3 * STEPS
    _assert_model_loads(tmp_path / "worker0" / "model.keras")
    assert not (tmp_path / "worker1" / "model.keras").exists()  # only the chief writes outputs


def _leftovers(out: Path) -> list[str]:
    """Temporary files of interrupted atomic writes (dot files other than the lock)."""
    return sorted(str(p.relative_to(out)) for p in out.rglob(".*") if p.name != ".lock")


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_sigkill_at_every_write_point_then_rerun_logs_each_epoch_once(tmp_path):
    """Real processes killed (SIGKILL) half-way through each kind of write, chained so that
    each run resumes what the previous one left: first backup, later backup, backup commit,
    log, final model; then a newest backup that is corrupt on disk."""
    out = tmp_path / "run"
    options = {**TINY, "epochs": 3, "seed": 1, "batch_size": 2, "steps_per_epoch": 2, **FAST}

    def killed(pattern, occurrence):
        process = _start(out, {**options, "kill_at": [pattern, occurrence]})
        assert process.wait(timeout=600) == -signal.SIGKILL, (out / "stderr.txt").read_text()[-3000:]

    def committed():
        path = out / "backup" / "training_metadata.json"
        return json.loads(path.read_text())["epoch"] if path.exists() else None

    start = time.perf_counter()
    killed("weights-*.weights.h5", 1)  # epoch 0's backup, the first one: nothing committed
    assert committed() is None and _leftovers(out) and [r["epoch"] for r in _log(out)] == ["0"]
    killed("weights-*.weights.h5", 2)  # a fresh start (no backup); killed in epoch 1's backup
    assert committed() == 1 and [r["epoch"] for r in _log(out)] == ["0", "1"]
    killed("training_metadata.json", 1)  # resumes at 1; epoch 1's weights written, not committed
    assert committed() == 1 and [r["epoch"] for r in _log(out)] == ["0", "1"]
    killed("training_log.csv", 2)  # (the 1st write is the truncation to epoch 0) epoch 1's row
    assert committed() == 1 and [r["epoch"] for r in _log(out)] == ["0"]
    killed("model.keras", 1)  # epochs 1 and 2 done and backed up; the final save
    assert committed() == 3 and [r["epoch"] for r in _log(out)] == ["0", "1", "2"]
    assert any(".model.keras." in name for name in _leftovers(out))

    result = _finish(_start(out, options), out)  # nothing left to train: only the final save
    assert result["epochs_run"] == 0 and result["iterations"] == 3 * 2
    assert [r["epoch"] for r in _log(out)] == ["0", "1", "2"]
    assert not (out / "backup").exists() and _leftovers(out) == [] and not (out / ".lock").exists()
    model = _assert_model_loads(out / "model.keras")
    assert int(model.optimizer.iterations.numpy()) == 3 * 2
    print(f"kill-and-resume chain: 6 processes in {time.perf_counter() - start:.0f} s")


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_corrupt_newest_backup_is_ignored_with_a_warning_and_the_previous_one_resumed(tmp_path):
    out = tmp_path / "run"
    options = {**TINY, "epochs": 2, "seed": 1, "batch_size": 2, "steps_per_epoch": 2, **FAST}
    process = _start(out, {**options, "kill_at": ["model.keras", 1]})
    assert process.wait(timeout=600) == -signal.SIGKILL
    metadata = json.loads((out / "backup" / "training_metadata.json").read_text())
    assert (metadata["epoch"], metadata["previous"]["epoch"]) == (2, 1)
    newest = out / "backup" / metadata["weights"]
    os.truncate(newest, newest.stat().st_size // 2)  # as a disk or a pre-commit-era backup could leave it

    result = _finish(_start(out, options), out)
    assert "ignoring the backup" in (out / "stderr.txt").read_text()
    assert result["epochs_run"] == 1 and result["iterations"] == 2 * 2  # epoch 1 again, from the previous state
    assert [r["epoch"] for r in _log(out)] == ["0", "1"]
    _assert_model_loads(out / "model.keras")


class _Interrupt(Exception):
    """Stands for a kill: raised after an epoch's backup is committed."""


class _InterruptAfter(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.at = epoch

    def on_epoch_end(self, epoch, logs=None):  # after fit_dranet's own callbacks: the backup is committed
        if epoch == self.at:
            raise _Interrupt


def _pipeline_run(tmp_path, out, **options):
    """fit_dranet on the real input pipeline (flip, pad + crop, erasing, shuffled order)."""
    from PIL import Image

    from dranet_keras.data.pipeline import train_dataset
    from dranet_keras.data.records import Record

    rng = np.random.default_rng(0)
    records = []
    for pid in range(4):
        for k in range(4):
            path = tmp_path / "images" / f"{pid}_{k}.png"
            path.parent.mkdir(exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (*SHAPE[:2], 3), dtype=np.uint8)).save(path)
            records.append(Record(str(path), pid, k % 2))
    arguments = {"epochs": 3, "learning_rate": 1e-3, "warmup_epochs": 1, "lr_milestones": [2], "seed": 3, "deterministic": True,
                 "mixed_precision": None, "run_eagerly": True, "verbose": 0, **options}
    data = lambda first_epoch: train_dataset(records, SHAPE[:2], 8, pad=4, random_erasing=0.5, seed=3, first_epoch=first_epoch)  # noqa: E731
    return fit_dranet(data, lambda: build_dranet(4, variant="baseline", input_shape=SHAPE, depth=DEPTH), output_dir=out, **arguments)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_interrupted_and_resumed_run_ends_with_the_uninterrupted_run_s_weights(tmp_path):
    """Deterministic: 3 epochs straight vs. 2 epochs, an interruption after epoch 1's backup,
    then a resumed run (a new dataset, as a new process builds it). Epoch 2 must see the same
    order and augmentation in both, so the final weights agree."""
    straight, _ = _pipeline_run(tmp_path, tmp_path / "straight")
    with pytest.raises(_Interrupt):
        _pipeline_run(tmp_path, tmp_path / "resumed", callbacks=[_InterruptAfter(1)])
    assert json.loads((tmp_path / "resumed" / "backup" / "training_metadata.json").read_text())["epoch"] == 2
    resumed, history = _pipeline_run(tmp_path, tmp_path / "resumed")
    assert history.epoch == [2]
    difference = max(float(np.max(np.abs(a - b))) for a, b in zip(straight.get_weights(), resumed.get_weights()))
    print(f"max |weight difference|, uninterrupted vs interrupted and resumed: {difference:.3g}")
    assert difference <= 1e-6
    assert _log(tmp_path / "resumed") == _log(tmp_path / "straight")

    # A changed trajectory key is refused, naming it and the way out; the backup stays.
    with pytest.raises(_Interrupt):
        _pipeline_run(tmp_path, tmp_path / "mixed", callbacks=[_InterruptAfter(0)])
    backup = sorted(p.name for p in (tmp_path / "mixed" / "backup").iterdir())
    with pytest.raises(ResumeMismatchError, match=r"different epochs, learning_rate \(saved \[3, 0.001\], now \[4, 0.002\]\); rerun with the saved values"):
        _pipeline_run(tmp_path, tmp_path / "mixed", learning_rate=2e-3, epochs=4)
    assert sorted(p.name for p in (tmp_path / "mixed" / "backup").iterdir()) == backup


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_diverged_run_keeps_the_previous_model_log_and_backup(tmp_path):
    """After a good run, the same folder with a huge learning rate: TrainingDivergedError, and
    model.keras, training_log.csv (and an interrupted run's backup) are as they were."""
    from dranet_keras.training.callbacks import TrainingDivergedError

    out = tmp_path / "run"
    _pipeline_run(tmp_path, out, epochs=1)
    before = {name: (out / name).read_bytes() for name in ("model.keras", "training_log.csv")}
    with pytest.raises(TrainingDivergedError, match=r"training diverged \(loss nan in epoch 0, step \d+\); nothing of it was saved: .* keeps its earlier model and log, and no backup"):
        _pipeline_run(tmp_path, out, epochs=1, learning_rate=1e30)
    assert {name: (out / name).read_bytes() for name in before} == before
    assert sorted(p.name for p in out.iterdir()) == ["model.keras", "training_log.csv"]

    # An interrupted run that then diverges keeps its last good backup.
    with pytest.raises(_Interrupt):
        _pipeline_run(tmp_path, tmp_path / "b", epochs=3, callbacks=[_InterruptAfter(0)])
    committed = (tmp_path / "b" / "backup" / "training_metadata.json").read_bytes()

    class Explode(keras.callbacks.Callback):  # the resumed run's weights become NaN
        def on_train_batch_begin(self, batch, logs=None):
            for weight in self.model.trainable_weights[:1]:
                weight.assign(np.full(weight.shape, np.nan, "float32"))

    with pytest.raises(TrainingDivergedError, match=r"in epoch 1, step \d+\); .* and its backup to resume at epoch 1$"):
        _pipeline_run(tmp_path, tmp_path / "b", epochs=3, callbacks=[Explode()])
    assert (tmp_path / "b" / "backup" / "training_metadata.json").read_bytes() == committed
    assert [row["epoch"] for row in _log(tmp_path / "b")] == ["0"]
