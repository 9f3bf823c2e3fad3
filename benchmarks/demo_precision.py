"""The demo's precision, decided on measurements: the demo pipeline as params.yaml has it (the
baseline pre-trained, then every variant fine-tuned from it, then evaluated) run from a fresh
clone in float32 and in mixed bfloat16, each over the same training seeds
(`dvc exp run -S seeds=[0,1,2] -S train.mixed_precision=...`). Seed k gives the same data order
and augmentation in both precisions, so the two are compared seed k against seed k.

The rule, fixed before the first measurement (docs/benchmarks.md says the same):
* bf16 is clearly faster: the training seconds the stages record (train_meta.json's
  `wall_time_s`, the pre-training and every training) sum to at least 10% less in bf16
  (fp32 / bf16 >= SPEED_UP);
* retrieval is equal within the seed spread: for every variant, the mean over seeds of
  bf16 - fp32 mAP lies within ± the standard deviation of that variant's fp32 mAP over the seeds.
If both hold, the demo trains with `train.mixed_precision: auto`; otherwise it stays float32.

    .venv/bin/python benchmarks/demo_precision.py [--seeds 0,1,2] [--keep DIR]

With --keep, an interrupted run resumes: each precision's figures are kept in DIR once measured,
and the pipeline of the one in progress resumes where it stopped (`dvc exp run` skips finished
stages, a training resumes from its backup).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

import yaml
from demo_time import fresh_clone, short_commit, timed_lines, write_log  # benchmarks/ (scripts run as files)
from tables import ROOT, add_doc_argument, publish

from dranet_keras import layout
from dranet_keras.io import atomic_write_text
from dranet_keras.study.statistics import paired_interval

PRECISIONS = {"float32": "null", "mixed_bfloat16": "mixed_bfloat16"}  # train_meta's name -> the -S value
SPEED_UP = 1.10


def run_pipeline(clone: Path, env: dict, precision: str, seeds: list[int], log: Path) -> dict:
    """Run the demo pipeline in `precision` (its output into `log`); mAP and seconds per variant and seed."""
    command = [str(clone / ".venv" / "bin" / "dvc"), "exp", "run", "-S", f"seeds={json.dumps(seeds)}",
               "-S", f"train.mixed_precision={PRECISIONS[precision]}"]
    lines, wall, _ = timed_lines(command, clone, env)
    write_log(log, lines)
    params = yaml.safe_load((clone / "params.yaml").read_text())
    models, results = clone / layout.MODELS_ROOT, clone / layout.RESULTS_ROOT
    pretrain = json.loads((layout.pretrain_dir(models) / layout.TRAIN_META).read_text())
    runs = {}
    for variant in params["variants"]:
        for seed in seeds:
            meta = json.loads((layout.model_dir(variant, seed, models) / layout.TRAIN_META).read_text())
            metrics = json.loads((layout.results_dir(variant, seed, results) / layout.METRICS).read_text())
            if meta["mixed_precision"] != precision:
                raise SystemExit(f"{variant} seed {seed} trained in {meta['mixed_precision']}, expected {precision}")
            runs[f"{variant}/{seed}"] = {"mAP": metrics["mAP"], "train_s": meta["wall_time_s"],
                                         "evaluate_s": metrics["wall_time_s"]}
    return {"variants": params["variants"], "pretrain_s": pretrain["wall_time_s"], "wall_s": wall, "runs": runs}


def measured(workdir: Path, clone: Path, env: dict, commit: str, precision: str, seeds: list[int]) -> dict:
    """One precision's figures, from `workdir` when an earlier run measured them at this commit."""
    saved = workdir / f"{precision}.json"
    if saved.is_file():
        figures = json.loads(saved.read_text())
        if (figures["seeds"], figures["commit"]) == (seeds, commit):
            return figures
    figures = {"seeds": seeds, "commit": commit, "load_at_start": os.getloadavg()[0], **run_pipeline(clone, env, precision, seeds, workdir / f"{precision}.log")}
    atomic_write_text(saved, json.dumps(figures, indent=1))  # a kill mid-write must not leave figures a resume cannot read
    return figures


