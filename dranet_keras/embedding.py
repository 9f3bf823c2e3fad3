"""Use a trained DRANet as a feature extractor: embed every image of a folder.

`embed_folder` lists the images under a directory in sorted order (so rows are reproducible),
reads them in batches at the model's input size and returns L2-normalised embeddings;
`save_embeddings` writes them as `.npy` with the file list beside it.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from dranet_keras.data.datasets.layout import IMAGE_SUFFIXES
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
    if not paths:
        raise ImageFolderError(f"image folder {directory} holds no images (looked for {', '.join(IMAGE_SUFFIXES)})")
    return paths


def read_image(path) -> np.ndarray:
    """Decode an image file to uint8 RGB (height, width, 3)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise ImageFolderError(f"image {path} cannot be decoded: {error}") from None


def _resize(images: list[np.ndarray], size: tuple[int, int]) -> np.ndarray:
    import tensorflow as tf

    # tf.image.resize (bilinear, no antialias) as the tf.data pipeline does, so embeddings
    # match those of `dranet evaluate` for the same file.
    resized = [tf.image.resize(image, size).numpy() if image.shape[:2] != size else image for image in images]
    return np.stack(resized).astype("float32")


def l2_normalize(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit Euclidean length (all-zero rows stay zero)."""
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, 1e-12)


def embed_images(model, images: np.ndarray, *, flip: bool = False) -> np.ndarray:
    """L2-normalised embeddings of one batch of raw RGB images (0..255); with `flip`, the
    embeddings of the image and its mirror image are summed first (the usual re-id test trick)."""
    features = np.asarray(model(images, training=False), dtype="float32")
    if flip:
        features = features + np.asarray(model(images[:, :, ::-1], training=False), dtype="float32")
    return l2_normalize(features)


def embed_folder(model, directory, *, batch_size: int = 64, flip: bool = False, progress: bool | None = None):
    """Embed every image under `directory`; returns (paths, features (N, D) float32).

    `progress`: show a progress bar (default: only when stderr is a terminal).
    """
    from tqdm.auto import tqdm

    if batch_size < 1:
        raise UserError(f"batch size must be >= 1, got {batch_size}")
    paths = list_images(directory)
    size = tuple(model.image_shape[:2])
    chunks = []
    batches = range(0, len(paths), batch_size)
    disable = None if progress is None else not progress  # None: tqdm shows it on a terminal only
    for start in tqdm(batches, desc="embedding", unit="batch", leave=False, disable=disable):
        batch = _resize([read_image(path) for path in paths[start : start + batch_size]], size)
        chunks.append(embed_images(model, batch, flip=flip))
    return paths, np.concatenate(chunks, axis=0)


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
