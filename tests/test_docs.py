"""The docs name only what exists: every dotted Python name in backticks (`module.function`,
`dranet_keras...`, `keras...`, `tf...`, `training.CSVLog` relative to the package) and every
`from X import a, b` / `import X` of their code blocks resolves to an importable attribute."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").glob("*.md")])
PACKAGE = ROOT / "dranet_keras"
# config sections (`data.root`, `train.epochs`) read like names relative to the package: those
# parts count only when spelt `dranet_keras.<part>...`
CONFIG_SECTIONS = {"model", "data", "train", "eval", "pretrain"}
PARTS = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").is_file()} - {"__init__"}
ROOTS = {"dranet_keras": "dranet_keras", "keras": "keras", "tf": "tensorflow", "tensorflow": "tensorflow", "np": "numpy", "numpy": "numpy",
         **{part: f"dranet_keras.{part}" for part in PARTS - CONFIG_SECTIONS}}
DOTTED = re.compile(r"(?<![\w./-])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)")
FILE_SUFFIXES = {"py", "md", "csv", "json", "yaml", "keras", "h5", "html", "ipynb", "txt", "npy", "png"}  # `config.py` is a file
IMPORT = re.compile(r"^\s*(?:from ([\w.]+) import ([\w, ]+)|import ([\w.]+))\s*(?:#.*)?$", re.M)


def named(text: str) -> set[str]:
    """Dotted names with a known root in backticks and in Python code blocks, and what those
    blocks import."""
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    spans = re.findall(r"`([^`]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    names = {name for span in [*spans, *blocks] for name in DOTTED.findall(span)}
    names = {name for name in names if name.split(".")[0] in ROOTS and name.split(".")[-1] not in FILE_SUFFIXES}
    for block in blocks:
        for module, members, plain in IMPORT.findall(block):
            names |= {f"{module}.{m.strip()}" for m in members.split(",") if m.strip()} if module else {plain}
    return names


def resolves(name: str) -> bool:
    first, *rest = name.split(".")
    parts = [*ROOTS[first].split("."), *rest] if first in ROOTS else name.split(".")
    for cut in range(len(parts), 0, -1):  # the longest importable module, then attributes
        try:
            value = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attribute in parts[cut:]:
                value = getattr(value, attribute)
        except AttributeError:
            return False
        return True
    return False


def test_the_checker_tells_real_names_from_invented_ones():
    text = "`model = dranet_keras.models.loading.load_dranet(path)`, `training.CSVLog`, not `data.root` or `io.py`\n```python\nfrom dranet_keras.evaluation import evaluate_rank, re_rank\n```"
    assert named(text) == {"dranet_keras.models.loading.load_dranet", "training.CSVLog", "dranet_keras.evaluation",
                           "dranet_keras.evaluation.evaluate_rank", "dranet_keras.evaluation.re_rank"}
    assert all(map(resolves, named(text)))
    assert not resolves("dranet_keras.serving.load_dranet") and not resolves("keras.optimizers.NoSuchOptimizer")


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_python_name_the_docs_give_exists(path):
    missing = sorted(name for name in named(path.read_text()) if not resolves(name))
    assert not missing, f"{path.relative_to(ROOT)} names what does not exist: {missing}"
