"""The DVC pipeline: experiment files, dvc.yaml's declared params/deps, the offline plots page,
and (slow) `dvc repro` end to end on a tiny config in a temporary copy of the repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dranet_keras import layout
from dranet_keras.config import load_config
from dranet_keras.choices import VARIANTS
from tests.formats import check as check_format

ROOT = Path(__file__).resolve().parents[1]
# experiments/*.yaml are recipes (a params.yaml each), but for what the report compares against
NOT_RECIPES = ("paper_results.yaml", "claims.yaml", "deviations.yaml")
EXPERIMENTS = sorted(p for p in (ROOT / "experiments").glob("*.yaml") if p.name not in NOT_RECIPES)
DVC = [sys.executable, "-m", "dvc"]


def dvc_stages() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def declared_params() -> set[str]:
    names = set()
    for stage in dvc_stages().values():
        for entry in stage.get("params", []):
            names.update([entry] if isinstance(entry, str) else [k for v in entry.values() for k in v])
    return names


def has_key(values: dict, dotted: str) -> bool:
    for part in dotted.split("."):
        if not isinstance(values, dict) or part not in values:
            return False
        values = values[part]
    return True


def test_every_experiment_file_loads_with_the_fields_resnet50_settings():
    assert {p.stem for p in EXPERIMENTS} == {
        "market1501", "dukemtmc", "cuhk03_labeled", "cuhk03_detected", "msmt17", "occluded_dukemtmc", "p_dukemtmc",
        "occluded_reid", "partial_reid",
    }
    for path in EXPERIMENTS:
        config = load_config(path)
        assert config.data.name == path.stem, path
        assert (config.model.height, config.model.width, config.model.last_stride) == (256, 128, 1), path
        train = config.train
        assert (train.epochs, train.batch_size, train.instances_per_id, train.sampler) == (120, 64, 4, "pk"), path
        assert (train.learning_rate, train.warmup_epochs, train.lr_milestones) == (3.5e-4, 10, (40, 70)), path
        assert config.model.triplet_weight > 0 and train.batch_size % train.instances_per_id == 0, path


def test_evaluation_only_experiments_repeat_the_market1501_training_they_evaluate():
    """Occluded-REID and Partial-REID have no train split: their files are Market-1501's (the
    model and eval settings the models were trained and are evaluated with) but for `data`."""
    market = yaml.safe_load((ROOT / "experiments" / "market1501.yaml").read_text())
    for name, root in (("occluded_reid", "data/raw/Occluded_REID"), ("partial_reid", "data/raw/Partial_REID")):
        values = yaml.safe_load((ROOT / "experiments" / f"{name}.yaml").read_text())
        assert values.pop("data") == {**market["data"], "name": name, "root": root}, name
        assert values == {key: value for key, value in market.items() if key != "data"}, name


@pytest.mark.parametrize("path", [ROOT / "params.yaml", *EXPERIMENTS], ids=lambda p: p.name)
def test_params_files_hold_every_key_dvc_yaml_declares(path):
    """So `cp experiments/X.yaml params.yaml && dvc repro` works: DVC needs each listed key."""
    values = yaml.safe_load(path.read_text())
    missing = sorted(name for name in declared_params() if not has_key(values, name))
    assert not missing, f"{path.name} lacks {missing}"
    load_config(path)


def test_dvc_yaml_trains_and_evaluates_every_variant_and_seed_and_its_deps_exist():
    params = load_config(ROOT / "params.yaml")
    assert set(params.variants) == set(VARIANTS)
    stages = dvc_stages()
    assert list(stages) == ["prepare", "reference", "pretrain", "train", "evaluate", "report"]
    for name in ("train", "evaluate"):
        assert stages[name]["matrix"] == {"variant": "${variants}", "seed": "${seeds}"}
    for stage in stages.values():
        for dep in stage["deps"]:
            if "${" not in dep and not dep.startswith(("results", "models")):
                assert (ROOT / dep).exists(), dep


def test_offline_plots_template_inlines_vega_and_has_dvc_placeholders():
    config = (ROOT / ".dvc" / "config").read_text()
    assert "html_template = plots/offline.html" in config
    page = (ROOT / ".dvc" / "plots" / "offline.html").read_text()
    assert "{plot_divs}" in page and "{scripts}" not in page  # no CDN script tags get added
    assert "<script src" not in page and "cdn.jsdelivr" not in page
    for name in ("vega", "vegaLite", "vegaEmbed"):
        assert f".{name}=" in page or f"{name}=" in page, name


def _copy_repo(destination: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True)
    for name in files.stdout.splitlines():
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    subprocess.run(["git", "init", "-q"], cwd=destination, check=True)



def _tiny_params(repo: Path, values: dict) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for dotted, value in values.items():
        *parents, leaf = dotted.split(".")
        node = params
        for part in parents:
            node = node[part]
        node[leaf] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def _path_without_the_environment() -> str:
    """PATH minus the folder of this Python's scripts (dvc, dranet): as in a shell where the
    venv is not activated."""
    scripts = {Path(sys.executable).parent, Path(sys.prefix) / "bin"}
    return os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p and Path(p) not in scripts)


def test_documented_dvc_command_runs_with_the_venv_not_activated(tmp_path):
    """README: `.venv/bin/dvc repro` from a fresh clone after `make install`, no activated venv:
    the stage commands (tools/dranet) find the package without PATH."""
    repo = tmp_path / "repo"
    _copy_repo(repo)
    (repo / ".venv").symlink_to(sys.prefix)  # what `make install` creates
    _tiny_params(repo, {"data.synthetic_train_ids": 2, "data.synthetic_test_ids": 2, "data.synthetic_cameras": 2,
                        "data.synthetic_images_per_camera": 2, "data.synthetic_distractors": 0})
    env = {**os.environ, "PATH": _path_without_the_environment()}
    assert shutil.which("dranet", path=env["PATH"]) is None and shutil.which("dvc", path=env["PATH"]) is None
    done = subprocess.run([".venv/bin/dvc", "repro", "prepare"], cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (repo / layout.prepared_dir("synthetic") / layout.MANIFEST).is_file()


def test_stage_command_without_any_environment_says_what_to_do(tmp_path):
    shutil.copytree(ROOT / "tools", tmp_path / "tools")  # a clone before `make install`
    done = subprocess.run([str(tmp_path / "tools" / "dranet"), "prepare"], env={"PATH": _path_without_the_environment()},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 127 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "make install" in done.stderr


TINY = {
    "model.height": 64,
    "model.width": 32,
    "model.depth": 14,  # a ResNet14: the test is of the pipeline, not the backbone
    "variants": ["dra"],  # one entry keeps it short; the matrix is the same for four
    "seeds": [0, 1],  # two seeds: the report's mean ± std
    "data.synthetic_train_ids": 6,
    "data.synthetic_test_ids": 4,
    "data.synthetic_cameras": 2,
    "data.synthetic_images_per_camera": 2,
    "data.synthetic_distractors": 2,
    "data.synthetic_occluded_ids": 2,
    "train.epochs": 1,
    "pretrain.epochs": 1,
    "pretrain.lr_milestones": [],
    "train.batch_size": 8,
    "train.run_eagerly": True,  # tracing would cost more than the 3 steps and the evaluation
    "eval.visual_queries": 2,
}


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_dvc_repro_end_to_end_on_a_tiny_config(tmp_path):
    repo = tmp_path / "repo"
    _copy_repo(repo)
    _tiny_params(repo, TINY)
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}

    def dvc(*args):
        done = subprocess.run([*DVC, *args], cwd=repo, env=env, capture_output=True, text=True, timeout=1500)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout

    dvc("repro")
    prepared = layout.prepared_dir("synthetic")
    written = [prepared / layout.MANIFEST, prepared / layout.STATS]
    for seed in (0, 1):
        written += [layout.model_dir("dra", seed) / name for name in (layout.TRAIN_META, layout.TRAINING_LOG)]
        written += [layout.results_dir("dra", seed) / name for name in (layout.METRICS, layout.CMC, layout.RANKINGS, layout.OCCLUDED_RANKINGS)]
    for path in written:
        check_format(repo / path)  # docs/formats.md
    for seed in (0, 1):
        metrics = json.loads((repo / "results" / "dra" / f"seed{seed}" / "metrics.json").read_text())
        assert 0.0 <= metrics["mAP"] <= 1.0 and metrics["dataset"] == "synthetic" and metrics["config"]["seed"] == seed
        # the occluded-query split: 2 ids x 2 cameras of occluded queries; its own 4 whole-body
        # images plus the standard gallery (4 ids x 2 cameras + 2 distractors)
        assert (metrics["occluded"]["num_query"], metrics["occluded"]["num_gallery"]) == (4, 4 + 4 * 2 + 2)
        assert set(metrics["strata"]) == {"occlusion", "occluded share", "view", "lighting"}
        meta = json.loads((repo / "models" / "dra" / f"seed{seed}" / "train_meta.json").read_text())
        assert meta["variant"] == "dra" and meta["epochs"] == 1 and meta["num_ids"] == 6 and meta["config"]["seed"] == seed
        assert (repo / "models" / "dra" / f"seed{seed}" / "model.keras").is_file()
        assert not (repo / "models" / "dra" / f"seed{seed}" / "backup").exists()
    assert not (repo / "results" / "baseline").exists()  # only `variants` are run
    assert json.loads((repo / "models" / "pretrain" / "train_meta.json").read_text())["epochs"] == 1
    for reference in ("colour_histogram", "chance"):
        assert 0.0 <= json.loads((repo / "results" / reference / "metrics.json").read_text())["mAP"] <= 1.0
    html = (repo / "reports" / "index.html").read_text()
    assert "± " in html and "colour histogram" in html  # two seeds: mean ± std; the reference row
    assert "the occluded-query split" in html and 'id="summary"' in html
    assert "dranet train --variant dra --params params.yaml --set seed=1" in html  # seed 1's reproduce command
    assert "up to date" in dvc("repro")  # nothing changed: nothing runs
    shown = json.loads(dvc("metrics", "show", "--json"))
    assert "results/dra/seed1/metrics.json" in json.dumps(shown)
    dvc("plots", "show", "-o", "plots")
    page = (repo / "plots" / "index.html").read_text()
    assert "vegaEmbed" in page and "cdn.jsdelivr" not in page and "training_log" in page
