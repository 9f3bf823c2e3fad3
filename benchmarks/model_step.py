"""Train-step speed: float32 against mixed bfloat16 (default), or every DRANet variant with
Keras' own BatchNormalization against the fused one (--compare variants). All figures are
measured in this one run.

precision: SGD train steps of the configured variant at 256x128 batch 32 (the paper's input) and
at params.yaml's model.height x model.width, fp32 and bf16 steps interleaved so that machine noise
hits both alike (medians). Retrieval in each precision: benchmarks/demo_precision.py.

variants: AdamW train steps (batch 16) of every variant at 256x128 and at params.yaml's size,
each before and after dranet_keras/layers/batch_normalization.py (Keras' own BatchNormalization,
then the fused one, back to back so that machine noise hits both alike), each cell in a fresh
process (this script re-invoked with a hidden --worker) that reports its img/s, parameters,
tracing time and peak RSS. `--variants` / `--sizes` run a subset.

    .venv/bin/python benchmarks/model_step.py [--steps 5]
    .venv/bin/python benchmarks/model_step.py --compare variants [--variants baseline,dra] [--sizes 64x32]

Each table goes into docs/benchmarks.md (benchmarks/tables.py; `--doc FILE` for another file).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from batch_norm_sides import use_keras_batch_normalization  # noqa: E402  (benchmarks/: scripts run as files)
from tables import add_doc_argument, publish  # noqa: E402
from dranet_keras.choices import VARIANTS  # noqa: E402
from dranet_keras.config import load_config  # noqa: E402
from dranet_keras.models import build_dranet  # noqa: E402
from dranet_keras.precision import policy_name  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PRECISIONS = (None, "mixed_bfloat16")


def interleaved_medians(models: dict, batches: dict, steps: int) -> dict:
    """Median seconds per train step of each model, steps taken round-robin."""
    times = {name: [] for name in models}
    for _ in range(steps):
        for name, model in models.items():
            start = time.perf_counter()
            model.train_on_batch(*batches[name])
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def make_batch(height, width, batch, num_ids, rng):
    images = rng.uniform(0, 255, size=(batch, height, width, 3)).astype("float32")
    labels = rng.integers(0, num_ids, size=batch)
    return {"images": images, "labels": labels}, labels


def build(num_ids, variant, shape, policy, optimizer):
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy(policy or "float32")
    try:
        model = build_dranet(num_ids, variant, input_shape=shape)
        model.compile(optimizer=optimizer())
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    return model


# One fresh process per (variant, input size, BN side) cell, so that each gets its own peak RSS.
# keras-bn: Keras' own BatchNormalization (the "before" of layers/batch_normalization.py).
BN_SIDES = ("keras-bn", "fused")


def variant_worker(args) -> None:
    """Build one variant at one size with one BN side, time its train steps, print one JSON line."""
    import resource

    if args.worker == "keras-bn":
        use_keras_batch_normalization()
    height, width = args.size
    rng = np.random.default_rng(0)
    batch = make_batch(height, width, args.batch, args.num_ids, rng)
    model = build(args.num_ids, args.variant, (height, width, 3), args.precision, lambda: keras.optimizers.AdamW(3.5e-4))
    start = time.perf_counter()
    model.train_on_batch(*batch)  # tracing / compilation
    tracing = time.perf_counter() - start
    for _ in range(args.warmup):
        model.train_on_batch(*batch)
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        model.train_on_batch(*batch)
        times.append(time.perf_counter() - start)
    step = statistics.median(times)
    print(json.dumps({"variant": args.variant, "size": [height, width], "side": args.worker, "params": model.count_params(),
                      "tracing_s": tracing, "times": times, "step_s": step, "img_s": args.batch / step,
                      "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}), flush=True)


def run_variant_worker(variant: str, size: tuple[int, int], side: str, args) -> dict:
    command = [sys.executable, __file__, "--compare", "variants", "--worker", side, "--variant", variant,
               "--size", f"{size[0]}x{size[1]}", "--batch", str(args.batch), "--steps", str(args.steps),
               "--warmup", str(args.warmup), "--num-ids", str(args.num_ids), "--precision", args.precision]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{variant} {size[0]}x{size[1]} {side} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def variant_rows(cells: dict) -> list[list]:
    """Table rows from the workers' JSON, `cells[variant, (height, width), side]`, in their order."""
    rows = []
    for variant, size in dict.fromkeys((variant, tuple(size)) for variant, size, _ in cells):
        keras_bn, fused = cells[variant, size, "keras-bn"], cells[variant, size, "fused"]
        rows.append([f"`{variant}`", f"{size[0]}x{size[1]}", f"{fused['params']:,d}", keras_bn["img_s"], fused["img_s"],
                     fused["img_s"] / keras_bn["img_s"], f"{keras_bn['max_rss_kib'] / 2**20:.2f}", f"{fused['max_rss_kib'] / 2**20:.2f}"])
    return rows


