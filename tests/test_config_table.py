"""Every config key given a bad value through the command line: exit 2, one line on stderr
naming the key, no traceback, and TensorFlow never imported (validation comes first)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dranet_keras.config import Config, config_to_dict

# One interpreter runs the cases in turn through the CLI's `main` (an interpreter per case costs
# ~1 s of start-up each): per case its exit status, stderr, and whether TensorFlow was imported.
# After a case that imported TensorFlow it stops; the fixture starts a fresh one for the rest.
RUNNER = """
import contextlib, io, json, os, sys, tempfile, time, traceback, warnings
from dranet_keras.cli import main
cases, results = json.loads(sys.argv[1]), open(sys.argv[2], "a")
for name, directory, argv in cases:
    os.chdir(directory)
    stderr, start = io.StringIO(), time.perf_counter()
    # what is written to file descriptor 2 (by C code) counts too, as when stderr was a pipe
    with tempfile.TemporaryFile() as raw:
        saved = os.dup(2)
        os.dup2(raw.fileno(), 2)
        # catch_warnings resets the once-per-location registry: each case warns as a fresh process
        with warnings.catch_warnings(), contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            try:
                rc = main(argv)
            except SystemExit as exit:
                rc = exit.code
            except BaseException:
                traceback.print_exc()
                rc = 1
        os.dup2(saved, 2)
        os.close(saved)
        raw.seek(0)
        text = stderr.getvalue() + raw.read().decode(errors="replace")
    imported = "tensorflow" in sys.modules
    results.write(json.dumps([name, {"rc": rc, "stderr": text, "tensorflow": imported,
                                     "seconds": time.perf_counter() - start}]) + "\\n")
    results.flush()
    if imported:
        break
