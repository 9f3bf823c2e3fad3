"""The report as a Jupyter notebook: one code cell per section of the HTML page.

Cells come with their outputs already filled in (the same HTML fragments as the page), so the
notebook reads well unexecuted; `execute_notebook` re-runs it with nbclient, which recomputes
every section from the pipeline's files.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from dranet_keras.report.render import SECTIONS, render_section

SETUP = """\
from IPython.display import HTML, display

from dranet_keras.report.render import render_section
from dranet_keras.report.context import collect_context

context = collect_context(**{arguments!r})"""


def build_notebook(context: dict, arguments: dict) -> nbformat.NotebookNode:
    """A notebook whose first cell rebuilds `context` with `collect_context(**arguments)`
    (plain values: paths as strings) and whose other cells display one section each."""
    cells = [
        new_markdown_cell(
            f"# {context['title']}\n\nThe same sections as `reports/index.html`. "
            "Run all cells (from the repository root) to recompute them from the pipeline's files."
            + ("\n\n**SYNTHETIC DATA**: these runs use the embedded procedural data set." if context["synthetic"] else "")
        ),
        new_code_cell(SETUP.format(arguments=arguments)),
    ]
    for name in SECTIONS:
        cell = new_code_cell(f'display(HTML(render_section("{name}", context)))')
        cell.outputs = [new_output("display_data", data={"text/html": render_section(name, context), "text/plain": f"<{name} section>"})]
        cells.append(cell)
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def execute_notebook(notebook: nbformat.NotebookNode, working_dir: Path, timeout: int = 1200) -> nbformat.NotebookNode:
    """Run every cell with nbclient in `working_dir` (outputs replaced in place)."""
    from nbclient import NotebookClient

    NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(working_dir)}}).execute()
    return notebook
