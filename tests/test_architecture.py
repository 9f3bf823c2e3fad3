"""The import floors of docs/architecture.md, checked on every `import` in the package (also
those inside functions and under TYPE_CHECKING): a lower floor never imports a higher one, and
the parts of one floor import each other without a cycle."""

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
    "stages": 5, "cli": 5, "study": 4,
}
# models/loading imports training.schedule (to register the LR schedule saved optimizers hold);
# training never imports models (fit_dranet is handed a builder). config reads the data set registry and
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


def _part_graph() -> dict[str, set[str]]:
    """{part: the other parts of its own floor that it imports}."""
    graph = {name: set() for name in FLOORS}
    for path in sorted(PACKAGE.rglob("*.py")):
        own = part(path.relative_to(PACKAGE.parent).with_suffix("").as_posix().replace("/", "."))
        if own in FLOORS:
            graph[own] |= {part(name) for name in imports(path) if part(name) != own and FLOORS.get(part(name)) == FLOORS[own]}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle reachable by depth-first search, each once (from its smallest name)."""
    found = []

    def walk(path):
        for nxt in sorted(graph.get(path[-1], ())):
            if nxt == path[0]:
                found.append(path)
            elif nxt > path[0] and nxt not in path:
                walk([*path, nxt])

    for start in sorted(graph):
        walk([start])
    return found


def test_cycle_finder_finds_a_pair_and_a_triangle():
    assert cycles({"a": {"b"}, "b": {"a", "c"}, "c": set()}) == [["a", "b"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_cycle_within_a_floor():
    assert cycles(_part_graph()) == []


def test_models_import_without_tensorflow_and_a_dranet_trains_a_step_on_jax():
    """`dranet_keras.models` (and the LR schedule) are `keras.ops` only: under JAX, with
    TensorFlow blocked from import, a tiny DRANet builds and trains one step."""
    import os
    import subprocess
    import sys

    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError(f"blocked: {name}")
sys.meta_path.insert(0, Block())
import keras, numpy as np
from dranet_keras.models import build_dranet
from dranet_keras.training.schedule import WarmupDecay, make_optimizer
model = build_dranet(4, variant="dra", input_shape=(48, 16, 3))
model.compile(optimizer=make_optimizer("adamw", WarmupDecay(1e-3, steps_per_epoch=1, epochs=1)))
x = np.random.default_rng(0).uniform(0, 255, (4, 48, 16, 3)).astype("float32")
y = np.arange(4, dtype="int32")
history = model.fit({"images": x, "labels": y}, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
assert "tensorflow" not in sys.modules
print(keras.backend.backend(), int(model.optimizer.iterations), history.history["loss"][0])
"""
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(PACKAGE.parent)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    backend, steps, loss = result.stdout.split()
    assert (backend, steps) == ("jax", "1") and float(loss) > 0


def test_the_ground_floor_imports_only_errors():
    for name in ("io", "layout", "choices", "errors"):
        assert imports(PACKAGE / f"{name}.py") <= {"dranet_keras.errors", "dranet_keras.errors.UserError"}, name
