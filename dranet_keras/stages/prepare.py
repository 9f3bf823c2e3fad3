"""Read the configured data set (generating the synthetic one if needed), check that every
image decodes, and write data/prepared/<name>/manifest.csv and stats.json (and, with
--preview, preview.png: a few identities across cameras)."""

from __future__ import annotations

import argparse
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from dranet_keras import layout
from dranet_keras.config import DataConfig, load_config
from dranet_keras.data import Split, load_dataset
from dranet_keras.data.errors import CorruptImageError
from dranet_keras.data.images import content_digest, image_problem
from dranet_keras.data.manifest import dataset_header, split_stats, write_manifest
from dranet_keras.data.preview import contact_sheet
from dranet_keras.evaluation.results import check_scorable
from dranet_keras.io import atomic_write_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preview", action="store_true", help="also save preview.png, a contact sheet of a few identities")
    parser.add_argument("--preview-ids", type=int, default=8, help="identities (rows) in the preview (default 8)")


def dataset_options(data: DataConfig, seed: int) -> dict:
    """The `load_dataset` options the configuration gives for data set `data.name`."""
    extract = Path(data.extract_dir) / data.name
    if data.name == "synthetic":
        return {
            "train_ids": data.synthetic_train_ids,
            "test_ids": data.synthetic_test_ids,
            "cameras": data.synthetic_cameras,
            "images_per_camera": data.synthetic_images_per_camera,
            "distractors": data.synthetic_distractors,
            "occluded_ids": data.synthetic_occluded_ids,
            "height": data.synthetic_height,
            "width": data.synthetic_width,
            "seed": seed,
        }
    options = {
        "market1501": {"extra_gallery": data.extra_gallery},
        "msmt17": {"include_val": data.include_val},
        "folder": {"camera_ids": data.camera_ids},
        "cuhk03_labeled": {"images_dir": extract / "images_labeled"},
        "cuhk03_detected": {"images_dir": extract / "images_detected"},
        "occluded_reid": {"images_dir": extract / "images_png"},
    }.get(data.name, {})
    limits = {"max_bytes": data.max_extract_bytes, "max_ratio": data.max_extract_ratio}
    return {**options, "extract_dir": extract, "extract_limits": limits}


def validate_images(split: Split, skip_corrupt: bool, max_pixels: int) -> Split:
    """`split` if every image passes `image_problem`; else an error naming the first bad files,
    or (with `skip_corrupt`) the split without them and a warning per file."""
    paths = sorted({r.path for records in split for r in records})
    with ThreadPoolExecutor(4) as pool:  # Pillow releases the GIL while decoding
        problems = dict(zip(paths, pool.map(partial(image_problem, max_pixels=max_pixels), paths)))
    bad = {path: problem for path, problem in problems.items() if problem is not None}
    if not bad:
        return split
    if not skip_corrupt:
        examples = "; ".join(f"{path} {problem}" for path, problem in sorted(bad.items())[:3])
        raise CorruptImageError(
            f"{len(bad)} image(s) cannot be used: {examples}; "
            "fix or remove them, or set data.skip_corrupt=true to leave them out"
        )
    for path, problem in sorted(bad.items()):
        warnings.warn(f"skipping image {path}: it {problem}", stacklevel=2)
    return Split(*([r for r in records if r.path not in bad] for records in split))


def prepare(data: DataConfig, seed: int, preview_ids: int | None = None) -> dict:
    """Prepare data set `data.name`; returns the statistics written to stats.json."""
    start = time.perf_counter()
    split = load_dataset(data.name, data.root, **dataset_options(data, seed))
    loaded = time.perf_counter() - start
    split = validate_images(split, data.skip_corrupt, data.max_image_pixels)
    check_scorable(split.query, split.gallery, f"data.name={data.name} at {data.root}")
    out = layout.prepared_dir(data.name, data.prepared_dir)
    write_manifest(split, out / layout.MANIFEST)
    stats = {**dataset_header(data.name), "root": data.root, **split_stats(split)}
    # The images' content: stats.json is a DVC dependency of every stage that reads them.
    stats["images_sha256"] = content_digest(sorted({r.path for records in split for r in records}))
    if data.name == "synthetic" and data.synthetic_occluded_ids:
        # so that `evaluate`, which scores the split, re-runs when it changes and finds it by `root`
        from dranet_keras.data.synthetic import occluded_split_stats, read_occluded_images

        stats["occluded_split"] = occluded_split_stats(read_occluded_images(data.root))
    else:
        stats["occluded_split"] = None
    atomic_write_json(out / layout.STATS, stats)
    if preview_ids:
        contact_sheet(split, out / layout.PREVIEW, num_ids=preview_ids)
    print(
        f"dranet prepare: {data.name}: {stats['train']['images']} train images of {stats['num_train_ids']} ids, "
        f"{stats['query']['images']} query, {stats['gallery']['images']} gallery "
        f"({loaded:.1f} s to read/generate, {time.perf_counter() - start:.1f} s in all) -> {out}"
    )
    return stats


def run(args: argparse.Namespace) -> int:
    config = load_config(args.params, args.overrides)
    prepare(config.data, config.seed, args.preview_ids if args.preview else None)
    return 0