VARIANT_COLUMNS = ["variant", "input", "parameters", "Keras BN img/s", "fused BN img/s", "fused / Keras",
                   "peak RSS Keras BN (GiB)", "peak RSS fused (GiB)"]


def compare_variants(args) -> None:
    """Every (variant, size) cell with Keras' BN and then the fused BN, back to back."""
    load = os.getloadavg()[0]
    cells = {}
    for variant in args.variants:
        for size in args.sizes:
            for side in BN_SIDES:
                started = time.perf_counter()
                cell = cells[variant, size, side] = run_variant_worker(variant, size, side, args)
                print(f"{variant:8s} {size[0]}x{size[1]} {side:8s} {cell['img_s']:7.2f} img/s, tracing {cell['tracing_s']:5.1f} s, "
                      f"peak RSS {cell['max_rss_kib'] / 2**20:.2f} GiB (process {time.perf_counter() - started:4.0f} s, "
                      f"load {os.getloadavg()[0]:.1f})", flush=True)
    publish("model_step_variants", VARIANT_COLUMNS, variant_rows(cells), doc=args.doc, load_at_start=load,
            note=f"{policy_name(args.precision)}, batch {args.batch}, {args.num_ids} ids, AdamW; one fresh process per cell "
                 f"(Keras' own BatchNormalization, then the fused one, back to back): the first step (tracing) and "
                 f"{args.warmup} more untimed, then the median of {args.steps} steps; peak RSS is the process's ru_maxrss.")


def step_speed(args, config) -> None:
    load = os.getloadavg()[0]
    rng = np.random.default_rng(0)
    variant = config.model.variant
    sizes = [(256, 128), (config.model.height, config.model.width)]
    models, batches = {}, {}
    for size in sizes:
        batch = make_batch(*size, args.batch, args.num_ids, rng)
        for policy in PRECISIONS:
            key = (size, policy_name(policy))
            models[key] = build(args.num_ids, variant, (*size, 3), policy, lambda: keras.optimizers.SGD(0.01, momentum=0.9))
            batches[key] = batch
            start = time.perf_counter()
            models[key].train_on_batch(*batch)
            print(f"{variant} {size[0]}x{size[1]} {policy_name(policy):15s} first step (tracing) {time.perf_counter() - start:6.1f} s", flush=True)
    medians = interleaved_medians(models, batches, args.steps)
    rows = []
    for size in sizes:
        fp32, bf16 = (args.batch / medians[size, name] for name in ("float32", "mixed_bfloat16"))
        rows.append([f"{size[0]}x{size[1]}", fp32, bf16, bf16 / fp32])
    publish("model_step_precision", ["input", "fp32 img/s", "bf16 img/s", "bf16 / fp32"], rows, doc=args.doc, load_at_start=load,
            note=f"`{variant}`, SGD, batch {args.batch}, {args.num_ids} ids, median of {args.steps} interleaved steps.")


def size(text: str) -> tuple[int, int]:
    height, width = text.lower().split("x")
    return int(height), int(width)


def parse_args(argv=None):
    demo = load_config(ROOT / "params.yaml").model
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", choices=("precision", "variants"), default="precision")
    parser.add_argument("--batch", type=int, default=None, help="batch size (precision: 32, variants: 16)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per model (precision: 5 after one warm-up, variants: 3)")
    parser.add_argument("--num-ids", type=int, default=751, help="classes (751 = Market-1501 train ids)")
    parser.add_argument("--variants", type=lambda s: s.split(","), default=list(VARIANTS),
                        help=f"variants: a comma list of {','.join(VARIANTS)} (default: all)")
    parser.add_argument("--sizes", type=lambda s: [size(part) for part in s.split(",")],
                        default=[(256, 128), (demo.height, demo.width)],
                        help=f"variants: a comma list of HEIGHTxWIDTH (default: 256x128,{demo.height}x{demo.width}, params.yaml's)")
    parser.add_argument("--warmup", type=int, default=1, help="variants: untimed steps after the first (tracing) one")
    parser.add_argument("--precision", choices=("float32", "mixed_bfloat16"), default="float32", help="variants: dtype policy")
    add_doc_argument(parser)
    parser.add_argument("--worker", choices=BN_SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=size, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if unknown := [v for v in args.variants if v not in VARIANTS]:
        parser.error(f"--variants: unknown {','.join(unknown)}; expected a comma list of {','.join(VARIANTS)}")
    if args.compare == "variants":
        args.batch, args.steps = args.batch or 16, args.steps or 3
    else:
        args.batch, args.steps = args.batch or 32, args.steps or 5
    return args


def main() -> None:
    args = parse_args()
    if args.worker:
        variant_worker(args)
        return
    if args.compare == "variants":
        compare_variants(args)
        return
    step_speed(args, load_config(ROOT / "params.yaml"))


if __name__ == "__main__":
    main()
