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
from dranet_keras.report.context import collect_context
from dranet_keras.report.notebook import build_notebook, execute_notebook
from dranet_keras.report.render import render_html

USES_TENSORFLOW = True  # dranet_keras.cli imports it quietly first


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results-dir", default=layout.RESULTS_ROOT, help="evaluation outputs (default: %(default)s)")
    parser.add_argument("--models-dir", default=layout.MODELS_ROOT, help="training outputs (default: %(default)s)")
    parser.add_argument("--paper-results", default="experiments/paper_results.yaml", help="paper claims and public baselines")
    parser.add_argument("--output-dir", default=layout.REPORTS_ROOT, help="where index.html and report.ipynb go (default: %(default)s)")
    parser.add_argument("--attention-samples", type=int, default=4, help="training images for the attention figures (0: skip)")
    parser.add_argument("--execute", action="store_true", help="also execute the notebook with nbclient (slow: loads the model)")
    parser.add_argument("--screenshot", action="store_true", help="also save <output-dir>/screenshot.png with headless Chromium")


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
        "manifest": str(layout.manifest_path(config.data.name, config.data.prepared_dir)),
        "attention_samples": args.attention_samples,
    }
    context = collect_context(**arguments)
    notebook = build_notebook(context, arguments)
    if args.execute:
        execute_notebook(notebook, Path.cwd())
    output = Path(args.output_dir)
    html_path = output / layout.REPORT_HTML
    atomic_write_text(html_path, render_html(context))
    atomic_write_text(output / layout.REPORT_NOTEBOOK, nbformat.writes(notebook))
    if args.screenshot:
        from dranet_keras.report.screenshot import screenshot

        screenshot(html_path, output / layout.SCREENSHOT)
    print(html_path)
    return 0
