"""The report's reproducibility summary, study, hard-example and deviations sections."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from dranet_keras.report.render import build_context, render_html
from tests.report.pipeline_fixtures import PAPER_RESULTS, REPO, write_outputs


def _strata(value):
    cell = {"num_query": 30, "mAP": value, "rank1": value, "mINP": value}
    return {"occlusion": {"occluded": cell, "not occluded": {**cell, "mAP": value + 0.1}}, "view": {"back": cell, "front": cell},
            "lighting": {"dark": cell, "normal": cell, "bright": {"num_query": 3, "mAP": None, "rank1": None, "mINP": None}}}


def _study_result(name, seed, standard, occluded):
    split = lambda m: {"mAP": m, "rank1": 0.6, "rank5": 0.8, "rank10": 0.9, "mINP": 0.2, "num_query": 30, "num_gallery": 40}  # noqa: E731
    return {"name": name, "variant": name, "seed": seed, "standard": {**split(standard), "strata": _strata(standard)}, "occluded": split(occluded),
            "mask": None if name == "baseline" else {"mean": 0.48, "sd": 0.16, "p05": 0.23, "p50": 0.47, "p95": 0.75, "near_half": 0.2},
            "losses": [3.0, 2.0, 1.99, 1.98] if name == "baseline" else [3.0, 2.5, 2.0, 1.5], "train_wall_s": 100.0, "train_cpu_s": 180.0, "eval_wall_s": 20.0, "machine": "x86_64 test, 2 cores"}


def _context(tmp_path, with_study: bool):
    root = write_outputs(tmp_path / "pipeline")
    (root / "experiments").mkdir()
    for name in ("claims.yaml", "deviations.yaml"):
        shutil.copy(REPO / "experiments" / name, root / "experiments" / name)
    shutil.copytree(REPO / "experiments" / "study", root / "experiments" / "study", ignore=shutil.ignore_patterns("results"))
    if with_study:
        for seed in range(4):
            for name, standard, occluded in (("baseline", 0.40, 0.20), ("dra", 0.45 + 0.002 * seed, 0.30 + 0.002 * seed)):
                path = root / "experiments/study/results" / name / f"seed{seed}.json"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(_study_result(name, seed, standard, occluded)))
        floors = {"colour_histogram": _study_result("colour_histogram", 0, 0.037, 0.032), "chance": _study_result("chance", 0, 0.011, 0.007)}
        del floors["chance"]["standard"]["strata"]
        references = {name: {split: result[split] for split in ("standard", "occluded")} for name, result in floors.items()}
        (root / "experiments/study/results/references.json").write_text(json.dumps({"protocol_digest": "x", "references": references}))
    import os

    cwd = os.getcwd()
    os.chdir(root)  # the protocol's paths are relative to the checkout
    try:
        return build_context(root=root, results_dir=root / "results", models_dir=root / "models", paper_results=PAPER_RESULTS,
                             params_path=REPO / "params.yaml", dataset="synthetic", seed=0)
    finally:
        os.chdir(cwd)


def test_the_summary_judges_each_claim_on_the_study_and_the_demo_says_one_seed(tmp_path):
    context = _context(tmp_path, with_study=True)
    claims = {row["id"]: row for row in context["study"]["claims"]}
    c1 = claims["C1"]["comparisons"][0]
    assert c1["interval"]["n"] == 4 and abs(c1["interval"]["mean"] - (5.0 + 0.2 * 1.5)) < 1e-9  # 5 + 0.2 k points, k = 0..3
    assert claims["C1"]["verdict"] == "reproduced"
    assert claims["C4"]["comparisons"][0]["interval"]["mean"] > 4  # occluded gain 10.3, standard 5.3
    assert claims["C3"]["verdict"] == "not measured"  # no cic or sic results yet
    html = render_html(context)
    summary = html[html.index('<section id="summary">'): html.index("</section>", html.index('<section id="summary">'))]
    assert "8 of 35 planned runs done" in summary and "reproduced" in summary
    assert summary.count("inconclusive: one seed") >= 3  # the demo's runs have one seed each
    assert "+5.30 [+4.89, +5.71]" in summary  # t(0.975, 3) = 3.182, s.d. 0.258


def test_study_hard_examples_and_deviations_sections_show_what_they_promise(tmp_path):
    context = _context(tmp_path, with_study=True)
    html = render_html(context)
    study = html[html.index('<section id="study">'):]
    # baseline: 2.0 -> 1.98 over the last 2 epochs (1%): converged; dra: 2.5 -> 1.5 (40%): not
    assert re.search(r'baseline</td><td>4</td><td>4 of 4</td>', study) and re.search(r'dra</td><td>4</td><td class="missing">0 of 4</td>', study)
    assert "Training 13 min wall (24 min CPU)" in study  # 8 runs x 100 s, x 180 s
    # the floors on the study's own split, beside the runs, in both tables
    for floor, value in (("colour histogram", "3.7"), ("chance", "1.1")):
        assert f'<tr data-run="{floor}" class="reference"><td class="label">{floor}</td><td>floor</td><td>{value}</td>' in study
    hard = html[html.index('<section id="hard">'): html.index('<section id="curves">')]
    assert "<svg" in hard and "too few" in hard  # the bright stratum has 3 queries
    assert "<th>colour histogram mAP</th>" in hard and "<th>chance mAP</th>" not in hard  # chance has no strata
    assert '<tr data-run="chance" class="reference"><td class="label">chance</td><td>floor</td><td>0.7</td>' in hard  # the occluded split
    deviations = html[html.index('<section id="deviations">'):]
    assert deviations.count("<tr>") >= 8 and "initialisation" in deviations


def test_without_study_results_the_report_says_how_to_run_it(tmp_path):
    html = render_html(_context(tmp_path, with_study=False))
    assert "has no results yet" in html and "dranet study --commit" in html


def test_the_occluded_split_and_its_rankings_are_shown_beside_the_strata(tmp_path):
    root = write_outputs(tmp_path / "pipeline")
    for variant, value in (("baseline", 0.2), ("dra", 0.3)):
        run = root / "results" / variant / "seed0"
        metrics = json.loads((run / "metrics.json").read_text())
        metrics["occluded"] = {"num_query": 12, "num_gallery": 30, "skipped_queries": 0, "mAP": value, "mINP": 0.1, "rank1": value,
                               "rank5": 0.5, "rank10": 0.6, "rank20": 0.7}
        (run / "metrics.json").write_text(json.dumps(metrics))
        shutil.copy(run / "rankings.json", run / "occluded_rankings.json")
    context = build_context(root=root, results_dir=root / "results", models_dir=root / "models", paper_results=PAPER_RESULTS,
                            params_path=REPO / "params.yaml", dataset="synthetic", seed=0)
    section = context["datasets"][0]
    assert {row["variant"]: row["cells"]["mAP"]["value"] for row in section["occluded"]} == {"baseline": 0.2, "dra": 0.3}
    assert section["occluded_retrieval"]["variant"] == "dra"
    html = render_html(context)
    hard = html[html.index('<section id="hard">'): html.index('<section id="curves">')]
    assert "the occluded-query split" in hard and "(12 queries" in hard
    assert 'data-variant="dra"><td class="label">dra</td><td>30.0</td>' in hard
    assert hard.count('class="tile query"') == len(section["occluded_retrieval"]["rows"]) > 0
