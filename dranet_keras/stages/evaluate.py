"""Evaluate a trained model on the query/gallery split: CMC, mAP, mINP with and without
k-reciprocal re-ranking. Writes results/<variant>/seed<seed>/metrics.json (with the effective
configuration), cmc.csv and rankings.json."""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

from dranet_keras import layout
from dranet_keras.config import config_to_dict, load_config
from dranet_keras.errors import UserError
from dranet_keras.evaluation import evaluate_rank, re_rank
from dranet_keras.evaluation.distance import compute_distance
from dranet_keras.evaluation.ranking import has_valid_match
from dranet_keras.io import atomic_write_json, atomic_write_text

REPORTED_RANKS = (1, 5, 10, 20)

USES_TENSORFLOW = True  # dranet_keras.cli imports it quietly first


def summary(result) -> dict:
    """mAP, mINP and rank-k accuracies (a CMC shorter than k, from a tiny gallery, has reached
    its final value by then: every counted query has its match within the gallery)."""
    values = {"mAP": result.mAP, "mINP": result.mINP}
    for rank in REPORTED_RANKS:
        values[f"rank{rank}"] = float(result.cmc[min(rank, len(result.cmc)) - 1])
    return values


def _rankings(distmat, query_records, gallery_records, query_indices, top_k):
    """Top-k gallery entries of the chosen queries, junk (same pid and camera) left out."""
    g_pids = np.array([r.pid for r in gallery_records])
    g_camids = np.array([r.camid for r in gallery_records])
    queries = []
    for q in query_indices:
        query = query_records[q]
        order = np.argsort(distmat[q], kind="stable")
        order = order[~((g_pids[order] == query.pid) & (g_camids[order] == query.camid))][:top_k]
        top = [
            {
                "index": int(g),
                "path": str(gallery_records[g].path),
                "pid": int(g_pids[g]),
                "camid": int(g_camids[g]),
                "distance": float(distmat[q, g]),
                "match": bool(g_pids[g] == query.pid),
            }
            for g in order
        ]
        queries.append({"path": str(query.path), "pid": int(query.pid), "camid": int(query.camid), "top": top})
    return {"queries": queries}


