"""Metrics per query stratum: the same ranking against the same gallery, the queries split by
what made them hard (the synthetic set's `attributes.csv`). Real data sets without attributes
have no strata.

The strata and their cut points are fixed here, before any model was compared on them
(docs/study.md): occluded or not; the share of the person an occluder hides, in bins; back or
front view; dark, normal or bright lighting. A stratum with fewer than `MIN_QUERIES` valid
queries is reported with its count and no numbers.
"""

from __future__ import annotations

import numpy as np

from dranet_keras.evaluation.ranking import QueryMetrics

MIN_QUERIES = 20
DARK, BRIGHT = 0.85, 1.10  # image brightness factor: below DARK is dark, above BRIGHT bright
SHARE_BINS = (0.0, 0.2, 0.4, 1.0)  # occluded share: (0, 0.2], (0.2, 0.4], (0.4, 1], named "0-20%" ...


def stratum_masks(attributes: list[dict]) -> dict[str, dict[str, np.ndarray]]:
    """{axis: {stratum: boolean mask over the queries}} from each query's attribute dict."""
    column = {key: np.array([a[key] for a in attributes], dtype=float) for key in ("occluded", "occluded_share", "back_view", "brightness")}
    occluded = column["occluded"] == 1
    share = column["occluded_share"]
    bins = {f"{100 * low:.0f}-{100 * high:.0f}%": occluded & (share > low) & (share <= high) for low, high in zip(SHARE_BINS[:-1], SHARE_BINS[1:])}
    brightness = column["brightness"]
    return {
        "occlusion": {"occluded": occluded, "not occluded": ~occluded},
        "occluded share": bins,
        "view": {"back": column["back_view"] == 1, "front": column["back_view"] == 0},
        "lighting": {"dark": brightness < DARK, "normal": (brightness >= DARK) & (brightness <= BRIGHT), "bright": brightness > BRIGHT},
    }


def subset_metrics(per_query: QueryMetrics, mask: np.ndarray) -> dict:
    """mAP, rank-1 and mINP of the valid queries in `mask` (a boolean mask over all queries),
    with their count; the numbers are None below `MIN_QUERIES`."""
    chosen = mask[per_query.query]
    count = int(chosen.sum())
    if count < MIN_QUERIES:
        return {"num_query": count, "mAP": None, "rank1": None, "mINP": None}
    return {
        "num_query": count,
        "mAP": float(per_query.ap[chosen].mean()),
        "rank1": float((per_query.first_rank[chosen] == 0).mean()),
        "mINP": float(per_query.inp[chosen].mean()),
    }


def strata_metrics(per_query: QueryMetrics, attributes: list[dict]) -> dict:
    """{axis: {stratum: subset_metrics}} for queries with `attributes` (aligned with the queries)."""
    return {axis: {name: subset_metrics(per_query, mask) for name, mask in strata.items()} for axis, strata in stratum_masks(attributes).items()}
