"""The page in a real browser (headless Chromium): renders, no console errors, no network."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from .browser import find_chromium, visit_page
from dranet_keras.report.figures import attention_evidence
from dranet_keras.report.render import build_context, render_html

from .pipeline_fixtures import PAPER_RESULTS

if find_chromium() is None and not os.environ.get("DRANET_REQUIRE_BROWSER"):
    pytest.skip("chromium is not installed (.ci/run installs it and sets DRANET_REQUIRE_BROWSER=1)", allow_module_level=True)


def test_report_renders_offline_without_errors(pipeline_outputs, tmp_path):
    root = pipeline_outputs()
    rng = np.random.default_rng(0)
    maps = {"channel_masks": rng.beta(2, 5, size=(3, 3, 64)), "class_map": rng.uniform(size=(3, 8, 4)).astype("float32")}
    context = build_context(root=root, results_dir=root / "results", models_dir=root / "models", paper_results=PAPER_RESULTS,
                            params_path=root / "params.yaml", dataset="synthetic", seed=0,
                            attention=attention_evidence(rng.uniform(0, 255, size=(3, 128, 64, 3)), maps))
    page = tmp_path / "index.html"
    page.write_text(render_html(context))
    visit = visit_page(page, tmp_path / "screenshot.png")
    assert visit.errors == []
    assert visit.requests[0] == page.resolve().as_uri()
    assert [url for url in visit.requests[1:] if not url.startswith("data:")] == []  # nothing from the network
    assert visit.title == "DRANet reproduction report (synthetic data)"
    shot = np.asarray(Image.open(visit.screenshot).convert("RGB"))
    assert shot.shape[1] == 1280 and shot.shape[0] > 2000  # the whole page, not one viewport
    assert shot.std() > 20  # something was drawn


def test_visitor_sees_errors_and_requests(tmp_path):
    """The checks above can fail: an external image and a console error are both reported."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><title>bad</title><img src="http://example.invalid/x.png"><script>console.error("boom")</script>')
    visit = visit_page(page)
    assert "http://example.invalid/x.png" in visit.requests
    assert "boom" in visit.errors


def test_report_screenshot_uses_chromium_s_own_flag(tmp_path):
    """`dranet report --screenshot`: the runtime package's small path, without the driver above."""
    from dranet_keras.report.screenshot import screenshot

    page = tmp_path / "page.html"
    page.write_text('<!DOCTYPE html><body style="margin:0;background:#fff"><div style="height:300px;background:#f00"></div>')
    shot = np.asarray(Image.open(screenshot(page, tmp_path / "shot.png", width=400, height=600)).convert("RGB"))
    assert shot.shape == (600, 400, 3)
    assert (shot[:300] == [255, 0, 0]).all() and (shot[300:] == [255, 255, 255]).all()
