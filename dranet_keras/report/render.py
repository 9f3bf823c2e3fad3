"""Collect metrics, paper claims, figures and provenance into one context, and render it as a
single self-contained HTML file (Jinja2, autoescaped) whose sections the notebook reuses."""

from __future__ import annotations

from pathlib import Path

import jinja2
import numpy as np
import yaml

from dranet_keras.choices import VARIANTS
from dranet_keras.report import figures, provenance
from dranet_keras.report.inputs import RunInputs, load_paper_results, load_run

HEADLINE_METRICS = (("mAP", "mAP"), ("rank1", "rank-1"), ("rank5", "rank-5"), ("rank10", "rank-10"), ("mINP", "mINP"))
SECTIONS = ("headline", "ablation", "curves", "retrieval", "attention", "provenance", "reproduce")
NOT_RUN = "not run"


def percent_cell(value, missing: str = NOT_RUN) -> dict:
    """A table cell for a fraction: the exact value (for tests, data-value) and its % text."""
    if value is None:
        return {"value": None, "text": missing}
    return {"value": value, "text": f"{100 * value:.1f}"}


def metric_cell(run: RunInputs | None, key: str, rerank: bool = False) -> dict:
    """The cell of one metric of one run: 'not run' without a run, 'off' when the run had
    re-ranking disabled (`"rerank": null`)."""
    if run is None:
        return percent_cell(None)
    source = run.metrics.get("rerank") if rerank else run.metrics
    return percent_cell(source.get(key) if source else None, missing="off")


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


def headline(runs: dict, claimed_gain) -> list[dict]:
    """Rows 'metric x (baseline, dra, gain)', without and with re-ranking."""
    base, dra = runs.get("baseline"), runs.get("dra")
    rows = []
    for rerank in (False, True):
        for key, label in HEADLINE_METRICS:
            b, d = metric_cell(base, key, rerank), metric_cell(dra, key, rerank)
            gain = None if b["value"] is None or d["value"] is None else 100 * (d["value"] - b["value"])
            rows.append(
                {
                    "rerank": rerank,
                    "metric": key,
                    "label": label,
                    "baseline": b,
                    "dra": d,
                    "gain": {"value": gain, "text": "—" if gain is None else f"{gain:+.1f}"},
                    "claimed": claim_text(key, claimed_gain),
                }
            )
    return rows


def ablation(runs: dict) -> list[dict]:
    """One row per variant (baseline, cic, sic, dra); absent variants are 'not run'."""
    rows = []
    for variant in VARIANTS:
        run = runs.get(variant)
        meta = (run.train_meta or {}) if run else {}
        rows.append(
            {
                "variant": variant,
                "run": run is not None,
                "cells": {key: metric_cell(run, key) for key, _ in HEADLINE_METRICS},
                "rerank": {key: metric_cell(run, key, True) for key in ("mAP", "rank1")},
                "epochs": meta.get("epochs"),
                "wall_time_s": meta.get("wall_time_s"),
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


def dataset_section(dataset: str, runs: dict, paper: dict, root: Path) -> dict:
    """Everything the report shows for one data set."""
    claims = paper["dranet"]["claimed_map_gain"]
    key = claim_key(dataset, claims)
    cmcs = {v: r.cmc for v, r in runs.items() if r.cmc is not None}
    logs = {v: r.training_log for v, r in runs.items() if r.training_log is not None}
    ranked = next((runs[v] for v in ("dra", "sic", "cic", "baseline") if v in runs and runs[v].rankings), None)
    return {
        "name": dataset,
        # before any run, the configured name is all we know
        "synthetic": any(bool(r.metrics.get("synthetic")) for r in runs.values()) if runs else dataset == "synthetic",
        "protocol": next((r.metrics.get("protocol") for r in runs.values() if r.metrics.get("protocol")), None),
        "claim_key": key,
        "claimed_gain": claims.get(key) if key else None,
        "headline": headline(runs, claims.get(key) if key else None),
        "ablation": ablation(runs),
        "public": public_baselines(dataset, paper),
        "cmc_svg": figures.cmc_svg(cmcs) if cmcs else None,
        "training_svg": figures.training_svg(logs) if logs else None,
        "retrieval": {"variant": ranked.variant, "rows": figures.ranking_grid(ranked.rankings, root)} if ranked else None,
        "runs": {
            v: {"num_query": r.metrics.get("num_query"), "num_gallery": r.metrics.get("num_gallery"), "meta": r.train_meta or {}}
            for v, r in runs.items()
        },
    }


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
    runs = {v: run for v in VARIANTS if (run := load_run(results_dir, models_dir, v)) is not None}
    by_dataset: dict[str, dict] = {}
    for variant, run in runs.items():
        by_dataset.setdefault(run.metrics["dataset"], {})[variant] = run
    datasets = [dataset_section(name, group, paper, root) for name, group in sorted(by_dataset.items())]
    if not datasets:
        datasets = [dataset_section(dataset, {}, paper, root)]
    params_text = Path(params_path).read_text() if Path(params_path).is_file() else ""
    git = provenance.git_state(root)
    return {
        "title": "DRANet reproduction report",
        "generated_at": provenance.now_utc(),
        "synthetic": any(section["synthetic"] for section in datasets),
        "datasets": datasets,
        "paper": paper["dranet"],
        "reference": reference_table(paper["baselines"]),
        "attention": attention,
        "attention_note": attention_note,
        "provenance": {
            "git": git,
            "dvc_stages": provenance.dvc_lock_stages(root / "dvc.lock"),
            "params_path": str(params_path),
            "params_text": params_text,
            "libraries": provenance.library_versions(),
            "hardware": provenance.hardware(),
            "seed": seed,
            "metrics_times": {v: provenance.file_time_utc(r.metrics_path) for v, r in runs.items()},
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
