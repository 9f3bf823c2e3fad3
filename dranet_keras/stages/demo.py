"""Run the whole pipeline (dvc.yaml: prepare -> reference, pretrain -> train and evaluate per
variant and seed -> report) on the active experiment, params.yaml (by default the embedded
synthetic data set), with `dvc repro`, then print the path of the HTML report. Stages whose
inputs did not change are not run again; an interrupted run resumes where it stopped."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from dranet_keras import layout
from dranet_keras.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", default=".", help="the repository with dvc.yaml (default: current folder)")


def run(args: argparse.Namespace) -> int:
    repo = Path(args.repo).resolve()
    if args.overrides or Path(args.params).name != "params.yaml":
        raise UserError(
            "demo runs dvc.yaml on params.yaml; for other settings use "
            "`dvc exp run -S train.epochs=3` or copy an experiments/*.yaml over params.yaml"
        )
    if not (repo / "dvc.yaml").is_file():
        raise UserError(f"{repo / 'dvc.yaml'} not found: run the demo from the repository root (or pass --repo)")
    # Stage commands run tools/dranet, which takes the `dranet` on PATH where the repository has
    # no .venv (a conda environment): make that the one beside this Python.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.setdefault("DVC_NO_ANALYTICS", "1")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=repo, env=env)
    if done.returncode != 0:
        print(f"dranet demo: `dvc repro` failed (exit {done.returncode}); re-run to resume", file=sys.stderr)
        return done.returncode
    print(f"dranet demo: pipeline done in {time.perf_counter() - start:.0f} s")
    print(f"dranet demo: report: {repo / layout.REPORTS_ROOT / layout.REPORT_HTML}")
    return 0
