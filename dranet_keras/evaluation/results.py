"""The evaluate stage's core: metrics.json values, the CMC curve and rankings.json from query
and gallery features (streamed, in bounded memory), and the files they go to."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from dranet_keras import layout
from dranet_keras.errors import UserError
from dranet_keras.evaluation.ranking import has_valid_match
from dranet_keras.evaluation.rerank import re_rank_features
from dranet_keras.evaluation.strata import strata_metrics
from dranet_keras.evaluation.streaming import FeatureDistances, evaluate_distance_rows, evaluate_distance_rows_per_query
from dranet_keras.io import atomic_write_json, atomic_write_text

REPORTED_RANKS = (1, 5, 10, 20)


def summary(result) -> dict:
    """mAP, mINP and rank-k accuracies (a CMC shorter than k, from a tiny gallery, has reached
    its final value by then: every counted query has its match within the gallery)."""
    summary = {"mAP": result.mAP, "mINP": result.mINP}
    for rank in REPORTED_RANKS:
        summary[f"rank{rank}"] = float(result.cmc[min(rank, len(result.cmc)) - 1])
    return summary


def record_labels(query_records, gallery_records) -> tuple[np.ndarray, ...]:
    """(q_pids, g_pids, q_camids, g_camids) of the records, the order the ranking functions take."""
    return tuple(np.array([getattr(r, key) for r in records]) for key in ("pid", "camid") for records in (query_records, gallery_records))


def check_scorable(query_records, gallery_records, where) -> None:
    """Refuse, before any features are computed, a split where no query has a gallery sample
    of its identity from another camera (the protocols would score nothing)."""
    if not has_valid_match(*record_labels(query_records, gallery_records)).any():
        raise UserError(
            f"{where}: no query has a gallery image of its identity from another camera, so evaluation "
            "would score nothing; query and gallery must share identities seen by different cameras"
        )


def _rankings(distances, query_records, gallery_records, g_pids, g_camids, query_indices, top_k):
    """Top-k gallery entries of the chosen queries, junk (same pid and camera) left out."""
    queries = []
    for q in query_indices:
        query = query_records[q]
        row = distances.rows(q, q + 1)[0]
        order = np.argsort(row, kind="stable")
        order = order[~((g_pids[order] == query.pid) & (g_camids[order] == query.camid))][:top_k]
        top = [
            {
                "index": int(g),
                "path": str(gallery_records[g].path),
                "pid": int(g_pids[g]),
                "camid": int(g_camids[g]),
                "distance": float(row[g]),
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
    memory_gb: float | None = None,
    visual_queries: int = 8,
    top_k: int = 10,
    seed: int = 0,
    query_attributes: list[dict] | None = None,
):
    """Metrics dict (the metrics.json keys below `variant`), the CMC curve (without
    re-ranking) and the rankings dict (top-`top_k` of `visual_queries` seeded random queries).
    Distances and re-ranked distances are streamed in blocks that fit `memory_gb` GiB.
    With `query_attributes` (one dict per query, the synthetic set's), metrics per query
    stratum (`evaluation.strata`) under "strata"; None otherwise."""
    if len(query_features) != len(query_records) or len(gallery_features) != len(gallery_records):
        raise UserError(
            f"features/records mismatch: {len(query_features)} query features for {len(query_records)} records, "
            f"{len(gallery_features)} gallery features for {len(gallery_records)} records"
        )
    labels = record_labels(query_records, gallery_records)
    distances = FeatureDistances(query_features, gallery_features, metric)
    result, per_query = evaluate_distance_rows_per_query(distances, *labels, max_rank, protocol, memory_gb, seed=seed)
    metrics = {
        "protocol": protocol,
        "num_query": len(query_records),
        "num_gallery": len(gallery_records),
        "skipped_queries": int(len(query_records) - has_valid_match(*labels).sum()),
        **summary(result),
        "strata": None if query_attributes is None else strata_metrics(per_query, query_attributes),
        "rerank": None,
    }
    if rerank:
        reranked = re_rank_features(
            query_features, gallery_features, k1=k1, k2=k2, lambda_value=lambda_value, metric=metric, memory_gb=memory_gb
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the same skipped queries were reported above
            reranked_result = evaluate_distance_rows(reranked, *labels, max_rank, protocol, memory_gb, seed=seed)
        metrics["rerank"] = summary(reranked_result)
    chosen = np.sort(np.random.default_rng(seed).permutation(len(query_records))[:visual_queries])
    _, g_pids, _, g_camids = labels
    return metrics, result.cmc, _rankings(distances, query_records, gallery_records, g_pids, g_camids, chosen, top_k)


def write_results(output_dir, metrics: dict, cmc, rankings: dict) -> None:
    """metrics.json, cmc.csv (rank,accuracy) and rankings.json, each written atomically."""
    output_dir = Path(output_dir)
    atomic_write_json(output_dir / layout.METRICS, metrics)
    rows = "".join(f"{rank},{accuracy:.6f}\n" for rank, accuracy in enumerate(cmc, start=1))
    atomic_write_text(output_dir / layout.CMC, "rank,accuracy\n" + rows)
    atomic_write_json(output_dir / layout.RANKINGS, rankings)
