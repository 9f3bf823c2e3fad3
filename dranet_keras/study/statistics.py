"""Paired statistics of the study: seed-level intervals, a bootstrap over queries, effect
sizes, and the verdict rules of experiments/claims.yaml. numpy and scipy only."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


class Interval(NamedTuple):
    """A paired difference over n seeds: mean, s.d., 95% t-interval and Cohen's d_z."""

    n: int
    mean: float
    sd: float
    low: float
    high: float
    effect_size: float  # mean / sd of the paired differences (d_z); nan when sd is 0 or n < 2


def paired_interval(differences) -> Interval:
    """Mean and Student-t interval of per-seed paired differences (`b_k - a_k`)."""
    d = np.asarray(differences, dtype=float)
    n = len(d)
    if n == 0:
        return Interval(0, float("nan"), float("nan"), float("nan"), float("nan"), float("nan"))
    mean = float(d.mean())
    if n < 2:
        return Interval(1, mean, float("nan"), float("nan"), float("nan"), float("nan"))
    sd = float(d.std(ddof=1))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * sd / np.sqrt(n)
    return Interval(n, mean, sd, mean - half, mean + half, mean / sd if sd > 0 else float("nan"))


def bootstrap_queries(per_query_differences, resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the mean over queries of per-query differences (each query's
    difference averaged over seeds), resampling queries with replacement: the test-set share of
    the uncertainty, with the trained models held fixed."""
    d = np.asarray(per_query_differences, dtype=float)
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(resamples, len(d)))].mean(axis=1)
    tail = 100 * (1 - CONFIDENCE) / 2
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def verdict(interval: Interval, rule: str, tolerance: float) -> str:
    """'reproduced', 'not reproduced' or 'inconclusive' for one comparison (claims.yaml's rules)."""
    if interval.n < 2:
        return "inconclusive"
    low, high = interval.low, interval.high
    if rule == "gain":
        return "reproduced" if low > 0 else "not reproduced" if high < tolerance else "inconclusive"
    if rule == "unchanged":
        if -tolerance <= low and high <= tolerance:
            return "reproduced"
        return "not reproduced" if low > tolerance or high < -tolerance else "inconclusive"
    if rule == "not_worse":
        return "reproduced" if low > -tolerance else "not reproduced" if high < -tolerance else "inconclusive"
    raise ValueError(f"unknown verdict rule {rule!r}")


def combine(verdicts: list[str]) -> str:
    """A claim of several comparisons: reproduced if all are, not reproduced if any is."""
    if verdicts and all(v == "reproduced" for v in verdicts):
        return "reproduced"
    return "not reproduced" if "not reproduced" in verdicts else "inconclusive"
