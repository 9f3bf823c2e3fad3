"""The notebooks are stored without outputs and run top to bottom (nbclient) at a tiny size.

Each notebook's first code cell is tagged "parameters"; the test replaces it with tiny values
(every name it sets must already be a parameter there, so a renamed parameter fails here).
`attention.ipynb` reads the model `quickstart.ipynb` saves, so they run in that order, in a
temporary directory laid out like the repository (notebooks/, ../data, ../models).
"""

from __future__ import annotations

import ast
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
TINY = {
    "quickstart": {
        "HEIGHT, WIDTH": (64, 32),
        "TRAIN_IDS, TEST_IDS, CAMERAS, DISTRACTORS": (6, 4, 2, 2),
        "EPOCHS": 1,
        "BATCH_SIZE": 8,
        "DATA_ROOT": "../data/raw/synthetic_quickstart",
        "MODEL_PATH": "../models/quickstart/model.keras",
        "DEPTH": 14,  # a ResNet14: the test is of the notebooks, not the backbone
        "RUN_EAGERLY": True,
    },
    "attention": {
        "MODEL_PATH": "../models/quickstart/model.keras",
        "DATA_ROOT": "../data/raw/synthetic_quickstart",
        "NUM_IMAGES": 2,
    },
}


def parameters_cell(notebook):
    cells = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(cells) == 1, "expected exactly one cell tagged 'parameters'"
    return cells[0]


def assigned_names(source: str) -> set[str]:
    names = set()
    for node in ast.parse(source).body:
        assert isinstance(node, ast.Assign), f"parameters cell holds more than assignments: {ast.unparse(node)}"
        names.add(ast.unparse(node.targets[0]).replace("(", "").replace(")", ""))
    return names


@pytest.mark.parametrize("name", sorted(TINY))
def test_notebook_is_stored_without_outputs_and_its_parameters_are_known(name):
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "outputs must be stripped in git"
    assert assigned_names(parameters_cell(notebook).source) == set(TINY[name])


def run_notebook(name: str, cwd: Path):
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    parameters_cell(notebook).source = "\n".join(f"{key} = {value!r}" for key, value in TINY[name].items())
    start = time.perf_counter()
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return notebook, time.perf_counter() - start


def outputs_of(notebook, kind: str) -> list:
    return [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs if kind in output.get("data", {}) or output.get("output_type") == kind]


def text_of(notebook) -> str:
    return "".join(output.get("text", "") for output in outputs_of(notebook, "stream"))


@pytest.mark.slow
def test_notebooks_run_at_a_tiny_size(tmp_path):
    cwd = tmp_path / "notebooks"
    cwd.mkdir()
    quickstart, quickstart_seconds = run_notebook("quickstart", cwd)
    attention, attention_seconds = run_notebook("attention", cwd)
    print(f"notebook execution: quickstart {quickstart_seconds:.1f} s, attention {attention_seconds:.1f} s")

    text = text_of(quickstart)
    assert "mAP" in text and "rank-1" in text
    assert "/step - " in text and "loss: " in text  # Keras's fit progress bar was printed
    assert "reloads with the same embeddings: True" in text
    assert (tmp_path / "models" / "quickstart" / "model.keras").is_file()
    assert len(outputs_of(quickstart, "image/png")) >= 3  # samples, loss curve, rankings

    assert "channel_masks" in text_of(attention)
    assert len(outputs_of(attention, "image/png")) == 2  # channel masks, the RSAM map h
