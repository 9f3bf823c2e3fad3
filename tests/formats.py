"""Check files against docs/formats.md: the documented names (tables of `name | type | when |
meaning`) against the columns of a CSV or the leaf keys of a JSON file."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "formats.md"


def documented(file_name: str) -> dict[str, bool]:
    """{name: always present} of the table under the heading `## <file_name>`."""
    section = re.search(rf"^## {re.escape(file_name)}\n(.*?)(?=^## |\Z)", DOC.read_text(), re.M | re.S)
    assert section, f"{DOC} has no section for {file_name}"
    rows = re.findall(r"^\| `([^`]+)` \| [^|]+ \| ([^|]+) \|", section.group(1), re.M)
    assert rows, f"{DOC}: no table rows under {file_name}"
    return {name: when.strip() == "always" for name, when in rows}


def leaves(value, prefix: str = "") -> set[str]:
    """Dotted leaf names of a JSON value (`a.b`, `a[].b`; null and empty lists are leaves)."""
    if isinstance(value, dict) and value:
        return set().union(*(leaves(item, f"{prefix}{key}.") for key, item in value.items()))
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        return set().union(*(leaves(item, f"{prefix[:-1]}[].") for item in value))
    return {prefix[:-1]}


def names_in(path: Path) -> set[str] | list[str]:
    if path.suffix == ".csv":
        with open(path, newline="") as handle:
            return next(csv.reader(handle))
    return leaves(json.loads(path.read_text()))


def check(path: Path, section: str | None = None) -> None:
    """Assert that `path` has every always-present name its section (by default the one named
    after the file) documents, and nothing undocumented (a `<name>` in the doc matches any one key)."""
    path = Path(path)
    section = section or path.name
    spec = documented(section)
    found = names_in(path)
    patterns = {name: re.compile(re.sub(r"<[^>]+>", r"[^.\\[\\]]+", re.escape(name)) + r"\Z") for name in spec}
    undocumented = sorted(name for name in found if not any(p.match(name) for p in patterns.values()))
    assert not undocumented, f"{path}: {undocumented} not in docs/formats.md ## {section}"
    missing = sorted(name for name, always in spec.items() if always and not any(patterns[name].match(f) for f in found))
    assert not missing, f"{path}: documented as always present but missing: {missing}"
    if path.suffix == ".csv":
        documented_order = [name for name in spec if name in found]
        assert list(found) == documented_order or path.name == "training_log.csv", f"{path}: column order {found}"
