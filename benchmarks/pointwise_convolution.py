"""A 1x1 convolution's forward and backward pass (gradients for its input, kernel and bias) as
TensorFlow's convolution against the matrix product of dranet_keras/layers/
pointwise_convolution.py, in float32 and in bf16, for every 1x1 convolution shape of the
ResNet50 backbone (last stride 1) at `--height` x `--width`, batch `--batch`: the measurement
behind that layer, and the one that says when to drop it (bf16 matmul / conv at or below 1).

Both sides run in this process, interleaved step by step so that machine noise hits both alike
(medians of `--steps`); the total weighs each shape by how often the backbone has it.

    .venv/bin/python benchmarks/pointwise_convolution.py [--height 256 --width 128 --batch 32]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections import Counter

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tables import add_doc_argument, publish  # noqa: E402  (benchmarks/: scripts run as files)
from dranet_keras.layers import PointwiseConv2D, pointwise_convolution  # noqa: E402
from dranet_keras.models.resnet import resnet50  # noqa: E402

POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16"}


def backbone_shapes(height: int, width: int) -> Counter:
    """(input height, width, channels, filters, stride) of each 1x1 convolution, with its count."""
    model = resnet50((height, width, 3), last_stride=1)
    return Counter((*layer.input.shape[1:], layer.filters, layer.strides[0])
                   for layer in model.layers if isinstance(layer, PointwiseConv2D))


def pass_function(layer, x):
    """One forward and backward pass of `layer` on `x`, traced."""
    @tf.function
    def step():
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.cast(layer(x), "float32"))
        return tape.gradient(loss, [x, *layer.trainable_weights])
    return step


def time_shape(shape, precision: str, batch: int, steps: int) -> dict[str, float]:
    """Median seconds per pass of Keras' Conv2D and of the matrix product, at one shape."""
    height, width, channels, filters, stride = shape
    x = tf.cast(tf.random.stateless_normal((batch, height, width, channels), seed=(0, 1)), "bfloat16" if precision == "bf16" else "float32")
    steps_by_side = {}
    for side, kind in (("conv", keras.layers.Conv2D), ("matmul", PointwiseConv2D)):
        layer = kind(filters, 1, strides=stride, dtype=POLICIES[precision])
        layer.build(x.shape)
        steps_by_side[side] = pass_function(layer, x)
        steps_by_side[side]()  # tracing
    times = {side: [] for side in steps_by_side}
    for _ in range(steps):
        for side, step in steps_by_side.items():
            start = time.perf_counter()
            step()
            times[side].append(time.perf_counter() - start)
    return {side: statistics.median(values) for side, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=7, help="timed passes per side and shape, after one untimed")
    add_doc_argument(parser)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    # The matrix product in both precisions, so that float32's figures show why it is bf16 only.
    pointwise_convolution.matmul_applies = lambda layer, inputs: True
    shapes = backbone_shapes(args.height, args.width)
    rows, totals = [], Counter()
    for shape, count in shapes.items():
        row = [f"{shape[0]}x{shape[1]}x{shape[2]} -> {shape[3]}" + (f", stride {shape[4]}" if shape[4] > 1 else ""), count]
        for precision in POLICIES:
            seconds = time_shape(shape, precision, args.batch, args.steps)
            totals[precision, "conv"] += count * seconds["conv"]
            totals[precision, "matmul"] += count * seconds["matmul"]
            row += [f"{1000 * seconds['conv']:.1f}", f"{1000 * seconds['matmul']:.1f}", seconds["conv"] / seconds["matmul"]]
        print(" | ".join(str(v) for v in row), flush=True)
        rows.append(row)
    total = ["**all, weighted by count**", sum(shapes.values())]
    for precision in POLICIES:
        conv, matmul = totals[precision, "conv"], totals[precision, "matmul"]
        total += [f"**{1000 * conv:.0f}**", f"**{1000 * matmul:.0f}**", f"**{conv / matmul:.2f}**"]
    rows.append(total)
    publish("pointwise_convolution",
            ["1x1 convolution (input -> filters)", "in ResNet50", "fp32 conv ms", "fp32 matmul ms", "fp32 conv / matmul",
             "bf16 conv ms", "bf16 matmul ms", "bf16 conv / matmul"], rows, doc=args.doc, load_at_start=load,
            note=f"Forward and backward (input, kernel and bias gradients) of one layer, batch {args.batch}, the backbone at "
                 f"{args.height}x{args.width} with last stride 1; median of {args.steps} interleaved passes. "
                 "PointwiseConv2D uses the matrix product in bf16 only.")


if __name__ == "__main__":
    main()