"""

# key -> bad values (YAML, as --set takes them). Every key of the config must be here.
BAD = {
    "seed": ["-1", "1.5", "2**40", "!!python/object/apply:os.system ['true']"],
    "variants": ["[dra, nope]", "dra", "[dra, dra]", "[]"],
    "seeds": ["[]", "[1, 1]", "[-1]", "0"],
    "model.variant": ["resnet"],
    "model.height": ["0", "-64", "2048"],
    "model.width": ["0", "1025"],
    "model.parts": ["0", "5"],  # 5 > the 4 feature rows of a 64-pixel-high image
    "model.reduction": ["0"],
    "model.erase_threshold": ["0", "1.5"],
    "model.depth": ["18", "fifty"],
    "model.last_stride": ["3"],
    "model.reduce_dim": ["-1", "4096"],
    "model.weights": ["''", "5"],
    "model.reverse_gradient": ["both"],
    "model.erase": ["soft-ish", "true"],
    "model.descriptor": ["bnneck"],
    "model.label_smoothing": ["5", "1"],
    "model.loss_weight_c": ["-1"],
    "model.loss_weight_d": [".inf"],
    "model.triplet_weight": ["-1"],
    "model.triplet_margin": ["-0.3"],
    "data.name": ["market"],
    "data.root": ["''", "null"],
    "data.prepared_dir": ["''"],
    "data.synthetic_train_ids": ["0", "1"],  # 1: a classifier needs two identities
    "data.synthetic_test_ids": ["0"],
    "data.synthetic_cameras": ["1"],
    "data.synthetic_images_per_camera": ["1"],
    "data.synthetic_height": ["0"],
    "data.synthetic_width": ["-4"],
    "data.synthetic_distractors": ["-1"],
    "data.synthetic_occluded_ids": ["-1"],
    "data.extract_dir": ["' '"],
    "data.extra_gallery": ["maybe"],
    "data.include_val": ["2"],
    "data.camera_ids": ["'yes'"],
    "data.skip_corrupt": ["[]"],
    "data.max_image_pixels": ["0"],
    "data.max_extract_bytes": ["-1"],
    "data.max_extract_ratio": ["0"],
    "train.epochs": ["0", "'['", "[", "1e1"],
    "train.batch_size": ["0", "-1"],
    "train.steps_per_epoch": ["0"],
    "train.optimizer": ["adam"],
    "train.learning_rate": ["-1", ".inf", ".nan", "0"],
    "train.weight_decay": ["-0.1"],
    "train.momentum": ["1", "-0.5"],
    "train.warmup_epochs": ["-1"],
    "train.warmup_factor": ["0", "2"],
    "train.schedule": ["linear"],
    "train.lr_milestones": ["[-1]", "5", "[3, 1, 1, 99]"],
    "train.lr_gamma": ["0", "10"],
    "train.sampler": ["balanced"],
    "train.instances_per_id": ["0"],  # (with sampler=pk, one that does not divide the batch: below)
    "train.flip": ["'true'"],
    "train.pad": ["-1"],
    "train.random_erasing": ["1.5", "-0.1"],
    "train.mixed_precision": ["float16", "automatic"],
    "train.strategy": ["horovod"],
    "train.deterministic": ["1"],
    "train.run_eagerly": ["'yes'"],
    "eval.metric": ["manhattan"],
    "eval.flip_test": ["null"],
    "eval.batch_size": ["0"],
    "eval.max_rank": ["0"],
    "eval.protocol": ["duke"],
    "eval.rerank": ["'no'"],
    "eval.rerank_k1": ["0"],
    "eval.rerank_k2": ["-6"],
    "eval.rerank_lambda": ["1.5"],
    "eval.visual_queries": ["-1"],
    "eval.memory_gb": ["0", ".inf"],
    "eval.rerank_max_hours": ["0"],
    "pretrain.epochs": ["-1"],
    "pretrain.lr_milestones": ["[-3]", "9", "[2, 2]"],
    "pretrain.seed": ["-1", "0"],  # 0: one of the default seeds
}
# A whole section set to null would reset every key of it to its default.
SECTIONS = ["model", "data", "train", "eval", "pretrain"]
# How the message names a key, where that differs from its path.
NAMED = {"variants": "variants"}
CASES = [(key, value) for key, values in BAD.items() for value in values]
# Whole-file mistakes: (file bytes, what the message says)
BAD_FILES = {
    "empty": (b"", "is empty"),
    "comments only": (b"# nothing\n", "is empty"),
    "duplicate key": (b"train:\n  epochs: 3\n  epochs: 4\n", "duplicate key 'epochs'"),
    "random bytes": (bytes(range(256)) * 4, "not UTF-8"),
    "latin-1 text": ("seed: 1 # café\n".encode("latin-1"), "not UTF-8"),
    "a list": (b"- 1\n- 2\n", "expected a mapping"),
    "python tag": (b"seed: !!python/object/apply:os.system ['true']\n", "not valid YAML"),
    "sections wrong": (b"train: 0\n", "train: expected a mapping"),
}
# Options that cross sections: `sampler=pk` needs a batch that is a multiple of K.
PK_CASE = ["train.sampler=pk", "train.batch_size=30", "train.instances_per_id=4"]


def _leaf_keys(values: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in values.items():
        path = f"{prefix}{key}"
        keys |= _leaf_keys(value, f"{path}.") if isinstance(value, dict) else {path}
    return keys


def test_the_table_covers_every_key_of_the_config():
    assert set(BAD) == _leaf_keys(config_to_dict(Config()))


def _cases() -> dict[str, list[str]]:
    """Case name -> `dranet train` arguments."""
    cases = {f"{key}={value}": ["--set", f"{key}={value}"] for key, value in CASES}
    cases |= {name: ["--params", "bad.yaml"] for name in BAD_FILES}
    cases["pk"] = [arg for item in PK_CASE for arg in ("--set", item)]
    cases |= {f"{section}=": ["--set", f"{section}="] for section in SECTIONS}
    return cases


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, dict]:
    """Every case run by `dranet train` in its own folder (a params.yaml, and the bad file)."""
    todo = []
    for index, (name, args) in enumerate(_cases().items()):
        folder = tmp_path_factory.mktemp(f"case{index}")
        (folder / "params.yaml").write_text("model: {height: 64, width: 32}\n")
        if name in BAD_FILES:
            (folder / "bad.yaml").write_bytes(BAD_FILES[name][0])
        todo.append([name, str(folder), ["train", *args]])
    log, done = tmp_path_factory.mktemp("runner") / "results.jsonl", {}
    while todo:
        run = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(todo), str(log)], capture_output=True, text=True, timeout=600)
        done.update(json.loads(line) for line in log.read_text().splitlines())
        if todo[0][0] not in done:  # the interpreter died in this case
            done[todo[0][0]] = {"rc": run.returncode, "stderr": run.stderr, "tensorflow": None, "seconds": 0.0}
        todo = [case for case in todo if case[0] not in done]
    seconds = [result["seconds"] for result in done.values()]
    print(f"\nconfig table: {len(BAD)} keys, {len(CASES)} bad values + {len(BAD_FILES)} bad files + 1 PK case; "
          f"{sum(seconds):.1f} s in all, slowest {max(seconds):.2f} s")  # shown with -s; speed is not asserted
    return done


def _assert_one_line(result, *fragments):
    assert result["rc"] == 2, result["stderr"]
    assert result["stderr"].count("\n") == 1 and "Traceback" not in result["stderr"], result["stderr"]
    for fragment in fragments:
        assert fragment in result["stderr"], result["stderr"]
    assert result["tensorflow"] is False, "tensorflow was imported"


@pytest.mark.slow
@pytest.mark.parametrize("key, value", CASES, ids=[f"{k}={v}" for k, v in CASES])
def test_every_bad_value_is_one_line_exit_2_before_tensorflow(results, key, value):
    _assert_one_line(results[f"{key}={value}"], NAMED.get(key, key))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_every_bad_params_file_is_one_line_exit_2(results, name):
    _assert_one_line(results[name], "bad.yaml", BAD_FILES[name][1])


@pytest.mark.slow
@pytest.mark.parametrize("section", SECTIONS)
def test_a_section_set_to_null_is_refused_not_reset(results, section):
    _assert_one_line(results[f"{section}="], f"{section}: expected a mapping, got null")


@pytest.mark.slow
def test_pk_batch_not_a_multiple_of_k_is_refused(results):
    _assert_one_line(results["pk"], "train.batch_size: 30 is not a multiple of train.instances_per_id (4)")
