"""The notebook holds the page's sections; executed, it recomputes them from the files."""

from __future__ import annotations

import nbformat
import pytest

from dranet_keras.report.notebook import build_notebook, execute_notebook
from dranet_keras.report.render import SECTIONS, render_section
from dranet_keras.report.context import collect_context

from .pipeline_fixtures import PAPER_RESULTS
from .html_cells import find_cell, table_cells


def arguments_for(root):
    return {"root": str(root), "results_dir": "results", "models_dir": "models", "paper_results": str(PAPER_RESULTS),
            "params_path": str(root / "params.yaml"), "dataset": "synthetic", "seed": 0,
            "manifest": "data/prepared/synthetic/manifest.csv", "attention_samples": 4}


def html_outputs(notebook):
    return [output["data"]["text/html"] for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", []) if "data" in output]


def test_notebook_has_every_section_prefilled(pipeline_outputs):
    root = pipeline_outputs()
    arguments = arguments_for(root)
    context = collect_context(**arguments)
    notebook = build_notebook(context, arguments)
    nbformat.validate(notebook)
    outputs = html_outputs(notebook)
    assert len(outputs) == len(SECTIONS)
    assert outputs[SECTIONS.index("ablation")] == render_section("ablation", context)
    cell = find_cell(table_cells(outputs[SECTIONS.index("ablation")]), "ablation", variant="dra", metric="mAP")
    assert cell["text"] == "55.0"
    assert "SYNTHETIC DATA" in notebook.cells[0].source
    assert "not run: " in outputs[SECTIONS.index("attention")]  # no trained model in the fixture


@pytest.mark.slow
def test_executed_notebook_recomputes_sections(pipeline_outputs):
    root = pipeline_outputs(variants=("baseline", "dra"))
    arguments = {**arguments_for(root), "attention_samples": 0}
    notebook = build_notebook(collect_context(**arguments), arguments)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []  # whatever appears now comes from executing the cells
    execute_notebook(notebook, root, timeout=300)
    outputs = html_outputs(notebook)
    assert len(outputs) == len(SECTIONS)
    cells = table_cells(outputs[SECTIONS.index("headline")])
    assert find_cell(cells, "headline", metric="mAP", rerank="false", variant="dra")["text"] == "55.0"
    assert find_cell(table_cells(outputs[SECTIONS.index("ablation")]), "ablation", variant="sic", metric="mAP")["text"] == "not run"
