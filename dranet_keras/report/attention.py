"""Attention evidence from a trained model: a few training images, their true labels, and what
`DRANet.attention_maps` returns for them (figures are drawn by `figures.attention_evidence`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from dranet_keras.report.figures import attention_evidence
from dranet_keras.report.inputs import ReportInputError


def training_samples(manifest_path: Path, root: Path, count: int, image_size: tuple[int, int]):
    """The first image of each of the first `count` training identities (sorted by pid), as
    float32 (count, height, width, 3) raw RGB 0..255, and their pids (the class labels)."""
    try:
        manifest = pd.read_csv(manifest_path)
    except (OSError, ValueError) as error:
        raise ReportInputError(f"{manifest_path}: cannot read the manifest ({error})") from None
    missing = {"split", "path", "pid"} - set(manifest.columns)
    if missing:
        raise ReportInputError(f"{manifest_path}: missing column(s) {', '.join(sorted(missing))}")
    train = manifest[manifest["split"] == "train"].sort_values(["pid", "path"]).drop_duplicates("pid").head(count)
    height, width = image_size
    images = []
    for path in train["path"]:
        try:
            with Image.open(Path(root) / path) as image:
                images.append(np.asarray(image.convert("RGB").resize((width, height), Image.BILINEAR), dtype=np.float32))
        except OSError as error:
            raise ReportInputError(f"{manifest_path}: training image {path} cannot be read ({error})") from None
    return np.stack(images), train["pid"].to_numpy(dtype=np.int32)


def model_attention(model, images: np.ndarray, labels: np.ndarray) -> dict:
    """`model.attention_maps` as numpy arrays."""
    return {name: np.asarray(value) for name, value in model.attention_maps(images, labels).items()}


def attention_from_files(model_path: Path, manifest_path: Path, root: Path, count: int) -> tuple[dict | None, str]:
    """Evidence for the report, or (None, why not) when the model or the manifest is absent."""
    if not Path(model_path).is_file():
        return None, f"{model_path} not found (train the dra variant first)"
    if not Path(manifest_path).is_file():
        return None, f"{manifest_path} not found (run the prepare stage first)"
    from dranet_keras.models.loading import load_dranet

    model = load_dranet(model_path)  # a damaged or foreign file: one line naming it
    images, labels = training_samples(manifest_path, root, count, model.image_shape[:2])
    if labels.max(initial=0) >= model.num_ids:
        raise ReportInputError(f"{manifest_path}: training pid {labels.max()} >= the model's num_ids {model.num_ids}")
    maps = model_attention(model, images, labels)
    return attention_evidence(images, maps, erase=model.erase, erase_threshold=model.erase_threshold), ""
