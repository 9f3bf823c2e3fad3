"""Embed every image of a folder with a trained DRANet (feature-extractor use).

Images (.jpg/.jpeg/.png/.bmp, searched recursively, sorted by relative path) are resized to the
model's input size and embedded in batches; the L2-normalised embeddings are written as a
float32 (N, D) .npy file, and the file list (paths relative to --images, one per line, row
order) beside it with the suffix .txt.

Example: dranet embed --model models/dra/model.keras --images my_crops/ --out feats.npy
"""

from __future__ import annotations

import argparse

USES_CONFIG = False
USES_TENSORFLOW = True  # dranet_keras.cli imports it quietly first


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="M", help="trained model (.keras)")
    parser.add_argument("--images", required=True, metavar="DIR", help="folder of images (searched recursively)")
    parser.add_argument("--out", required=True, metavar="FILE.npy", help="embeddings file to write")
    parser.add_argument("--batch-size", type=int, default=64, help="images per batch (default 64)")
    parser.add_argument("--flip", action="store_true", help="sum the embeddings of each image and its mirror image")


def run(args: argparse.Namespace) -> int:
    from dranet_keras.embedding import embed_folder, listing_path, list_images, save_embeddings
    from dranet_keras.serving import load_dranet

    listing_path(args.out)  # fail on a bad output name, missing or empty folder before any work
    list_images(args.images)
    model = load_dranet(args.model)
    paths, features = embed_folder(model, args.images, batch_size=args.batch_size, flip=args.flip)
    out, listing = save_embeddings(args.out, paths, features, root=args.images)
    print(f"dranet embed: {features.shape[0]} images -> {out} ({features.shape[1]}-d, L2-normalised); file list {listing}")
    return 0