def evaluate_embeddings(
    query_features,
    gallery_features,
    query_records,
    gallery_records,
    *,
    metric: str = "cosine",
    max_rank: int = 50,
    protocol: str = "market",
    rerank: bool = True,
    k1: int = 20,
    k2: int = 6,
    lambda_value: float = 0.3,
    visual_queries: int = 8,
    top_k: int = 10,
    seed: int = 0,
):
    """Metrics dict (the metrics.json keys below `variant`), the CMC curve (without
    re-ranking) and the rankings dict (top-`top_k` of `visual_queries` seeded random queries)."""
    if len(query_features) != len(query_records) or len(gallery_features) != len(gallery_records):
        raise UserError(
            f"features/records mismatch: {len(query_features)} query features for {len(query_records)} records, "
            f"{len(gallery_features)} gallery features for {len(gallery_records)} records"
        )
    q_pids, q_camids = (np.array([getattr(r, key) for r in query_records]) for key in ("pid", "camid"))
    g_pids, g_camids = (np.array([getattr(r, key) for r in gallery_records]) for key in ("pid", "camid"))
    labels = (q_pids, g_pids, q_camids, g_camids)
    distmat = compute_distance(query_features, gallery_features, metric)
    result = evaluate_rank(distmat, *labels, max_rank=max_rank, protocol=protocol, seed=seed)
    metrics = {
        "protocol": protocol,
        "num_query": len(query_records),
        "num_gallery": len(gallery_records),
        "skipped_queries": int(len(query_records) - has_valid_match(*labels).sum()),
        **summary(result),
        "rerank": None,
    }
    if rerank:
        reranked = re_rank(
            distmat,
            compute_distance(query_features, query_features, metric),
            compute_distance(gallery_features, gallery_features, metric),
            k1=k1,
            k2=k2,
            lambda_value=lambda_value,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the same skipped queries were reported above
            metrics["rerank"] = summary(evaluate_rank(reranked, *labels, max_rank=max_rank, protocol=protocol, seed=seed))
    chosen = np.sort(np.random.default_rng(seed).permutation(len(query_records))[:visual_queries])
    return metrics, result.cmc, _rankings(distmat, query_records, gallery_records, chosen, top_k)


def write_results(output_dir, metrics: dict, cmc, rankings: dict) -> None:
    """metrics.json, cmc.csv (rank,accuracy) and rankings.json, each written atomically."""
    output_dir = Path(output_dir)
    atomic_write_json(output_dir / "metrics.json", metrics)
    rows = "".join(f"{rank},{accuracy:.6f}\n" for rank, accuracy in enumerate(cmc, start=1))
    atomic_write_text(output_dir / "cmc.csv", "rank,accuracy\n" + rows)
    atomic_write_json(output_dir / "rankings.json", rankings)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variant", help="model variant to evaluate (default: model.variant)")
    parser.add_argument("--model", help="model file (default: models/<variant>/seed<seed>/model.keras)")
    parser.add_argument("--manifest", help="split manifest (default: <data.prepared_dir>/<data.name>/manifest.csv)")
    parser.add_argument("--output-dir", help="where the results go (default: results/<variant>/seed<seed>)")
    parser.add_argument("--cache-dir", default=".cache/features", help="feature cache (default: .cache/features)")


def _embed(model, model_path, records, name, config, cache_dir):
    from dranet_keras.data.pipeline import eval_dataset
    from dranet_keras.evaluation.features import extract_features, feature_cache_path

    image_size = (config.model.height, config.model.width)
    flip = config.eval.flip_test
    cache = feature_cache_path(cache_dir, model_path, name, flip, *image_size, *(r.path for r in records))
    # With skip_corrupt, eval_dataset yields a blank image for an undecodable file, so features
    # stay aligned with records by position.
    dataset = eval_dataset(records, image_size, config.eval.batch_size, skip_corrupt=config.data.skip_corrupt)
    return extract_features(model, dataset, flip=flip, cache_path=cache, description=f"{name} features")


def run(args: argparse.Namespace) -> int:
    import keras

    import dranet_keras.models  # noqa: F401  (registers DRANet so that load_model finds it)
    from dranet_keras.data.manifest import read_manifest

    config = load_config(args.params, args.overrides)
    variant = args.variant or config.model.variant
    model_path = Path(args.model or layout.run_dir(layout.MODELS_DIR, variant, config.seed) / "model.keras")
    manifest = Path(args.manifest or Path(config.data.prepared_dir) / config.data.name / "manifest.csv")
    output_dir = Path(args.output_dir or layout.run_dir(layout.RESULTS_DIR, variant, config.seed))
    if not model_path.is_file():
        raise UserError(f"model file {model_path} does not exist; train it first (dranet train --variant {variant})")
    split = read_manifest(manifest)
    start = time.perf_counter()
    try:
        model = keras.saving.load_model(model_path)
    except (OSError, ValueError, TypeError) as error:
        raise UserError(f"model file {model_path} could not be loaded as a Keras model: {error}") from None
    features = [_embed(model, model_path, records, name, config, args.cache_dir)
                for name, records in (("query", split.query), ("gallery", split.gallery))]
    evaluation = config.eval
    metrics, cmc, rankings = evaluate_embeddings(
        *features,
        split.query,
        split.gallery,
        metric=evaluation.metric,
        max_rank=evaluation.max_rank,
        protocol=evaluation.protocol,
        rerank=evaluation.rerank,
        k1=evaluation.rerank_k1,
        k2=evaluation.rerank_k2,
        lambda_value=evaluation.rerank_lambda,
        visual_queries=evaluation.visual_queries,
        seed=config.seed,
    )
    metrics = {
        "dataset": config.data.name,
        "synthetic": config.data.name == "synthetic",
        "variant": variant,
        "seed": config.seed,
        **metrics,
        "wall_time_s": round(time.perf_counter() - start, 1),
        "config": config_to_dict(config),  # the effective configuration, --set overrides included
    }
    write_results(output_dir, metrics, cmc, rankings)
    reranked = f"; re-ranked mAP {metrics['rerank']['mAP']:.4f}" if metrics["rerank"] else ""
    print(f"dranet evaluate: {variant}: mAP {metrics['mAP']:.4f}, rank-1 {metrics['rank1']:.4f}{reranked} -> {output_dir}")
    return 0
