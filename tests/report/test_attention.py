"""Attention evidence from a real (tiny, untrained) DRANet, end to end into the page."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dranet_keras.report.attention import model_attention, training_samples
from dranet_keras.report.figures import attention_evidence
from dranet_keras.report.render import build_context, render_html

from .pipeline_fixtures import PAPER_RESULTS, person_image


def test_tiny_model_attention_into_report(tmp_path):
    from dranet_keras.models import build_dranet

    rows = []
    for pid in (3, 0, 1, 2, 4):  # unsorted on purpose; two images of pid 0
        for shot in range(2 if pid == 0 else 1):
            path = f"img/{pid:04d}_{shot}.png"
            (tmp_path / "img").mkdir(exist_ok=True)
            person_image(pid, pid * 10 + shot).save(tmp_path / path)
            rows.append({"split": "train", "path": path, "pid": pid, "camid": shot})
    rows.append({"split": "query", "path": "img/0003_0.png", "pid": 9, "camid": 0})
    pd.DataFrame(rows).to_csv(tmp_path / "manifest.csv", index=False)

    images, labels = training_samples(tmp_path / "manifest.csv", tmp_path, count=4, image_size=(64, 32))
    assert images.shape == (4, 64, 32, 3) and images.dtype == np.float32
    assert labels.tolist() == [0, 1, 2, 3]  # first identities in pid order, one image each, train only

    model = build_dranet(num_ids=5, input_shape=(64, 32, 3), depth=14, reduce_dim=64)
    maps = model_attention(model, images, labels)
    assert maps["channel_masks"].shape == (4, 3, 64)
    assert maps["class_map"].shape == (4, 4, 2)  # 64x32 input -> 4x2 feature map
    for stripe in np.array_split(maps["class_map"], 3, axis=1):  # per-stripe min-max: 0 and 1 in each
        flat = stripe.reshape(4, -1)
        np.testing.assert_allclose(flat.min(axis=1), 0.0, atol=1e-6)
        np.testing.assert_allclose(flat.max(axis=1), 1.0, atol=1e-6)
    evidence = attention_evidence(images, maps, erase=model.erase, erase_threshold=model.erase_threshold)
    for sample, h in zip(evidence["samples"], maps["class_map"], strict=True):
        assert sample["erased_share"] == pytest.approx(float(h.mean()))  # soft: D = B * (1 - h)

    (tmp_path / "params.yaml").write_text("seed: 0\n")
    context = build_context(root=tmp_path, results_dir=tmp_path / "results", models_dir=tmp_path / "models",
                            paper_results=PAPER_RESULTS, params_path=tmp_path / "params.yaml", dataset="synthetic",
                            seed=0, attention=evidence)
    html = render_html(context)
    section = html[html.index('<section id="attention">') :]
    section = section[: section.index("</section>")]
    assert section.count('alt="RSAM map') == 4
    assert section.count("<svg") == 1  # the channel-mask histogram
