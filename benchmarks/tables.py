"""Measured figures go into docs/benchmarks.md from the script that measured them: each table
replaces its own block there (between `<!-- table: NAME -->` and `<!-- end: NAME -->`, appended
if missing) with the Markdown table and one line naming the machine, the load, the commit, the
date and the command. Every benchmark takes `--doc FILE` (default docs/benchmarks.md)."""

from __future__ import annotations

import datetime
import os
import platform
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"


def add_doc_argument(parser) -> None:
    parser.add_argument("--doc", type=Path, default=DOC, help=f"Markdown file that gets the table (default: {DOC.relative_to(ROOT)})")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def commit() -> str:
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def markdown(columns: list[str], rows: list[list]) -> str:
    def cell(value):
        return f"{value:,.2f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return "\n".join([*lines, *("| " + " | ".join(cell(v) for v in row) + " |" for row in rows)])


def publish(name: str, columns: list[str], rows: list[list], *, doc: Path, load_at_start: float, note: str = "") -> str:
    """Print the table and put it, with its provenance, into `doc`'s block `name`."""
    from dranet_keras.io import atomic_write_text  # here: peer_step.py's torch worker imports this file without the package
    provenance = (
        f"Machine: {cpu_name()}, {os.cpu_count()} logical CPUs; 1-min load average {load_at_start:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end; commit {commit()}; {datetime.date.today().isoformat()}; "
        f"`{shlex.join(['benchmarks/' + Path(sys.argv[0]).name, *sys.argv[1:]])}`."
    )
    block = "\n\n".join(part for part in (markdown(columns, rows), note, provenance) if part)
    print(f"\n{block}\n", flush=True)
    begin, end = f"<!-- table: {name} -->", f"<!-- end: {name} -->"
    text = doc.read_text() if doc.is_file() else ""
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    wrapped = f"{begin}\n{block}\n{end}"
    text = pattern.sub(lambda _: wrapped, text, count=1) if pattern.search(text) else f"{text.rstrip()}\n\n{wrapped}\n".lstrip()
    atomic_write_text(doc, text)
    return block
