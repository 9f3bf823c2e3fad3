"""dvc.yaml (after DVC's ${} interpolation with params.yaml) names the paths dranet_keras.layout
gives, so a renamed file cannot silently break `dvc repro` or the report."""

from itertools import product
from pathlib import Path

import pytest

from dranet_keras import layout
from dranet_keras.config import load_config

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def stages():
    from dvc.repo import Repo

    repo = Repo(str(REPO))
    try:
        return {
            stage.name: (stage.cmd, {str(out.def_path) for out in stage.outs}, {str(dep.def_path) for dep in stage.deps})
            for stage in repo.index.stages
        }
    finally:
        repo.close()


def test_layout_paths_compose():
    assert layout.manifest_path("market1501") == Path("data/prepared/market1501/manifest.csv")
    assert layout.model_path("dra", 0) == Path("models/dra/seed0/model.keras")
    assert layout.model_dir("dra", 2, root="m") == Path("m/dra/seed2")
    assert layout.results_dir("cic", 7) == Path("results/cic/seed7")
    assert layout.reference_dir("chance") == Path("results/chance")
    assert layout.pretrain_dir() / layout.BACKBONE == Path("models/pretrain/backbone.weights.h5")


def test_seeds_present_reads_only_seed_folders_in_numeric_order(tmp_path):
    for name in ("seed10", "seed2", "seed0", "seedx", "notes"):
        (tmp_path / "dra" / name).mkdir(parents=True)
    (tmp_path / "dra" / "seed3").write_text("a file, not a run")
    assert layout.seeds_present("dra", tmp_path) == [0, 2, 10]
    assert layout.seeds_present("baseline", tmp_path) == []


def _runs(stages, kind):
    """{run folder: (cmd, outs, deps)} of the matrix stages `kind@...`."""
    runs = {}
    for name, (cmd, outs, deps) in stages.items():
        if name.startswith(f"{kind}@"):
            folders = {Path(out).parent for out in outs}
            assert len(folders) == 1, (name, outs)
            runs[folders.pop()] = (cmd, outs, deps)
    return runs


def test_dvc_yaml_paths_match_the_layout(stages):
    config = load_config(REPO / "params.yaml")
    prepared = layout.prepared_dir(config.data.name, config.data.prepared_dir)
    manifest = str(layout.manifest_path(config.data.name, config.data.prepared_dir))
    stats = str(layout.prepared_dir(config.data.name, config.data.prepared_dir) / layout.STATS)
    # every stage that reads images depends on stats.json, whose images_sha256 covers their content
    for name, (_, _, deps) in stages.items():
        if name != "prepare":
            assert stats in deps, name
    _, outs, _ = stages["prepare"]
    assert outs == {str(prepared / name) for name in (layout.MANIFEST, layout.STATS, layout.PREVIEW)}
    backbone = str(layout.pretrain_dir() / layout.BACKBONE)
    _, outs, deps = stages["pretrain"]
    assert outs == {backbone, str(layout.pretrain_dir() / layout.TRAIN_META)} and manifest in deps
    _, outs, deps = stages["reference"]
    assert {Path(out).parent for out in outs} == {layout.reference_dir(name) for name in layout.REFERENCES}

    runs = list(product(config.variants, config.seeds))
    trained, evaluated = _runs(stages, "train"), _runs(stages, "evaluate")
    assert set(trained) == {layout.model_dir(v, s) for v, s in runs}
    assert set(evaluated) == {layout.results_dir(v, s) for v, s in runs}
    for variant, seed in runs:
        cmd, outs, deps = trained[layout.model_dir(variant, seed)]
        # the seed goes in through --set, so the run's recorded configuration holds it
        assert f"--variant {variant} --set seed={seed} --set model.weights={backbone}" in cmd
        names = (layout.MODEL, layout.TRAIN_META, layout.TRAINING_LOG)
        assert outs == {str(layout.model_dir(variant, seed) / name) for name in names}
        assert {manifest, backbone} <= deps
        cmd, outs, deps = evaluated[layout.results_dir(variant, seed)]
        assert f"--variant {variant} --set seed={seed}" in cmd
        assert outs == {str(layout.results_dir(variant, seed) / name) for name in (layout.METRICS, layout.CMC, layout.RANKINGS, layout.OCCLUDED_RANKINGS)}
        assert {str(layout.model_path(variant, seed)), manifest} <= deps
    _, outs, deps = stages["report"]
    assert outs == {str(Path(layout.REPORTS_ROOT) / name) for name in (layout.REPORT_HTML, layout.REPORT_NOTEBOOK)}
    assert {layout.RESULTS_ROOT, layout.MODELS_ROOT, manifest} <= deps


def test_dvc_yaml_names_the_model_keys_each_training_stage_reads():
    """Not `model` as a whole: model.variant is the stage's --variant (pretrain: the baseline),
    so changing it must not re-run pretrain or any train@*; train's model.weights is --set."""
    import dataclasses

    import yaml

    from dranet_keras.config import ModelConfig

    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    model_keys = {f"model.{f.name}" for f in dataclasses.fields(ModelConfig)}
    read = {name: {key for key in stages[name]["params"] if key.startswith("model")} for name in ("pretrain", "train")}
    assert read["pretrain"] == model_keys - {"model.variant"}
    assert read["train"] == model_keys - {"model.variant", "model.weights"}
