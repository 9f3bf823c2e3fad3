"""Results -> comparisons, verdicts and tables, on results built by hand."""

import numpy as np
import pytest

from dranet_keras.study.analysis import (
    ONE_SEED, claim_verdicts, comparison, converged, load_references, reference_rows, run_table, strata_table, training_summary,
)
from dranet_keras.errors import UserError
from dranet_keras.study.protocol import DEFAULT_CLAIMS


def result(seed, standard_map, occluded_map=None, ap=None, strata=None, losses=(2.0, 1.0, 0.98)):
    standard = {"mAP": standard_map, "rank1": 0.5, "rank5": 0.7, "rank10": 0.8, "mINP": 0.2, "strata": strata}
    if ap is not None:
        standard["per_query"] = {"query": list(range(len(ap))), "ap": ap, "first_rank": [0 if a > 0.5 else 3 for a in ap]}
    out = {"seed": seed, "standard": standard, "losses": list(losses), "mask": None, "train_wall_s": 10.0, "train_cpu_s": 15.0, "eval_wall_s": 2.0}
    if occluded_map is not None:
        out["occluded"] = {"mAP": occluded_map, "rank1": 0.3, "rank5": 0.5, "rank10": 0.6, "mINP": 0.1}
    return out


GAIN = {"metric": "mAP", "split": "standard", "variant": "dra", "against": "baseline", "rule": "gain", "tolerance": 2.0}


def test_paired_differences_use_common_seeds_in_points():
    results = {
        "baseline": {0: result(0, 0.40), 1: result(1, 0.42), 2: result(2, 0.41)},
        "dra": {0: result(0, 0.43), 1: result(1, 0.44), 3: result(3, 0.90)},  # seed 3 has no pair
    }
    found = comparison(results, GAIN)
    assert found["differences"] == pytest.approx({0: 3.0, 1: 2.0})
    assert found["interval"]["mean"] == pytest.approx(2.5) and found["interval"]["n"] == 2


def test_difference_in_differences_for_the_occluded_split():
    results = {
        "baseline": {k: result(k, 0.40, 0.20) for k in range(3)},
        "dra": {k: result(k, 0.41 + 0.01 * k, 0.25 + 0.01 * k) for k in range(3)},
    }
    spec = {**GAIN, "split": "occluded", "minus_split": "standard", "tolerance": 1.0}
    found = comparison(results, spec)
    # per seed: (25 + k - 20) - (41 + k - 40) = 4 points
    assert found["differences"] == pytest.approx({0: 4.0, 1: 4.0, 2: 4.0})
    assert found["bootstrap"] is None  # no per-query bootstrap of a difference of differences


def test_the_query_bootstrap_reads_per_query_ap():
    base = [0.2, 0.4, 0.6, 0.8]
    results = {
        "baseline": {k: result(k, np.mean(base), ap=base) for k in range(2)},
        "dra": {k: result(k, np.mean(base) + 0.1, ap=[a + 0.1 for a in base]) for k in range(2)},
    }
    found = comparison(results, GAIN)
    assert found["bootstrap"]["low"] == pytest.approx(10.0) and found["bootstrap"]["high"] == pytest.approx(10.0)  # every query +10


def test_the_register_gives_one_seed_as_inconclusive_and_unmeasured_splits_as_such():
    from dranet_keras.study.analysis import load_claims

    claims = load_claims(DEFAULT_CLAIMS)
    results = {v: {0: result(0, 0.40 + 0.01 * i)} for i, v in enumerate(("baseline", "cic", "sic", "dra"))}
    verdicts = {row["id"]: row["verdict"] for row in claim_verdicts(results, claims)}
    assert verdicts["C1"] == ONE_SEED and verdicts["C3"] == ONE_SEED
    assert verdicts["C4"] == "not measured"  # no occluded split among these results


def test_a_clear_gain_over_ten_seeds_is_reproduced_and_a_null_is_not():
    rng = np.random.default_rng(0)
    claims = {"C1": {"claim": "gain", "source": "test", "comparisons": [GAIN]}}
    base = {k: result(k, 0.40 + rng.normal(0, 0.01)) for k in range(10)}
    gain = {"baseline": base, "dra": {k: result(k, base[k]["standard"]["mAP"] + 0.03 + rng.normal(0, 0.003)) for k in range(10)}}
    null = {"baseline": base, "dra": {k: result(k, base[k]["standard"]["mAP"] + rng.normal(0, 0.003)) for k in range(10)}}
    assert claim_verdicts(gain, claims)[0]["verdict"] == "reproduced"
    assert claim_verdicts(null, claims)[0]["verdict"] == "not reproduced"


def test_tables_and_convergence():
    results = {"baseline": {0: result(0, 0.40), 1: result(1, 0.44, losses=(2.0, 1.5, 1.0))}}
    row = run_table(results)[0]
    assert row["cells"]["mAP"]["mean"] == pytest.approx(42.0) and row["cells"]["mAP"]["sd"] == pytest.approx(np.std([40, 44], ddof=1))
    assert converged([2.0, 1.0, 0.98], window=2, max_drop=0.05) is False  # 1.0 -> 0.98 over one epoch, but 2.0 -> 0.98 over two
    assert converged([1.0, 0.99, 0.98], window=2, max_drop=0.05) is True
    assert converged([1.0], window=2, max_drop=0.05) is None
    summary = training_summary(results, window=2, max_drop=0.05)[0]
    assert summary["n"] == 2 and summary["converged"] == 0 and summary["train_wall_s"] == 20.0


def test_a_real_gain_smaller_than_the_tolerance_is_flagged_beside_its_verdict():
    results = {
        "baseline": {k: result(k, 0.40) for k in range(5)},
        "dra": {k: result(k, 0.405 + 0.001 * k) for k in range(5)},  # +0.5 .. +0.9 points
    }
    found = comparison(results, {**GAIN, "tolerance": 2.0})
    assert found["verdict"] == "reproduced" and found["below_tolerance"]  # the register's rule decides; the flag informs
    assert not comparison(results, {**GAIN, "tolerance": 0.5})["below_tolerance"]


def test_the_floors_are_table_rows_without_seeds_and_chance_has_no_strata(tmp_path):
    strata = {"view": {"back": {"num_query": 30, "mAP": 0.10}, "front": {"num_query": 30, "mAP": 0.20}}}
    references = {
        "colour_histogram": result(0, 0.037, occluded_map=0.032, strata=strata),
        "chance": {"standard": {"mAP": 0.011, "rank1": 0.004, "rank5": 0.02, "rank10": 0.05, "mINP": 0.006}},
    }
    path = tmp_path / "references.json"
    path.write_text(__import__("json").dumps({"protocol_digest": "x", "references": references}))
    assert load_references(tmp_path / "absent.json") == {}
    rows = {row["name"]: row for row in reference_rows(load_references(path))}
    assert set(rows) == {"colour histogram", "chance"} and all(row["reference"] and row["seeds"] == [] for row in rows.values())
    assert rows["colour histogram"]["cells"]["mAP"]["mean"] == pytest.approx(3.7) and rows["chance"]["cells"]["mAP"]["sd"] is None
    assert [row["name"] for row in reference_rows(references, "occluded")] == ["colour histogram"]  # chance was not scored there
    runs = {"baseline": {0: result(0, 0.4, strata=strata)}, "chance": {0: references["chance"]}}
    assert all(set(row["runs"]) == {"baseline"} for row in strata_table(runs))
    path.write_text("{}")
    with pytest.raises(UserError, match="references.json: not the study's references file"):
        load_references(path)
