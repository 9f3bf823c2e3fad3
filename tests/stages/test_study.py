"""The study's machinery at a tiny size: the protocol file, the schedule, a run of 2 seeds of
baseline and dra (pretrain on disjoint identities, train, evaluate on the standard and the
occluded split), resuming by skipping finished results, refusing results of another protocol,
and committing a result alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dranet_keras.study.protocol import DEFAULT_PROTOCOL, ProtocolError, load_protocol

ROOT = Path(__file__).resolve().parents[2]
TINY_DATA = {
    "root": None, "prepared_dir": None, "synthetic_train_ids": 4, "synthetic_test_ids": 4, "synthetic_cameras": 2,
    "synthetic_distractors": 1, "synthetic_occluded_ids": 3, "synthetic_height": 48, "synthetic_width": 16,
}


def tiny_protocol(tmp_path: Path) -> Path:
    """The committed protocol and params, shrunk: 48x16 images, a ResNet14, 4 ids, 1 eager epoch, 2 seeds."""
    params = yaml.safe_load((ROOT / "experiments/study/params.yaml").read_text())
    params["data"].update(TINY_DATA, root=str(tmp_path / "work/data/study"), prepared_dir=str(tmp_path / "work/prepared"))
    params["model"].update(height=48, width=16, depth=14, reduce_dim=32)  # a ResNet14: the test is of the runner
    params["train"].update(epochs=1, batch_size=8, lr_milestones=[], run_eagerly=True)
    params["pretrain"].update(epochs=0, lr_milestones=[])  # the initial backbone: one process less
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    protocol = yaml.safe_load((ROOT / DEFAULT_PROTOCOL).read_text())
    protocol.update(params=str(tmp_path / "params.yaml"), work_dir=str(tmp_path / "work"), results_dir=str(tmp_path / "results"), mask_images=4)
    protocol["pretrain"]["train_ids"] = 4
    for run in protocol["runs"].values():
        run["seeds"] = 2
    path = tmp_path / "protocol.yaml"
    path.write_text(yaml.safe_dump(protocol))
    return path


def dranet(*arguments, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "dranet_keras.cli", *arguments], cwd=cwd, capture_output=True, text=True, timeout=1200)


def test_the_committed_protocol_loads_and_orders_pairs_first():
    protocol = load_protocol(DEFAULT_PROTOCOL)
    jobs = [(run.name, seed) for run, seed in protocol.schedule()]
    assert jobs[:4] == [("baseline", 0), ("dra", 0), ("baseline", 1), ("dra", 1)]
    assert len(jobs) == sum(run.seeds for run in protocol.runs.values()) == 35
    assert jobs.index(("dra", 9)) < jobs.index(("cic", 0))  # every C1 pair before the ablation
    assert protocol.runs["dra-parts2"].overrides == ("model.parts=2",)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda p: p.pop("runs"), "missing key 'runs'"),
        (lambda p: p["runs"]["dra"].update(variant="dra2"), "runs.dra.variant must be one of"),
        (lambda p: p.update(order=[["baseline"]]), "order must name every run exactly once"),
        (lambda p: p.update(params="nowhere.yaml"), "params nowhere.yaml does not exist"),
    ],
)
def test_a_bad_protocol_is_one_line(tmp_path, edit, message):
    protocol = yaml.safe_load((ROOT / DEFAULT_PROTOCOL).read_text())
    protocol["params"] = str(ROOT / protocol["params"])
    edit(protocol)
    path = tmp_path / "protocol.yaml"
    path.write_text(yaml.safe_dump(protocol))
    with pytest.raises(ProtocolError, match=message) as error:
        load_protocol(path)
    assert "\n" not in str(error.value) and str(path) in str(error.value)


def test_a_result_is_committed_alone(tmp_path):
    from dranet_keras.stages.study import commit_result

    def git(*arguments):
        return subprocess.run(["git", *arguments], cwd=tmp_path, capture_output=True, text=True, check=True).stdout

    git("init", "-q")
    git("config", "user.email", "t@example.org")
    git("config", "user.name", "t")
    (tmp_path / "other.txt").write_text("staged, not to be committed with the result\n")
    git("add", "other.txt")
    result = tmp_path / "results" / "dra" / "seed0.json"
    result.parent.mkdir(parents=True)
    result.write_text("{}\n")
    import os

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert commit_result(Path("results/dra/seed0.json"), "study: dra seed 0")
    finally:
        os.chdir(cwd)
    assert git("show", "--name-only", "--format=%s", "HEAD").split() == ["study:", "dra", "seed", "0", "results/dra/seed0.json"]
    assert "other.txt" in git("diff", "--cached", "--name-only")  # still staged, not committed


@pytest.mark.slow  # 5 TensorFlow processes (pretrain without training, 4 runs) at 48x16, eager
@pytest.mark.timeout(1500)
def test_a_tiny_study_runs_resumes_and_refuses_a_changed_protocol(tmp_path):
    protocol = tiny_protocol(tmp_path)
    done = dranet("study", "--protocol", str(protocol), "--only", "baseline", "--only", "dra")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ran 4 run(s): baseline:0, dra:0, baseline:1, dra:1" in done.stdout
    results = {(path.parent.name, path.name): json.loads(path.read_text()) for path in (tmp_path / "results").glob("*/*.json")}
    assert set(results) == {(v, f"seed{k}.json") for v in ("baseline", "dra") for k in (0, 1)}
    for (variant, _), result in results.items():
        assert result["variant"] == variant and result["losses"] and result["epochs"] == 1
        for split in ("standard", "occluded"):
            values = result[split]
            assert 0 <= values["mAP"] <= 1 and len(values["per_query"]["ap"]) == len(values["per_query"]["query"])
        assert result["standard"]["num_query"] == 4 * 2 and result["occluded"]["num_query"] == 3 * 2
        assert result["occluded"]["num_gallery"] == 3 * 2 + result["standard"]["num_gallery"]
        assert set(result["standard"]["strata"]) == {"occlusion", "occluded share", "view", "lighting"}
        assert (result["mask"] is None) == (variant == "baseline")
    # both variants of a seed start from the same backbone
    assert len({result["backbone_sha256"] for result in results.values()}) == 1
    # the floors, scored once on the same splits as the runs
    references_path = tmp_path / "results" / "references.json"
    references = json.loads(references_path.read_text())
    assert references["protocol_digest"] == results["dra", "seed0.json"]["protocol_digest"]
    for name in ("colour_histogram", "chance"):
        for split in ("standard", "occluded"):
            floor, run = references["references"][name][split], results["dra", "seed0.json"][split]
            assert (floor["num_query"], floor["num_gallery"]) == (run["num_query"], run["num_gallery"]) and 0 <= floor["mAP"] <= 1
    assert set(references["references"]["colour_histogram"]["standard"]["strata"]) == set(results["dra", "seed0.json"]["standard"]["strata"])
    # a rerun skips what is there, the floors included
    scored = references_path.stat().st_mtime_ns
    again = dranet("study", "--protocol", str(protocol), "--only", "baseline", "--only", "dra")
    assert again.returncode == 0 and "ran 0 run(s)" in again.stdout and references_path.stat().st_mtime_ns == scored
    again = dranet("study", "--protocol", str(protocol), "--only", "baseline", "--only", "dra", "--dry-run")
    assert again.returncode == 0 and "left 0 run(s)" in again.stdout
    # results of another protocol are never mixed in
    protocol.write_text(protocol.read_text().replace("mask_images: 4", "mask_images: 5"))
    refused = dranet("study", "--protocol", str(protocol), "--dry-run")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "was run under protocol" in refused.stderr
