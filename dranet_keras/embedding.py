"""Use a trained DRANet as a feature extractor: embed every image of a folder.

`embed_folder` lists the images under a directory in sorted order (so rows are reproducible),
reads them in batches at the model's input size and returns L2-normalised embeddings;
`save_embeddings` writes them as `.npy` with the file list beside it.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from dranet_keras.data.datasets.layout import IMAGE_SUFFIXES, non_utf8_name
from dranet_keras.errors import UserError
from dranet_keras.io import atomic_write_bytes, atomic_write_text


class ImageFolderError(UserError):
    """An image folder is missing, empty, or holds an image that cannot be decoded."""


def list_images(directory) -> list[Path]:
    """Image files under `directory` (recursively), sorted by relative path."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ImageFolderError(f"image folder {directory} does not exist or is not a directory")
    paths = sorted(
        (path for path in directory.rglob("*") if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES),
        key=lambda path: path.relative_to(directory).as_posix(),
    )
    for path in paths:
        if (shown := non_utf8_name(path)) is not None:
            raise ImageFolderError(f"{shown}: file name is not UTF-8; rename it")
    if not paths:
        raise ImageFolderError(f"image folder {directory} holds no images (looked for {', '.join(IMAGE_SUFFIXES)})")
    return paths


def _check_decodes(path) -> None:
    """An ImageFolderError naming `path` unless Pillow can decode it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise ImageFolderError(f"image {path} cannot be decoded: {error}") from None


def embed_folder(model, directory, *, batch_size: int = 64, flip: bool = False):
    """Embed every image under `directory`; returns (paths, features (N, D) float32).

    The images go through evaluation's own path (the tf.data decode and resize of
    `eval_dataset`, then `extract_features`), so a file gets the embedding `dranet evaluate`
    computes for it.
    """
    import tensorflow as tf

    from dranet_keras.data.pipeline import eval_dataset
    from dranet_keras.data.records import Record
    from dranet_keras.evaluation.features import extract_features

    if batch_size < 1:
        raise UserError(f"batch size must be >= 1, got {batch_size}")
    paths = list_images(directory)
    records = [Record(str(path), pid=-1, camid=-1) for path in paths]  # labels are not used here
    dataset = eval_dataset(records, tuple(model.image_shape[:2]), batch_size)
    try:
        features = extract_features(model, dataset, flip=flip, description="embedding")
    except tf.errors.InvalidArgumentError as error:
        for path in paths:  # TensorFlow's decode error does not say which file
            _check_decodes(path)
        raise ImageFolderError(f"images under {directory}: {error.message.splitlines()[0]}") from None
    broken = int(np.sum(~np.isfinite(features).all(axis=1)))
    if broken:
        raise UserError(
            f"the model gives NaN or infinite embeddings for {broken} of {len(paths)} images under {directory} "
            "(its weights are not finite: a diverged training?); nothing written"
        )
    return paths, features


def listing_path(out) -> Path:
    """The file list written beside embeddings file `out` (which must end in .npy)."""
    out = Path(out)
    if out.suffix != ".npy":
        raise UserError(f"output {out}: expected a file name ending in .npy")
    return out.with_suffix(".txt")


def save_embeddings(out, paths, features, root) -> tuple[Path, Path]:
    """Write `features` to `out` (.npy) and the matching file list (paths relative to `root`,
    one per line, row order) to the same name with `.txt`; returns both paths."""
    out = Path(out)
    listing = listing_path(out)
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(features, dtype="float32"))
    atomic_write_bytes(out, buffer.getvalue())
    atomic_write_text(listing, "".join(f"{Path(path).relative_to(root).as_posix()}\n" for path in paths))
    return out, listing
