"""Collect metrics, paper claims, figures and provenance into one context, and render it as a
single self-contained HTML file (Jinja2, autoescaped) whose sections the notebook reuses."""

from __future__ import annotations

from pathlib import Path

import jinja2
import numpy as np
import yaml

from dranet_keras import layout
from dranet_keras.choices import VARIANTS
from dranet_keras.report import figures, provenance
from dranet_keras.report.study import demo_claims, deviations, study_section
from dranet_keras.report.inputs import RunInputs, load_paper_results, load_reference, load_runs, read_json, validate_record

HEADLINE_METRICS = (("mAP", "mAP"), ("rank1", "rank-1"), ("rank5", "rank-5"), ("rank10", "rank-10"), ("mINP", "mINP"))
SECTIONS = ("summary", "headline", "ablation", "hard", "curves", "retrieval", "attention", "study", "deviations", "provenance", "reproduce")
NOT_RUN = "not run"
REFERENCE_LABELS = {"colour_histogram": "colour histogram (hand-crafted, no training)", "chance": "chance (random ranking)"}


def percent_cell(value, missing: str = NOT_RUN, std: float | None = None) -> dict:
    """A table cell for a fraction: the exact value (for tests, data-value) and its % text,
    with ± the standard deviation across seeds when there are several."""
    if value is None:
        return {"value": None, "std": None, "text": missing}
    spread = "" if std is None else f" ± {100 * std:.1f}"
    return {"value": value, "std": std, "text": f"{100 * value:.1f}{spread}"}


def metric_cell(runs: list[RunInputs], key: str, rerank: bool = False) -> dict:
    """One metric of a variant: the mean over its seeds (± std with several); 'not run' without
    a run, 'off' when the runs had re-ranking disabled (`"rerank": null`)."""
    if not runs:
        return percent_cell(None)
    sources = [run.metrics.get("rerank") if rerank else run.metrics for run in runs]
    values = [source.get(key) for source in sources if source and source.get(key) is not None]
    if len(values) < len(runs):
        return percent_cell(None, missing="off")
    std = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return percent_cell(float(np.mean(values)), std=std)


def claim_key(dataset: str, claims: dict) -> str | None:
    """Which paper claim applies to a data set (`cuhk03` covers labeled and detected)."""
    if dataset in claims:
        return dataset
    if dataset.startswith("cuhk03") and "cuhk03" in claims:
        return "cuhk03"
    return None


def claim_text(key: str, claimed_gain) -> str:
    """What the paper says about a metric's change (gains in percentage points)."""
    if key == "mAP":
        return "no claim" if claimed_gain is None else f"{claimed_gain:+.1f}"
    return "about unchanged" if key.startswith("rank") else "not reported"


def gain_cell(base: dict, dra: dict) -> dict:
    """dra - baseline in points; `beyond_spread` only when the spread across seeds is known
    (`spread_known`) and the difference exceeds it, flagged in the text when it does not."""
    if base["value"] is None or dra["value"] is None:
        return {"value": None, "text": "—", "spread_known": True, "beyond_spread": False}
    gain = 100 * (dra["value"] - base["value"])
    spreads = [100 * cell["std"] for cell in (base, dra) if cell["std"] is not None]
    within = bool(spreads) and abs(gain) < max(spreads)
    text = f"{gain:+.1f}" + (" (within the seed spread)" if within else "")
    return {"value": gain, "text": text, "spread_known": bool(spreads), "beyond_spread": bool(spreads) and not within}


def headline(runs: dict, claimed_gain) -> list[dict]:
    """Rows 'metric x (baseline, dra, gain)', without and with re-ranking."""
    base, dra = runs.get("baseline", []), runs.get("dra", [])
    rows = []
    for rerank in (False, True):
        for key, label in HEADLINE_METRICS:
            b, d = metric_cell(base, key, rerank), metric_cell(dra, key, rerank)
            rows.append(
                {
                    "rerank": rerank,
                    "metric": key,
                    "label": label,
                    "baseline": b,
                    "dra": d,
                    "gain": gain_cell(b, d),
                    "claimed": claim_text(key, claimed_gain),
                }
            )
    return rows


def ablation(runs: dict) -> list[dict]:
    """One row per variant (baseline, cic, sic, dra; mean ± std over seeds); absent ones 'not run'."""
    rows = []
    for variant in VARIANTS:
        group = runs.get(variant, [])
        metas = [run.train_meta for run in group if run.train_meta]
        rows.append(
            {
                "variant": variant,
                "run": bool(group),
                "seeds": [run.seed for run in group],
                "cells": {key: metric_cell(group, key) for key, _ in HEADLINE_METRICS},
                "rerank": {key: metric_cell(group, key, True) for key in ("mAP", "rank1")},
                "epochs": metas[0].get("epochs") if metas else None,
                "wall_time_s": float(np.mean([m["wall_time_s"] for m in metas])) if metas and all("wall_time_s" in m for m in metas) else None,
            }
        )
    return rows


