"""Embed every image of a folder with a trained DRANet (feature-extractor use).

Images (.jpg/.jpeg/.png/.bmp, searched recursively, sorted by relative path) are resized to the
model's input size and embedded in batches; the L2-normalised embeddings are written as a
float32 (N, D) .npy file, and the file list (paths relative to --images, one per line, row
order) beside it with the suffix .txt.

Example: dranet embed --model models/dra/seed0/model.keras --images my_crops/ --out feats.npy
"""

from __future__ import annotations

import argparse

from dranet_keras.config import DataConfig
from dranet_keras.io import check_writable

USES_CONFIG = False
USES_TENSORFLOW = True  # dranet_keras.cli imports it quietly first


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="M", help="trained model (.keras)")
    parser.add_argument("--images", required=True, metavar="DIR", help="folder of images (searched recursively)")
    parser.add_argument("--out", required=True, metavar="FILE.npy", help="embeddings file to write")
    parser.add_argument("--batch-size", type=int, default=64, help="images per batch (default 64)")
    parser.add_argument("--flip", action="store_true", help="sum the embeddings of each image and its mirror image")
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=DataConfig.max_image_pixels,
        help=f"refuse images with more pixels (default {DataConfig.max_image_pixels}, as data.max_image_pixels)",
    )


def run(args: argparse.Namespace) -> int:
    from dranet_keras.data.images import image_problem
    from dranet_keras.embedding import ImageFolderError, embed_folder, list_images, listing_path, save_embeddings

    listing = listing_path(args.out)  # fail on a bad output name, missing or empty folder before any work
    check_writable(args.out, listing)
    for path in list_images(args.images):  # headers only: format and size, before the model loads
        problem = image_problem(path, args.max_pixels, decode=False)
        if problem is not None:
            raise ImageFolderError(f"image {path} {problem}")
    from dranet_keras.models.loading import load_dranet  # TensorFlow starts here, after the checks

    model = load_dranet(args.model)
    paths, features = embed_folder(model, args.images, batch_size=args.batch_size, flip=args.flip)
    out, listing = save_embeddings(args.out, paths, features, root=args.images)
    print(f"dranet embed: {features.shape[0]} images -> {out} ({features.shape[1]}-d, L2-normalised); file list {listing}")
    return 0
