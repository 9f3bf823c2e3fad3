"""Evaluate a trained model on the query/gallery split: CMC, mAP, mINP with and without
k-reciprocal re-ranking. Writes results/<variant>/seed<seed>/metrics.json (with the effective
configuration), cmc.csv and rankings.json."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from dranet_keras import layout
from dranet_keras.config import config_to_dict, load_config
from dranet_keras.data.synthetic import query_attributes
from dranet_keras.errors import UserError
from dranet_keras.evaluation.rerank_cost import check_rerank_fits
from dranet_keras.evaluation.results import check_scorable, evaluate_embeddings, write_results
from dranet_keras.io import atomic_write_json

USES_TENSORFLOW = True  # dranet_keras.cli imports it quietly first


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variant", help="model variant to evaluate (default: model.variant)")
    parser.add_argument("--model", help="model file (default: models/<variant>/seed<seed>/model.keras)")
    parser.add_argument("--manifest", help="split manifest (default: <data.prepared_dir>/<data.name>/manifest.csv)")
    parser.add_argument("--output-dir", help="where the results go (default: results/<variant>/seed<seed>)")
    parser.add_argument("--cache-dir", default=".cache/features", help="feature cache (default: .cache/features)")


def _embed(model, model_path, records, name, config, cache_dir):
    from dranet_keras.data.pipeline import eval_dataset
    from dranet_keras.data.images import content_digest
    from dranet_keras.evaluation.features import extract_features, feature_cache_path

    image_size = (config.model.height, config.model.width)
    flip = config.eval.flip_test
    # keyed by the images' content too: regenerated images under the same paths are new features
    cache = feature_cache_path(cache_dir, model_path, name, flip, *image_size, content_digest(r.path for r in records))
    # With skip_corrupt, eval_dataset yields a blank image for an undecodable file, so features
    # stay aligned with records by position.
    dataset = eval_dataset(records, image_size, config.eval.batch_size, skip_corrupt=config.data.skip_corrupt)
    return extract_features(model, dataset, flip=flip, cache_path=cache, description=f"{name} features")


def _occluded_images(prepared):
    """The occluded-query split that the manifest's stats.json records, read from that set's
    root; None when it records none (or there is no stats.json)."""
    recorded = prepared.stats and prepared.stats.get("occluded_split")
    if not recorded:
        return None
    from dranet_keras.data.synthetic import occluded_split_stats, read_occluded_images

    own = read_occluded_images(prepared.root)
    if occluded_split_stats(own) != recorded:
        raise UserError(f"{prepared.stats_path}: the occluded split's images under {prepared.root} changed "
                        "since it was written; prepare the set again (dranet prepare)")
    return own


def _occluded_split(model, model_path, own, split, gallery_features, config, cache_dir) -> tuple[dict | None, dict]:
    """The synthetic set's occluded-query split `own` (Occluded-DukeMTMC's protocol: occluded
    queries against their whole-body images and the standard gallery), scored like the standard
    split without re-ranking, and its rankings of `eval.visual_queries` queries; (None, no
    queries) when there is none."""
    if own is None:
        return None, {"queries": []}
    import numpy as np

    from dranet_keras.data.synthetic import occluded_gallery

    query = _embed(model, model_path, own.query, "occluded query", config, cache_dir)
    gallery = np.concatenate([_embed(model, model_path, own.gallery, "occluded gallery", config, cache_dir), gallery_features])
    arguments = {**config.eval.ranking_arguments(), "rerank": False}
    metrics, _, rankings = evaluate_embeddings(query, gallery, own.query, occluded_gallery(own, split), **arguments, seed=config.seed)
    return {key: value for key, value in metrics.items() if key not in ("protocol", "strata", "rerank")}, rankings


def run(args: argparse.Namespace) -> int:
    from dranet_keras.data.manifest import dataset_header, prepared_set, read_manifest
    from dranet_keras.models.loading import load_dranet, saved_config

    config = load_config(args.params, args.overrides)
    variant = args.variant or config.model.variant
    model_path = Path(args.model or layout.model_path(variant, config.seed))
    manifest = Path(args.manifest or layout.manifest_path(config.data.name, config.data.prepared_dir))
    output_dir = Path(args.output_dir or layout.results_dir(variant, config.seed))
    if not model_path.is_file():
        raise UserError(f"model file {model_path} does not exist; train it first (dranet train --variant {variant})")
    split = read_manifest(manifest)
    check_scorable(split.query, split.gallery, manifest)
    prepared = prepared_set(manifest, config.data.name, config.data.root)
    occluded_images = _occluded_images(prepared)
    # The image size and embedding width the model was built for, from its file, before it loads.
    saved = saved_config(model_path)
    trained = tuple(saved["input_shape"][:2])
    if trained != (config.model.height, config.model.width):
        raise UserError(
            f"model.height/width: {config.model.height}x{config.model.width}, but {model_path} was trained at "
            f"{trained[0]}x{trained[1]}; evaluate with --set model.height={trained[0]} --set model.width={trained[1]}"
        )
    evaluation = config.eval
    if evaluation.rerank:
        # 2 * reduce_dim bounds the embedding size of every variant.
        check_rerank_fits(len(split.query), len(split.gallery), 2 * saved["reduce_dim"],
                          evaluation.rerank_k1, evaluation.memory_gb, evaluation.rerank_max_hours)
    start = time.perf_counter()
    model = load_dranet(model_path)
    features = [_embed(model, model_path, records, name, config, args.cache_dir)
                for name, records in (("query", split.query), ("gallery", split.gallery))]
    metrics, cmc, rankings = evaluate_embeddings(
        *features,
        split.query,
        split.gallery,
        **evaluation.ranking_arguments(),
        seed=config.seed,
        query_attributes=query_attributes(prepared.root, split.query) if prepared.synthetic else None,
    )
    occluded, occluded_rankings = _occluded_split(model, model_path, occluded_images, split, features[1], config, args.cache_dir)
    metrics = {
        **dataset_header(prepared.name),
        "variant": variant,
        "seed": config.seed,
        **metrics,
        "occluded": occluded,
        "wall_time_s": round(time.perf_counter() - start, 1),
        "config": config_to_dict(config),  # the effective configuration, --set overrides included
    }
    write_results(output_dir, metrics, cmc, rankings)
    atomic_write_json(output_dir / layout.OCCLUDED_RANKINGS, occluded_rankings)
    reranked = f"; re-ranked mAP {metrics['rerank']['mAP']:.4f}" if metrics["rerank"] else ""
    print(f"dranet evaluate: {variant} ({model.dtype_policy.name}): mAP {metrics['mAP']:.4f}, rank-1 {metrics['rank1']:.4f}{reranked} -> {output_dir}")
    return 0
