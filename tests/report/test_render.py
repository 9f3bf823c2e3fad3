"""The rendered page shows exactly the numbers of the JSON inputs, escapes what it must,
and says 'not run' for what is missing."""

from __future__ import annotations

import json
import re

import pytest

from dranet_keras.report.inputs import ReportInputError
from dranet_keras.report.render import build_context, render_html

from .pipeline_fixtures import METRICS, PAPER_RESULTS
from .html_cells import find_cell, table_cells


def render(root, dataset="synthetic", **kwargs):
    context = build_context(
        root=root, results_dir=root / "results", models_dir=root / "models", paper_results=PAPER_RESULTS,
        params_path=root / "params.yaml", dataset=dataset, seed=0, **kwargs,
    )
    return context, render_html(context)


def test_ablation_values_equal_metrics_json(pipeline_outputs):
    root = pipeline_outputs()
    _, html = render(root)
    cells = table_cells(html)
    for variant in METRICS:
        stored = json.loads((root / "results" / variant / "seed0" / "metrics.json").read_text())
        for key in ("mAP", "rank1", "rank5", "rank10", "mINP"):
            cell = find_cell(cells, "ablation", dataset="synthetic", variant=variant, metric=key)
            assert float(cell["attrs"]["data-value"]) == stored[key]
            assert cell["text"] == f"{round(100 * stored[key], 1):.1f}"
    # hand-computed: 0.534 -> 53.4, dra re-ranked mAP 0.63 -> 63.0, cic has re-ranking off
    assert find_cell(cells, "ablation", variant="cic", metric="mAP")["text"] == "53.4"
    assert find_cell(cells, "ablation", variant="dra", metric="rerank.mAP")["text"] == "63.0"
    assert find_cell(cells, "ablation", variant="cic", metric="rerank.mAP")["text"] == "off"


def test_headline_gain_and_paper_claim(pipeline_outputs):
    _, html = render(pipeline_outputs(dataset="market1501", synthetic=False))
    cells = table_cells(html)
    row = [c for c in cells if c["table"].get("class") == "headline" and c["row"].get("data-metric") == "mAP" and c["row"].get("data-rerank") == "false"]
    assert [c["text"] for c in row] == ["mAP", "52.0", "55.0", "+3.0", "+2.0"]  # 0.55 - 0.52; paper: +2 on Market
    rerank_row = [c for c in cells if c["table"].get("class") == "headline" and c["row"].get("data-metric") == "rank1" and c["row"].get("data-rerank") == "true"]
    assert [c["text"] for c in rerank_row] == ["rank-1", "74.0", "76.0", "+2.0", "about unchanged"]
    assert "SYNTHETIC DATA" not in html and 'class="badge real"' in html


def test_public_baselines_beside_ours(pipeline_outputs):
    _, html = render(pipeline_outputs(dataset="market1501", synthetic=False))
    public = [c["text"] for c in table_cells(html) if c["row"].get("class") == "public"]
    # (mAP, rank-1) as published: torchreid 70.4/87.9, BoT 74.0/87.7 and 85.9/94.5, BDB 86.2/95.3
    for name, mAP, rank1 in (("torchreid", "70.4", "87.9"), ("standard baseline", "74.0", "87.7"),
                              ("all tricks", "85.9", "94.5"), ("Batch DropBlock", "86.2", "95.3")):
        index = next(i for i, text in enumerate(public) if name in text)
        assert public[index + 1 : index + 3] == [mAP, rank1]


def test_cuhk03_uses_the_cuhk03_claim(pipeline_outputs):
    _, html = render(pipeline_outputs(dataset="cuhk03_detected", synthetic=False))
    cells = table_cells(html)
    mAP_row = [c["text"] for c in cells if c["table"].get("class") == "headline" and c["row"].get("data-metric") == "mAP"]
    assert mAP_row[-1] == "+5.0"
    assert any("76.4" in c["text"] for c in cells if c["row"].get("class") == "public")  # BDB detected rank-1


def test_synthetic_is_marked(pipeline_outputs):
    context, html = render(pipeline_outputs())
    assert context["synthetic"] is True
    assert 'id="synthetic-banner"' in html and "SYNTHETIC DATA" in html
    mAP_row = [c["text"] for c in table_cells(html) if c["table"].get("class") == "headline" and c["row"].get("data-metric") == "mAP"]
    assert mAP_row[-1] == "no claim"


def test_dataset_name_with_script_is_escaped(pipeline_outputs):
    evil = 'evil<script>alert("x")</script>'
    _, html = render(pipeline_outputs(dataset=evil))
    assert "<script" not in html.lower()
    assert "evil&lt;script&gt;alert(" in html


def test_missing_variants_show_not_run(pipeline_outputs):
    _, html = render(pipeline_outputs(variants=("baseline", "dra")))
    cells = table_cells(html)
    for variant in ("cic", "sic"):
        row = [c["text"] for c in cells if c["table"].get("class") == "ablation" and c["row"].get("data-variant") == variant]
        assert row[1:8] == ["not run"] * 7


def test_synthetic_is_marked_before_any_run(tmp_path):
    (tmp_path / "params.yaml").write_text("seed: 0\n")
    _, html = render(tmp_path, dataset="synthetic")
    assert 'id="synthetic-banner"' in html and 'class="badge real"' not in html


def test_nothing_run_yet_still_renders(tmp_path):
    (tmp_path / "params.yaml").write_text("seed: 0\n")
    context, html = render(tmp_path, dataset="market1501", attention_note="models/dra/seed0/model.keras not found")
    assert [d["name"] for d in context["datasets"]] == ["market1501"]
    cells = table_cells(html)
    assert find_cell(cells, "headline", metric="mAP", rerank="false", variant="dra")["text"] == "not run"
    assert html.count("not run") >= 4 * 7 + 4  # ablation cells, curves, retrieval, attention
    assert "models/dra/seed0/model.keras not found" in html


def test_page_is_self_contained(pipeline_outputs):
    _, html = render(pipeline_outputs())
    assert "<svg" in html and "data:image/png;base64," in html
    # nothing is loaded from elsewhere: no scripts, stylesheets, fonts or non-data images
    assert not re.search(r"<(script|link|iframe|object|embed)\b", html, re.I)
    assert not re.search(r"""\bsrc\s*=\s*["'](?!data:)""", html)
    assert not re.search(r"url\((?!#)", html)  # CSS/SVG url() only to ids inside the page
    assert "Content-Security-Policy" in html


def test_ranking_tiles_coloured_by_match(pipeline_outputs):
    root = pipeline_outputs()
    rankings = json.loads((root / "results" / "dra" / "seed0" / "rankings.json").read_text())
    _, html = render(root)
    shown = rankings["queries"]
    matches = sum(item["match"] for q in shown for item in q["top"])
    assert html.count('class="tile match"') == matches
    assert html.count('class="tile wrong"') == sum(len(q["top"]) for q in shown) - matches


def test_malformed_metrics_name_the_file(pipeline_outputs):
    root = pipeline_outputs(variants=("dra",))
    path = root / "results" / "dra" / "seed0" / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["mAP"] = 55.0  # a percent where a fraction is expected
    path.write_text(json.dumps(metrics))
    with pytest.raises(ReportInputError, match=r"metrics\.json: key 'mAP': expected a fraction"):
        render(root)
