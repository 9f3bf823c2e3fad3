"""Run the main job. Until the DVC pipeline lands this is a smoke run: it builds every model
variant at the configured input size and trains each for one step on random data."""

from __future__ import annotations

import argparse
import time

from dranet_keras.config import load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch-size", type=int, default=4, help="random batch size (default 4)")


def run(args: argparse.Namespace) -> int:
    import keras
    import numpy as np

    from dranet_keras.models import build_dranet

    config = load_config(args.params, args.overrides)
    shape = (config.model.height, config.model.width, 3)
    rng = np.random.default_rng(config.seed)
    images = rng.uniform(0, 255, size=(args.batch_size, *shape)).astype("float32")
    labels = rng.integers(0, 10, size=args.batch_size)
    print("dranet demo: smoke run on RANDOM data (the DVC pipeline is not wired yet)")
    for variant in config.model.variants:
        start = time.perf_counter()
        model = build_dranet(10, variant, input_shape=shape, parts=config.model.parts, last_stride=config.model.last_stride)
        model.compile(optimizer=keras.optimizers.AdamW(config.train.learning_rate))
        logs = model.train_on_batch({"images": images, "labels": labels}, labels, return_dict=True)
        print(
            f"  {variant:8s} params={model.count_params():,} embedding={model.embedding_dim}-d "
            f"loss={logs['loss']:.3f} ({time.perf_counter() - start:.1f} s)"
        )
    return 0
