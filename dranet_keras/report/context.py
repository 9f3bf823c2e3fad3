"""The report's context from the pipeline's files: what the HTML page and the notebook show.

`collect_context` takes plain values only (paths as strings), so the notebook's first cell can
call it with the same arguments the `dranet report` stage used.
"""

from __future__ import annotations

from pathlib import Path

from dranet_keras import layout
from dranet_keras.report.attention import attention_from_files
from dranet_keras.report.render import build_context

ATTENTION_VARIANT = "dra"  # the attention figures need both reverse-attention branches


def collect_context(
    *,
    root: str,
    results_dir: str,
    models_dir: str,
    paper_results: str,
    params_path: str,
    dataset: str,
    seed: int,
    manifest: str,
    attention_samples: int,
) -> dict:
    """The report context, attention evidence included (the notebook calls this too); the
    attention figures show the `seed` run of dra."""
    root_path = Path(root)
    # The pipeline's files first: a malformed one is refused before the model loads.
    context = build_context(
        root=root_path,
        results_dir=root_path / results_dir,
        models_dir=root_path / models_dir,
        paper_results=root_path / paper_results,
        params_path=Path(params_path),
        dataset=dataset,
        seed=seed,
    )
    if attention_samples > 0:
        model = root_path / layout.model_path(ATTENTION_VARIANT, seed, models_dir)
        attention, note = attention_from_files(model, root_path / manifest, root_path, attention_samples)
    else:
        attention, note = None, "skipped (--attention-samples 0)"
    return {**context, "attention": attention, "attention_note": note}
