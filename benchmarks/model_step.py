"""Parameter counts and train-step time of every DRANet variant against the baseline.

Steps of the variants are interleaved (baseline, cic, sic, dra, baseline, ...) so that
machine noise hits all of them alike; the ratio uses medians measured in this one run.

    .venv/bin/python benchmarks/model_step.py [--height 256 --width 128 --batch 16 --steps 8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from dranet_keras.config import VARIANTS  # noqa: E402
from dranet_keras.models import build_dranet  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per variant (after one warm-up)")
    parser.add_argument("--num-ids", type=int, default=751, help="classes (751 = Market-1501 train ids)")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    shape = (args.height, args.width, 3)
    images = rng.uniform(0, 255, size=(args.batch, *shape)).astype("float32")
    labels = rng.integers(0, args.num_ids, size=args.batch)
    batch = ({"images": images, "labels": labels}, labels)

    models = {}
    for variant in VARIANTS:
        model = build_dranet(args.num_ids, variant, input_shape=shape)
        model.compile(optimizer=keras.optimizers.AdamW(3.5e-4))
        start = time.perf_counter()
        model.train_on_batch(*batch)  # tracing / compilation
        print(f"{variant:8s} first step (tracing) {time.perf_counter() - start:6.1f} s")
        models[variant] = model

    times = {variant: [] for variant in VARIANTS}
    for _ in range(args.steps):
        for variant, model in models.items():
            start = time.perf_counter()
            model.train_on_batch(*batch)
            times[variant].append(time.perf_counter() - start)

    base_params = models["baseline"].count_params()
    base_time = statistics.median(times["baseline"])
    print(f"\ninput {args.height}x{args.width}, batch {args.batch}, {args.num_ids} ids, {args.steps} interleaved steps")
    print(f"{'variant':8s} {'params':>12s} {'x base':>7s} {'step s':>8s} {'img/s':>7s} {'x base':>7s}")
    for variant, model in models.items():
        step = statistics.median(times[variant])
        params = model.count_params()
        print(
            f"{variant:8s} {params:12,d} {params / base_params:7.3f} {step:8.3f} "
            f"{args.batch / step:7.1f} {step / base_time:7.3f}"
        )


if __name__ == "__main__":
    main()
