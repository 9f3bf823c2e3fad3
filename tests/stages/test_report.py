"""`dranet report`: reads the pipeline's files, writes index.html and report.ipynb, prints the path."""

from __future__ import annotations

import json

import nbformat

from dranet_keras.cli import main
from tests.report.pipeline_fixtures import PAPER_RESULTS, write_outputs


def test_report_command_writes_page_and_notebook(tmp_path, monkeypatch, capsys):
    root = write_outputs(tmp_path, variants=("baseline", "dra"))
    monkeypatch.chdir(root)
    status = main(["report", "--params", "params.yaml", "--paper-results", str(PAPER_RESULTS)])
    assert status == 0
    assert capsys.readouterr().out.strip() == "reports/index.html"
    html = (root / "reports" / "index.html").read_text()
    assert "SYNTHETIC DATA" in html and "models/dra/seed0/model.keras not found" in html
    nbformat.validate(nbformat.read(root / "reports" / "report.ipynb", as_version=4))
    assert sorted(p.name for p in (root / "reports").iterdir()) == ["index.html", "report.ipynb"]  # no temp files left


def test_report_command_bad_metrics_is_one_line_error(tmp_path, monkeypatch, capsys):
    root = write_outputs(tmp_path, variants=("dra",), images=False)
    (root / "results" / "dra" / "seed0" / "metrics.json").write_text(json.dumps({"dataset": "synthetic"}))
    monkeypatch.chdir(root)
    assert main(["report", "--params", "params.yaml", "--paper-results", str(PAPER_RESULTS)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "metrics.json" in error and "'variant'" in error
