"""Input pipeline images/s (decode, resize, flip, pad + crop, RandomErasing) beside a DRANet
`dra` train step's images/s, both measured in this run; the ratio must be >= 3 so that the
pipeline is not the bottleneck.

    python benchmarks/input_pipeline.py [--height 256 --width 128 --batch-size 32]

The table goes into docs/benchmarks.md (benchmarks/tables.py; `--doc FILE` for another file).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

from tables import add_doc_argument, publish  # benchmarks/tables.py (scripts run as files)
from dranet_keras.data import load_dataset
from dranet_keras.data.pipeline import train_dataset
from dranet_keras.models import build_dranet


def pipeline_images_per_second(records, image_size, batch_size, epochs) -> float:
    dataset = train_dataset(records, image_size, batch_size, seed=0)
    next(iter(dataset))  # warm-up: tracing and thread pools
    start, images = time.perf_counter(), 0
    for _ in range(epochs):
        for inputs, _labels in dataset:
            images += int(inputs["images"].shape[0])
    return images / (time.perf_counter() - start)


def train_step_images_per_second(num_ids, image_size, batch_size, steps) -> float:
    model = build_dranet(num_ids, "dra", input_shape=(*image_size, 3))
    model.compile(optimizer=keras.optimizers.AdamW(3.5e-4))
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (batch_size, *image_size, 3)).astype("float32")
    labels = rng.integers(0, num_ids, batch_size)
    model.train_on_batch({"images": images, "labels": labels}, labels)  # warm-up: tracing
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch({"images": images, "labels": labels}, labels)
    return steps * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3, help="timed train steps")
    parser.add_argument("--epochs", type=int, default=3, help="timed pipeline epochs")
    add_doc_argument(parser)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    image_size = (args.height, args.width)
    with tempfile.TemporaryDirectory() as root:
        split = load_dataset(
            "synthetic", Path(root) / "synthetic", train_ids=60, test_ids=1, cameras=6,
            images_per_camera=2, distractors=0, height=args.height, width=args.width,
        )
        pipeline = pipeline_images_per_second(split.train, image_size, args.batch_size, args.epochs)
    step = train_step_images_per_second(split.num_train_ids, image_size, args.batch_size, args.steps)
    publish("input_pipeline", ["input", "batch", "pipeline img/s", "`dra` train step img/s", "pipeline / step (goal >= 3)"],
            [[f"{args.height}x{args.width}", args.batch_size, f"{pipeline:.1f}", f"{step:.1f}", f"{pipeline / step:.1f}"]],
            doc=args.doc, load_at_start=load,
            note=f"{len(split.train)} synthetic training images, augmentation on; {args.epochs} pipeline epochs, {args.steps} train steps.")


if __name__ == "__main__":
    main()
