"""The study's protocol file (experiments/study/protocol.yaml): which runs, seeds and order,
where things go, and a digest that ties every result to the protocol it was run under."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from dranet_keras.choices import VARIANTS
from dranet_keras.errors import UserError

DEFAULT_PROTOCOL = "experiments/study/protocol.yaml"
DEFAULT_CLAIMS = "experiments/claims.yaml"


class ProtocolError(UserError):
    """The protocol file is missing a key or holds a wrong value."""


@dataclass(frozen=True)
class Run:
    """One arm of the study: a variant and the config keys it changes, trained with `seeds` seeds."""

    name: str
    variant: str
    seeds: int
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class Protocol:
    path: Path
    params: Path
    work_dir: Path
    results_dir: Path
    pretrain_data_seed: int
    pretrain_train_ids: int
    runs: dict[str, Run]
    order: tuple[tuple[str, ...], ...]
    convergence_window: int
    convergence_max_drop: float
    mask_images: int
    bootstrap_resamples: int
    bootstrap_seed: int

    @property
    def digest(self) -> str:
        """sha256[:16] of the protocol and params files: what a result was run under."""
        return hashlib.sha256(self.path.read_bytes() + b"\0" + self.params.read_bytes()).hexdigest()[:16]

    def schedule(self) -> list[tuple[Run, int]]:
        """Every (run, seed), in training order: group by group, seeds interleaved in a group."""
        jobs = []
        for group in self.order:
            for seed in range(max(self.runs[name].seeds for name in group)):
                jobs += [(self.runs[name], seed) for name in group if seed < self.runs[name].seeds]
        return jobs

    def result_path(self, name: str, seed: int) -> Path:
        return self.results_dir / name / f"seed{seed}.json"

    @property
    def references_path(self) -> Path:
        """The floors scored on the study's splits (chance, the colour histogram): one file."""
        return self.results_dir / "references.json"

    def model_dir(self, name: str, seed: int) -> Path:
        return self.work_dir / "models" / name / f"seed{seed}"

    @property
    def backbone(self) -> Path:
        return self.work_dir / "models" / "pretrain" / "backbone.weights.h5"


def _get(mapping: dict, key: str, kind, path: Path):
    if not isinstance(mapping, dict) or key not in mapping:
        raise ProtocolError(f"{path}: missing key {key!r}")
    value = mapping[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ProtocolError(f"{path}: {key} must be {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def load_protocol(path: str | Path = DEFAULT_PROTOCOL) -> Protocol:
    """Read and check the protocol file; relative paths in it are relative to the working directory."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ProtocolError(f"{path}: cannot read the study protocol ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise ProtocolError(f"{path}: not valid YAML ({' '.join(str(error).split())})") from None
    pretrain = _get(raw, "pretrain", dict, path)
    runs = {}
    for name, spec in _get(raw, "runs", dict, path).items():
        variant = _get(spec, "variant", str, path)
        if variant not in VARIANTS:
            raise ProtocolError(f"{path}: runs.{name}.variant must be one of {list(VARIANTS)}, got {variant!r}")
        seeds = _get(spec, "seeds", int, path)
        if seeds < 1:
            raise ProtocolError(f"{path}: runs.{name}.seeds must be >= 1, got {seeds}")
        runs[name] = Run(name, variant, seeds, tuple(spec.get("set", ())))
    order = tuple(tuple(group) for group in _get(raw, "order", list, path))
    named = [name for group in order for name in group]
    if sorted(named) != sorted(runs):
        raise ProtocolError(f"{path}: order must name every run exactly once; runs {sorted(runs)}, order {named}")
    convergence = _get(raw, "convergence", dict, path)
    bootstrap = _get(raw, "bootstrap", dict, path)
    params = Path(_get(raw, "params", str, path))
    if not params.is_file():
        raise ProtocolError(f"{path}: params {params} does not exist")
    return Protocol(
        path=path,
        params=params,
        work_dir=Path(_get(raw, "work_dir", str, path)),
        results_dir=Path(_get(raw, "results_dir", str, path)),
        pretrain_data_seed=_get(pretrain, "data_seed", int, path),
        pretrain_train_ids=_get(pretrain, "train_ids", int, path),
        runs=runs,
        order=order,
        convergence_window=_get(convergence, "window", int, path),
        convergence_max_drop=float(_get(convergence, "max_relative_drop", (int, float), path)),
        mask_images=_get(raw, "mask_images", int, path),
        bootstrap_resamples=_get(bootstrap, "resamples", int, path),
        bootstrap_seed=_get(bootstrap, "seed", int, path),
    )
