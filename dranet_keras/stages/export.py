"""Export a trained DRANet (.keras) as an inference SavedModel for serving.

The SavedModel's `serving_default` signature takes uint8 RGB images `images`
(batch, height, width, 3) at the model's input size and returns `embeddings`, the
L2-normalised descriptors (batch, 2048; 1024 for the baseline and cic variants). It needs only
TensorFlow to run. With --tflite the same function is also written as a TFLite flatbuffer.

Example: dranet export --model models/dra/seed0/model.keras --out exports/dra --tflite exports/dra.tflite
"""

from __future__ import annotations

import argparse
from pathlib import Path

USES_CONFIG = False
USES_TENSORFLOW = True  # dranet_keras.cli imports it quietly first


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="M", help="trained model (.keras), e.g. models/dra/seed0/model.keras")
    parser.add_argument("--out", required=True, metavar="DIR", help="SavedModel directory to write (an older export there is replaced)")
    parser.add_argument("--tflite", metavar="FILE", help="also write a TFLite flatbuffer here")


def run(args: argparse.Namespace) -> int:
    from dranet_keras.io import check_writable

    from dranet_keras.serving import check_replaceable, export_saved_model

    # before TensorFlow starts: --out is a folder, an earlier SavedModel may be replaced
    check_replaceable(args.out)
    check_writable(*([] if Path(args.out).is_dir() else [args.out]), *([args.tflite] if args.tflite else []))
    from dranet_keras.models.loading import load_dranet

    model = load_dranet(args.model)
    directory = export_saved_model(model, args.out, tflite_path=args.tflite)
    height, width, _ = model.image_shape
    print(
        f"dranet export: wrote {directory} (signature serving_default: uint8 images (N, {height}, {width}, 3) "
        f"-> embeddings (N, {model.embedding_dim}), L2-normalised)"
    )
    if args.tflite:
        print(f"dranet export: wrote {args.tflite}")
    return 0