def training_seconds(figures: dict) -> float:
    return figures["pretrain_s"] + sum(run["train_s"] for run in figures["runs"].values())


def decide(fp32: dict, bf16: dict) -> tuple[list[list], list[list], str]:
    """The retrieval rows, the time rows and the decision line, by the module's rule."""
    seeds, rows, equal = fp32["seeds"], [], True
    for variant in fp32["variants"]:
        a = [100 * fp32["runs"][f"{variant}/{s}"]["mAP"] for s in seeds]
        b = [100 * bf16["runs"][f"{variant}/{s}"]["mAP"] for s in seeds]
        difference, spread = paired_interval([y - x for x, y in zip(a, b)]), statistics.stdev(a)
        within = abs(difference.mean) <= spread
        equal &= within
        rows.append([f"`{variant}`", " / ".join(f"{v:.1f}" for v in a), " / ".join(f"{v:.1f}" for v in b),
                     f"{difference.mean:+.2f} [{difference.low:+.2f}, {difference.high:+.2f}]", f"{spread:.2f}",
                     "yes" if within else "**no**"])
    speed_up = training_seconds(fp32) / training_seconds(bf16)
    times = [[name, f"{figures['pretrain_s']:.0f}", f"{training_seconds(figures):.0f}",
              f"{sum(run['evaluate_s'] for run in figures['runs'].values()):.0f}", f"{figures['wall_s']:.0f}"]
             for name, figures in (("float32", fp32), ("mixed_bfloat16", bf16))]
    faster = speed_up >= SPEED_UP
    decision = (f"Training time fp32 / bf16: **{speed_up:.2f}x** (clearly faster means >= {SPEED_UP:.2f}x: "
                f"{'yes' if faster else 'no'}); mAP equal within the seed spread for every variant: {'yes' if equal else 'no'}. "
                f"Decision: the demo trains in **{'`auto` (mixed bfloat16 here)' if faster and equal else 'float32'}**.")
    return rows, times, decision


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="HEAD", help="the commit to clone (default HEAD)")
    parser.add_argument("--seeds", type=lambda s: [int(part) for part in s.split(",")], default=[0, 1, 2],
                        help="training seeds, a comma list (default 0,1,2)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep the clone, logs and figures (resumable)")
    add_doc_argument(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        clone, env = fresh_clone(args.rev, workdir, reuse=True)
        commit = short_commit(args.rev)
        figures = {}
        for precision in PRECISIONS:
            figures[precision] = measured(workdir, clone, env, commit, precision, args.seeds)
            print(f"demo_precision: {precision}: {figures[precision]['wall_s']:.0f} s", flush=True)
    rows, times, decision = decide(figures["float32"], figures["mixed_bfloat16"])
    seeds = "/".join(str(s) for s in args.seeds)
    load = figures["float32"]["load_at_start"]  # when the measurement began (the figures may be kept from an earlier run)
    publish("demo_precision_retrieval",
            ["variant", f"fp32 mAP, seeds {seeds}", f"bf16 mAP, seeds {seeds}", "bf16 - fp32, mean [95% CI]",
             "fp32 s.d. over seeds", "within it"], rows, doc=args.doc, load_at_start=load,
            note=f"The demo pipeline (params.yaml: pre-training, then each variant fine-tuned and evaluated) from a fresh "
                 f"clone of {figures['float32']['commit']}, once per precision; mAP in %, each model embedding in its own precision.")
    publish("demo_precision_time", ["trained in", "pre-training s", "all training s", "all evaluation s", "`dvc exp run` wall s"],
            times, doc=args.doc, load_at_start=load, note=decision)


if __name__ == "__main__":
    main()
