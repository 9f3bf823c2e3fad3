"""Figures: SVG plots without outside references, overlays that paint exactly the erased cells."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image

from dranet_keras.report import figures


def decode_png(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def assert_self_contained_svg(svg: str):
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert not re.search(r"""(?:href|src)\s*=\s*["'](?!#|data:)""", svg)
    assert "<text" not in svg  # text drawn as paths: no font needed


def test_plots_are_inline_svg():
    cmc = np.linspace(0.6, 1.0, 20)
    assert_self_contained_svg(figures.cmc_svg({"baseline": cmc, "dra": np.minimum(1, cmc + 0.02)}))
    log = {"epoch": np.arange(1, 4), "loss": np.array([3.0, 2.0, 1.5]), "accuracy": np.array([0.1, 0.4, 0.6])}
    assert_self_contained_svg(figures.training_svg({"dra": log}))
    assert_self_contained_svg(figures.channel_mask_svg(np.random.default_rng(0).uniform(size=(2, 3, 64))))


def test_class_map_overlay_paints_each_cell_with_opacity_h():
    image = np.full((64, 32, 3), 100, dtype=np.uint8)
    class_map = np.zeros((4, 2))
    class_map[1, 0] = 1.0  # feature cell (row 1, col 0) covers image rows 16..31, cols 0..15
    class_map[3, 1] = 0.5  # rows 48..63, cols 16..31 at half the opacity
    out = figures.class_map_overlay(image, class_map, colour=(200, 0, 0), alpha=0.5)
    expected = image.copy()
    expected[16:32, 0:16] = (150, 50, 50)  # 0.5 * 100 + 0.5 * (200, 0, 0)
    expected[48:64, 16:32] = (125, 75, 75)  # 0.75 * 100 + 0.25 * (200, 0, 0)
    np.testing.assert_array_equal(out, expected)


def test_attention_evidence_from_arrays():
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 255, size=(3, 64, 32, 3)).astype("float32")
    class_map = np.zeros((3, 4, 2), dtype="float32")
    class_map[0, 0, 0] = 1  # 1 of 8 cells
    class_map[1] = 0.5  # every cell at half
    class_map[2, :, 0] = 0.7  # half the cells at 0.7
    maps = {"channel_masks": rng.uniform(size=(3, 3, 16)), "class_map": class_map}
    soft = figures.attention_evidence(images, maps)
    assert [s["erased_share"] for s in soft["samples"]] == pytest.approx([0.125, 0.5, 0.35])  # mean h
    hard = figures.attention_evidence(images, maps, erase="hard", erase_threshold=0.6)
    assert [s["erased_share"] for s in hard["samples"]] == [0.125, 0.0, 0.5]  # cells with h >= 0.6
    assert hard["erase"] == "hard, h ≥ 0.6" and soft["erase"] == "soft"
    assert decode_png(soft["samples"][0]["overlay"]).shape == (64, 32, 3)
    assert_self_contained_svg(soft["channel_svg"])
    # a variant without CIC / SIC: no histogram, no overlay
    only_sic = figures.attention_evidence(images[:1], {"class_map": class_map[:1]})
    assert only_sic["channel_svg"] is None and only_sic["samples"][0]["overlay"] is not None
    only_cic = figures.attention_evidence(images[:1], {"channel_masks": maps["channel_masks"][:1]})
    assert only_cic["samples"][0]["overlay"] is None and only_cic["samples"][0]["erased_share"] is None


def test_missing_image_gives_no_thumbnail(tmp_path):
    assert figures.thumbnail_uri(tmp_path / "absent.png") is None
    (tmp_path / "broken.png").write_bytes(b"not a png")
    assert figures.thumbnail_uri(tmp_path / "broken.png") is None
    Image.fromarray(np.zeros((128, 64, 3), np.uint8)).save(tmp_path / "ok.png")
    assert decode_png(figures.thumbnail_uri(tmp_path / "ok.png")).shape == (96, 48, 3)
