"""The import floors of docs/architecture.md, checked on every `import` in the package (also
those inside functions): a lower floor never imports a higher one."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "dranet_keras"

# floor of each top-level part of the package; a module may import its own floor or lower ones.
FLOORS = {
    "errors": 0, "io": 0, "layout": 0, "run_lock": 0, "precision": 2, "choices": 0,
    "layers": 1, "losses": 1,
    "data": 2, "evaluation": 2, "models": 2, "training": 2, "multi_worker_fix": 2, "quiet": 2,
    "config": 3,
    "embedding": 4, "serving": 4, "report": 4,
    "stages": 5, "cli": 5, "study": 5,
}
# models/__init__ imports training (to register the LR schedule saved optimizers hold) and
# training builds models: one floor, a deliberate pair. config reads the data set registry and
# the synthetic generator's defaults (data is below config); the report reads configurations
# (provenance: each run's effective configuration and the command that reproduces it).


def part(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "__init__"


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith("dranet_keras.")}


def test_every_part_has_a_floor():
    parts = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").is_file()}
    assert parts - {"__init__"} == set(FLOORS)


def test_no_module_imports_a_higher_floor():
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("").as_posix().replace("/", ".")
        own = FLOORS.get(part(relative))
        if own is None:
            continue
        for name in imports(path):
            other = part(name)
            if other in FLOORS and FLOORS[other] > own:
                violations.append(f"{relative} imports {name}")
    assert violations == []


def test_the_ground_floor_imports_only_errors():
    for name in ("io", "layout", "choices", "errors"):
        assert imports(PACKAGE / f"{name}.py") <= {"dranet_keras.errors", "dranet_keras.errors.UserError"}, name
