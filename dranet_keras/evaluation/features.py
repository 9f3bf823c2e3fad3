"""Embedding extraction: batched model inference, optional flip averaging, L2 normalisation,
and a `.npy` cache keyed by the model file's hash so evaluation can be re-run cheaply."""

from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from dranet_keras.errors import UserError
from dranet_keras.evaluation.distance import l2_normalize
from dranet_keras.io import atomic_write_bytes


def feature_cache_path(cache_dir, model_path, name: str, *extra: str) -> Path:
    """`<cache_dir>/<name>-<digest>.npy`, the digest covering the model file's bytes and `extra`
    (e.g. record paths, image size, flip), so a retrained model never reuses stale features."""
    digest = hashlib.sha256()
    with open(model_path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    for item in extra:
        digest.update(b"\0" + str(item).encode("utf-8"))
    return Path(cache_dir) / f"{name}-{digest.hexdigest()[:16]}.npy"


def _load_cached(path: Path):
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        warnings.warn(f"feature cache {path} is unreadable ({error}); extracting again", stacklevel=3)
        return None


def extract_features(model, dataset, flip: bool = True, *, cache_path=None, description: str = "features") -> np.ndarray:
    """(N, D) float32 L2-normalised embeddings of every image batch `dataset` yields, in order.

    `model.predict_on_batch(images)` must return (B, D) embeddings (a DRANet does). With
    `flip`, the embeddings of each image and of its horizontal mirror are summed before
    normalisation. With `cache_path`, an existing cache is returned as is and a new one is
    written (atomically) after extraction.

    The model computes in its own dtype policy, the one it was built and trained with (a saved
    model keeps it): a model trained under `train.mixed_precision` (auto: mixed_bfloat16 on CPUs
    with bf16 units) embeds in that precision; the embeddings come back as float32.
    """
    if cache_path is not None and Path(cache_path).is_file():
        cached = _load_cached(Path(cache_path))
        if cached is not None:
            return cached
    try:
        total = len(dataset)
    except TypeError:
        total = None
    batches = []
    for images in tqdm(dataset, total=total, desc=description, unit="batch", leave=False):
        images = np.asarray(images, dtype=np.float32)
        embedding = np.asarray(model.predict_on_batch(images), dtype=np.float32)
        if flip:
            embedding = embedding + np.asarray(model.predict_on_batch(images[:, :, ::-1, :]), dtype=np.float32)
        batches.append(embedding)
    if not batches:
        raise UserError(f"{description}: the data set yielded no images to embed")
    features = l2_normalize(np.concatenate(batches))
    if cache_path is not None:
        buffer = io.BytesIO()
        np.save(buffer, features, allow_pickle=False)
        atomic_write_bytes(cache_path, buffer.getvalue())
    return features
