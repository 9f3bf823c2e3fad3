"""dvc.yaml (after DVC's ${} interpolation with params.yaml) names the paths dranet_keras.layout
gives, so a renamed file cannot silently break `dvc repro` or the report."""

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
            stage.name: ({str(out.def_path) for out in stage.outs}, {str(dep.def_path) for dep in stage.deps})
            for stage in repo.index.stages
        }
    finally:
        repo.close()


def test_layout_paths_compose():
    assert layout.manifest_path("market1501") == Path("data/prepared/market1501/manifest.csv")
    assert layout.model_path("dra") == Path("models/dra/model.keras")
    assert layout.model_dir("dra", "seed-1", root="m") == Path("m/dra/seed-1")
    assert layout.results_dir("cic") == Path("results/cic")


def test_dvc_yaml_paths_match_the_layout(stages):
    config = load_config(REPO / "params.yaml")
    prepared = layout.prepared_dir(config.data.name, config.data.prepared_dir)
    manifest = str(layout.manifest_path(config.data.name, config.data.prepared_dir))
    outs, _ = stages["prepare"]
    assert outs == {str(prepared / name) for name in (layout.MANIFEST, layout.STATS, layout.PREVIEW)}
    for variant in config.variants:
        outs, deps = stages[f"train@{variant}"]
        model_dir = layout.model_dir(variant)
        names = (layout.MODEL, layout.BEST, layout.TRAIN_META, layout.TRAINING_LOG)
        assert outs == {str(model_dir / name) for name in names}
        assert manifest in deps
        outs, deps = stages[f"evaluate@{variant}"]
        results = layout.results_dir(variant)
        assert outs == {str(results / name) for name in (layout.METRICS, layout.CMC, layout.RANKINGS)}
        assert {str(layout.model_path(variant)), manifest} <= deps
    outs, deps = stages["report"]
    assert outs == {str(Path(layout.REPORTS_ROOT) / name) for name in (layout.REPORT_HTML, layout.REPORT_NOTEBOOK)}
    assert {layout.RESULTS_ROOT, layout.MODELS_ROOT, manifest} <= deps
