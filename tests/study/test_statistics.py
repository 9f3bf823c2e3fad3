"""The study's statistics against hand-computed values and the verdict rules of claims.yaml."""

import math

import numpy as np
import pytest

from dranet_keras.study.statistics import Interval, bootstrap_queries, combine, paired_interval, verdict


def test_paired_interval_by_hand():
    # differences 1, 2, 3, 6: mean 3, s.d. sqrt(((-2)^2 + 1 + 0 + 9) / 3) = sqrt(14/3);
    # t_{0.975, 3} = 3.182446; half width = 3.182446 * sqrt(14/3) / 2
    interval = paired_interval([1, 2, 3, 6])
    sd = math.sqrt(14 / 3)
    half = 3.182446305284263 * sd / 2
    assert interval.n == 4 and interval.mean == pytest.approx(3.0)
    assert interval.sd == pytest.approx(sd)
    assert (interval.low, interval.high) == pytest.approx((3 - half, 3 + half))
    assert interval.effect_size == pytest.approx(3 / sd)


def test_one_seed_has_no_interval_and_none_has_no_mean():
    one = paired_interval([2.5])
    assert one.n == 1 and one.mean == 2.5 and math.isnan(one.low) and math.isnan(one.high)
    assert paired_interval([]).n == 0
    assert math.isnan(paired_interval([1.0, 1.0]).effect_size)  # no spread: d_z undefined, not infinite


def test_bootstrap_over_queries_brackets_the_mean_and_shrinks_with_more_queries():
    rng = np.random.default_rng(0)
    few, many = rng.normal(1.0, 5.0, 50), rng.normal(1.0, 5.0, 5000)
    low, high = bootstrap_queries(few, 2000, 0)
    assert low < few.mean() < high
    # the percentile interval of a mean: about +-1.96 s / sqrt(n)
    assert high - low == pytest.approx(2 * 1.96 * few.std() / np.sqrt(len(few)), rel=0.15)
    low_many, high_many = bootstrap_queries(many, 2000, 0)
    assert high_many - low_many < (high - low) / 5
    assert bootstrap_queries(few, 500, 3) == bootstrap_queries(few, 500, 3)  # seeded


def _interval(low, high, n=10):
    return Interval(n, (low + high) / 2, 1.0, low, high, 1.0)


@pytest.mark.parametrize(
    "low, high, rule, tolerance, expected",
    [
        (0.2, 3.0, "gain", 2.0, "reproduced"),  # a gain exists
        (-0.8, 1.5, "gain", 2.0, "not reproduced"),  # a +2 gain is excluded
        (-1.0, 3.0, "gain", 2.0, "inconclusive"),  # too wide
        (-1.5, 1.9, "unchanged", 2.0, "reproduced"),
        (2.1, 4.0, "unchanged", 2.0, "not reproduced"),
        (-3.0, 1.0, "unchanged", 2.0, "inconclusive"),
        (-0.9, 2.0, "not_worse", 1.0, "reproduced"),
        (-3.0, -1.2, "not_worse", 1.0, "not reproduced"),
        (-2.0, 0.5, "not_worse", 1.0, "inconclusive"),
    ],
)
def test_verdict_rules_of_the_claims_register(low, high, rule, tolerance, expected):
    assert verdict(_interval(low, high), rule, tolerance) == expected


def test_fewer_than_two_seeds_is_inconclusive_and_claims_combine():
    assert verdict(_interval(1.0, 2.0, n=1), "gain", 2.0) == "inconclusive"
    assert combine(["reproduced", "reproduced"]) == "reproduced"
    assert combine(["reproduced", "not reproduced", "inconclusive"]) == "not reproduced"
    assert combine(["reproduced", "inconclusive"]) == "inconclusive"
    with pytest.raises(ValueError, match="unknown verdict rule"):
        verdict(_interval(0, 1), "bigger", 1.0)