def reference_rows(references: dict) -> list[dict]:
    """The no-training rows (REFERENCE_LABELS order) whose metrics.json exists."""
    rows = []
    for name, label in REFERENCE_LABELS.items():
        metrics = references.get(name)
        if metrics is None:
            continue
        rerank = metrics.get("rerank")
        rows.append(
            {
                "name": name,
                "label": label,
                "cells": {key: percent_cell(metrics.get(key), missing="—") for key, _ in HEADLINE_METRICS},
                "rerank": {key: percent_cell(rerank.get(key) if rerank else None, missing="—") for key in ("mAP", "rank1")},
            }
        )
    return rows


def public_baselines(dataset: str, paper: dict) -> list[dict]:
    """Published ResNet50 baselines for this data set (percent as printed, with source)."""
    rows = []
    for baseline in paper["baselines"]:
        values = baseline["results"].get(dataset)
        if values:
            rows.append({"name": baseline["name"], "rank1": values.get("rank1"), "mAP": values.get("mAP"), "source": baseline["source"]})
    return rows


def reference_table(baselines: list[dict]) -> dict:
    """All published baselines, one row each, one column per data set they report."""
    columns = list(dict.fromkeys(name for baseline in baselines for name in baseline["results"]))
    return {"columns": columns, "rows": baselines}


def dataset_section(dataset: str, runs: dict, references: dict, paper: dict, root: Path) -> dict:
    """Everything the report shows for one data set. `runs`: variant -> its runs (seeds
    ascending); curves and the retrieval grid show each variant's first seed."""
    claims = paper["dranet"]["claimed_map_gain"]
    key = claim_key(dataset, claims)
    first = {v: group[0] for v, group in runs.items()}
    cmcs = {v: r.cmc for v, r in first.items() if r.cmc is not None}
    logs = {v: r.training_log for v, r in first.items() if r.training_log is not None}
    ranked = next((first[v] for v in ("dra", "sic", "cic", "baseline") if v in first and first[v].rankings), None)
    every = [run for group in runs.values() for run in group]
    return {
        "name": dataset,
        # before any run, the configured name is all we know
        "synthetic": any(bool(r.metrics.get("synthetic")) for r in every) if every else dataset == "synthetic",
        "protocol": next((r.metrics.get("protocol") for r in every if r.metrics.get("protocol")), None),
        "claim_key": key,
        "claimed_gain": claims.get(key) if key else None,
        "headline": headline(runs, claims.get(key) if key else None),
        "ablation": ablation(runs),
        "references": reference_rows(references),
        "max_seeds": max((len(group) for group in runs.values()), default=0),
        "public": public_baselines(dataset, paper),
        "cmc_svg": figures.cmc_svg(cmcs) if cmcs else None,
        "training_svg": figures.training_svg(logs) if logs else None,
        "retrieval": {"variant": ranked.variant, "seed": ranked.seed, "rows": figures.ranking_grid(ranked.rankings, root)} if ranked else None,
        "sizes": {"num_query": every[0].metrics.get("num_query"), "num_gallery": every[0].metrics.get("num_gallery")} if every else None,
        "claims": demo_claims(runs, root),
        "strata": stratum_rows(runs),
        "occluded": occluded_rows(runs),
        "occluded_retrieval": occluded_retrieval(first, root),
    }


def occluded_retrieval(first: dict, root: Path) -> dict | None:
    """The top-k of a few occluded queries (dra's, else another variant's), for the hard-example section."""
    ranked = next((first[v] for v in ("dra", "sic", "cic", "baseline") if v in first and (first[v].occluded_rankings or {}).get("queries")), None)
    if ranked is None:
        return None
    return {"variant": ranked.variant, "seed": ranked.seed, "rows": figures.ranking_grid(ranked.occluded_rankings, root)}


def occluded_rows(runs: dict) -> list[dict]:
    """Per variant, its metrics on the occluded-query split (mean ± std over seeds); empty
    when no run has one."""
    rows = []
    for variant, group in runs.items():
        splits = [run.metrics.get("occluded") for run in group]
        if not any(splits):
            continue
        cells = {}
        for key, _ in HEADLINE_METRICS:
            values = [split[key] for split in splits if split and split.get(key) is not None]
            cells[key] = percent_cell(float(np.mean(values)) if values else None, std=float(np.std(values, ddof=1)) if len(values) > 1 else None)
        rows.append({"variant": variant, "num_query": splits[0]["num_query"] if splits[0] else None, "cells": cells})
    return rows


