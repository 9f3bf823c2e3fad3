"""The run layout: one home (dranet_keras/layout.py) that dvc.yaml's paths agree with."""

from pathlib import Path

import yaml

from dranet_keras import layout

ROOT = Path(__file__).resolve().parents[1]


def _expand(path: str, variant: str, seed: int) -> str:
    return path.replace("${item.variant}", variant).replace("${item.seed}", str(seed))


def test_dvc_yaml_outputs_are_the_layout_run_dirs():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    expected = {"train": layout.run_dir(layout.MODELS_DIR, "cic", 7), "evaluate": layout.run_dir(layout.RESULTS_DIR, "cic", 7)}
    for name, folder in expected.items():
        stage = stages[name]
        assert f"--variant ${{item.variant}} --set seed=${{item.seed}}" in stage["cmd"]  # seed via --set: recorded in the config
        paths = [next(iter(entry)) if isinstance(entry, dict) else entry for kind in ("outs", "metrics", "plots") for entry in stage.get(kind, [])]
        assert paths and all(Path(_expand(p, "cic", 7)).parent == folder for p in paths), paths
    backbone = (layout.pretrain_dir(layout.MODELS_DIR) / layout.BACKBONE_FILE).as_posix()
    assert stages["pretrain"]["outs"] == [backbone] and stages["train"]["deps"][0] == backbone
    assert f"--set model.weights={backbone}" in stages["train"]["cmd"]  # every variant starts from it
    assert _expand(stages["evaluate"]["deps"][0], "cic", 7) == (layout.run_dir(layout.MODELS_DIR, "cic", 7) / "model.keras").as_posix()
    reference_outs = [next(iter(e)) for kind in ("outs", "metrics") for e in stages["reference"][kind]]
    assert {Path(p).parent for p in reference_outs} == {layout.reference_dir(layout.RESULTS_DIR, n) for n in layout.REFERENCES}


def test_seeds_present_reads_only_seed_folders_in_numeric_order(tmp_path):
    for name in ("seed10", "seed2", "seed0", "seedx", "notes"):
        (tmp_path / "dra" / name).mkdir(parents=True)
    (tmp_path / "dra" / "seed3").write_text("a file, not a run")
    assert layout.seeds_present(tmp_path, "dra") == [0, 2, 10]
    assert layout.seeds_present(tmp_path, "baseline") == []
    assert layout.run_dir(tmp_path, "dra", 2) == tmp_path / "dra" / "seed2"
