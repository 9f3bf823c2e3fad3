"""Render the reproducibility report: reports/index.html (one self-contained file) and
reports/report.ipynb, from the files the pipeline wrote (results/, models/, dvc.lock) and
experiments/paper_results.yaml. Prints the path of the HTML report."""

from __future__ import annotations

import argparse
from pathlib import Path

import nbformat

from dranet_keras import layout
from dranet_keras.config import load_config
from dranet_keras.io import atomic_write_text
from dranet_keras.report.attention import attention_from_files
from dranet_keras.report.notebook import build_notebook, execute_notebook
from dranet_keras.report.render import build_context, render_html

USES_TENSORFLOW = True  # dranet_keras.cli imports it quietly first


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results-dir", default=layout.RESULTS_DIR, help=f"evaluation outputs (default: {layout.RESULTS_DIR})")
    parser.add_argument("--models-dir", default=layout.MODELS_DIR, help=f"training outputs (default: {layout.MODELS_DIR})")
    parser.add_argument("--paper-results", default="experiments/paper_results.yaml", help="paper claims and public baselines")
    parser.add_argument("--output-dir", default="reports", help="where index.html and report.ipynb go (default: reports)")
    parser.add_argument("--attention-samples", type=int, default=4, help="training images for the attention figures (0: skip)")
    parser.add_argument("--execute", action="store_true", help="also execute the notebook with nbclient (slow: loads the model)")
    parser.add_argument("--screenshot", action="store_true", help="also save <output-dir>/screenshot.png with headless Chromium")


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
    if attention_samples > 0:
        attention, note = attention_from_files(layout.run_dir(root_path / models_dir, "dra", seed) / "model.keras", root_path / manifest, root_path, attention_samples)
    else:
        attention, note = None, "skipped (--attention-samples 0)"
    return build_context(
        root=root_path,
        results_dir=root_path / results_dir,
        models_dir=root_path / models_dir,
        paper_results=root_path / paper_results,
        params_path=Path(params_path),
        dataset=dataset,
        seed=seed,
        attention=attention,
        attention_note=note,
    )


def run(args: argparse.Namespace) -> int:
    config = load_config(args.params, args.overrides)
    arguments = {
        "root": ".",
        "results_dir": args.results_dir,
        "models_dir": args.models_dir,
        "paper_results": args.paper_results,
        "params_path": args.params,
        "dataset": config.data.name,
        "seed": config.seeds[0],
        "manifest": str(Path(config.data.prepared_dir) / config.data.name / "manifest.csv"),
        "attention_samples": args.attention_samples,
    }
    context = collect_context(**arguments)
    notebook = build_notebook(context, arguments)
    if args.execute:
        execute_notebook(notebook, Path.cwd())
    output = Path(args.output_dir)
    html_path = output / "index.html"
    atomic_write_text(html_path, render_html(context))
    atomic_write_text(output / "report.ipynb", nbformat.writes(notebook))
    if args.screenshot:
        from dranet_keras.report.browser import visit_page

        visit_page(html_path, output / "screenshot.png")
    print(html_path)
    return 0