def stratum_rows(runs: dict) -> list[dict]:
    """Per axis and stratum of the queries: their count and each variant's mAP / rank-1 (mean
    over seeds), from metrics.json's `strata`; empty without attributes (real data)."""
    first = next((run.metrics["strata"] for group in runs.values() for run in group if run.metrics.get("strata")), None)
    if not first:
        return []
    rows = []
    for axis, strata in first.items():
        for stratum, cell in strata.items():
            values = {}
            for variant, group in runs.items():
                cells = [((run.metrics.get("strata") or {}).get(axis) or {}).get(stratum) or {} for run in group]
                values[variant] = {key: percent_cell(float(np.mean([c[key] for c in cells])) if all(c.get(key) is not None for c in cells) else None, missing="too few")
                                   for key in ("mAP", "rank1")}
            rows.append({"axis": axis, "stratum": stratum, "num_query": cell["num_query"], "variants": values})
    return rows


def build_context(
    *,
    root: Path,
    results_dir: Path,
    models_dir: Path,
    paper_results: Path,
    params_path: Path,
    dataset: str,
    seed: int,
    attention: dict | None = None,
    attention_note: str = "",
) -> dict:
    """The whole report as plain values (figures already rendered to SVG / data URIs).

    `dataset` is used when no variant has been evaluated yet; `attention` is the output of
    `figures.attention_evidence` (None shows `attention_note` instead).
    """
    root = Path(root)
    paper = load_paper_results(paper_results)
    runs = {v: group for v in VARIANTS if (group := load_runs(results_dir, models_dir, v))}
    references = {name: metrics for name in layout.REFERENCES if (metrics := load_reference(results_dir, name)) is not None}
    by_dataset: dict[str, dict] = {}
    for variant, group in runs.items():
        for run in group:
            by_dataset.setdefault(run.metrics["dataset"], {}).setdefault(variant, []).append(run)
    refs_by_dataset: dict[str, dict] = {}
    for name, metrics in references.items():
        refs_by_dataset.setdefault(metrics["dataset"], {})[name] = metrics
    names = sorted(set(by_dataset) | set(refs_by_dataset)) or [dataset]
    datasets = [dataset_section(name, by_dataset.get(name, {}), refs_by_dataset.get(name, {}), paper, root) for name in names]
    params_text = Path(params_path).read_text() if Path(params_path).is_file() else ""
    git = provenance.git_state(root)
    every = [run for group in runs.values() for run in group]
    pretrain_meta = layout.pretrain_dir(models_dir) / layout.TRAIN_META
    pretrain = validate_record(read_json(pretrain_meta), pretrain_meta) if pretrain_meta.is_file() else None
    return {
        "title": "DRANet reproduction report",
        "generated_at": provenance.now_utc(),
        "synthetic": any(section["synthetic"] for section in datasets),
        "datasets": datasets,
        "paper": paper["dranet"],
        "reference": reference_table(paper["baselines"]),
        "attention": attention,
        "attention_note": attention_note,
        "study": study_section(root),
        "deviations": deviations(root),
        "pretrain_epochs": (pretrain or {}).get("epochs"),
        "provenance": {
            "git": git,
            "dvc_stages": provenance.dvc_lock_stages(root / "dvc.lock"),
            "params_path": str(params_path),
            "params_text": params_text,
            "stage_runs": provenance.stage_runs(every, references, params_path, pretrain),
            "libraries": provenance.library_versions(),
            "hardware": provenance.hardware(),
            "seed": seed,
        },
        "reproduce": reproduce_commands(git.get("commit"), params_path),
    }


def reproduce_commands(commit: str | None, params_path: Path) -> list[str]:
    """The exact commands that regenerate this report from a clean checkout."""
    return [
        f"git checkout {commit or '<commit>'}",
        "make install",
        ".venv/bin/dvc repro",
        f".venv/bin/dranet report --params {params_path}",
    ]


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("dranet_keras.report", "templates"),
        autoescape=True,  # every value is escaped unless it is our own SVG (marked safe in the template)
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["yaml"] = lambda value: yaml.safe_dump(value, sort_keys=False)
    env.filters["seconds"] = lambda value: "—" if value is None else f"{float(value):.0f} s"
    env.filters["number"] = lambda value: "—" if value is None else (f"{value:.1f}" if isinstance(value, (float, np.floating)) else str(value))
    return env


def render_html(context: dict) -> str:
    """The complete report page."""
    return _environment().get_template("report.html.j2").render(context=context, sections=SECTIONS)


def render_section(name: str, context: dict) -> str:
    """One section of the page as an HTML fragment (with the page's styles), for notebooks."""
    if name not in SECTIONS:
        raise ValueError(f"unknown section {name!r}; expected one of {SECTIONS}")
    env = _environment()
    style = env.get_template("style.css.j2").render()
    body = env.get_template(f"sections/{name}.html.j2").render(context=context)
    return f"<style>{style}</style>\n{body}"
