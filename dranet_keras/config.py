"""Typed experiment configuration: frozen dataclasses loaded from YAML.

Configuration enters at the edges (CLI, DVC stages, notebooks); library functions take explicit
arguments. Every knob has exactly one default, here. Unknown or misspelt keys are errors that
name the key and the valid ones.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from dranet_keras.choices import DESCRIPTORS, ERASES, REVERSE_GRADIENTS, VARIANTS, Descriptor, Erase, ReverseGradient, Variant
from dranet_keras.errors import UserError

# The names `dranet_keras.data.load_dataset` reads (kept equal by tests/data/test_datasets.py).
DATASETS = ("market1501", "dukemtmc", "cuhk03_labeled", "cuhk03_detected", "msmt17", "folder", "synthetic")


class ConfigError(UserError, ValueError):
    """A configuration file or override a user wrote is invalid."""


@dataclass(frozen=True)
class ModelConfig:
    """The model: its fields are `DRANet`'s constructor arguments one to one (`arguments()`),
    the image size given as `height` and `width`. The model computes its own loss, so the
    loss knobs are here too."""

    variant: Variant = "dra"
    height: int = 256
    width: int = 128
    parts: int = 3
    last_stride: int = 1
    weights: str | None = None  # None | "imagenet" | path to a weights file
    reduction: int = 16
    reverse_gradient: ReverseGradient = "stop"  # RCAM: C = A * (1 - stop_gradient(m)), or let it flow
    erase: Erase = "soft"  # RSAM: D = B * (1 - h), or "hard": B * [h < erase_threshold]
    erase_threshold: float = 0.6
    reduce_dim: int = 1024
    descriptor: Descriptor = "bn"  # retrieval feature: BatchNorm-standardised, or "raw" pooled
    label_smoothing: float = 0.1
    loss_weight_c: float = 1.0  # RCAM's head, relative to SIC's (or the plain head's) loss
    loss_weight_d: float = 1.0  # RSAM's head
    triplet_weight: float = 0.0
    triplet_margin: float = 0.3

    def __post_init__(self):
        choices = {
            "variant": VARIANTS,
            "reverse_gradient": REVERSE_GRADIENTS,
            "erase": ERASES,
            "descriptor": DESCRIPTORS,
        }
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"model.{key}: {getattr(self, key)!r} is not one of {list(allowed)}")
        if self.last_stride not in (1, 2):
            raise ConfigError(f"model.last_stride: expected 1 or 2, got {self.last_stride}")
        if not 0.0 < self.erase_threshold <= 1.0:
            raise ConfigError(f"model.erase_threshold: expected (0, 1], got {self.erase_threshold}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"model.label_smoothing: expected [0, 1), got {self.label_smoothing}")
        for key in ("loss_weight_c", "loss_weight_d", "triplet_weight"):
            if getattr(self, key) < 0:
                raise ConfigError(f"model.{key}: expected >= 0, got {getattr(self, key)}")

    def arguments(self) -> dict:
        """`build_dranet(num_ids, **arguments())`: the fields, height and width as input_shape."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        values["input_shape"] = (values.pop("height"), values.pop("width"), 3)
        return values


@dataclass(frozen=True)
class DataConfig:
    """Which data set, where it lives, and how the synthetic one is generated."""

    name: str = "synthetic"
    root: str = "data/raw/synthetic"
    prepared_dir: str = "data/prepared"
    # Sized for the 2-core demo (4 variants trained from scratch in <= 15 min at 128x64).
    synthetic_train_ids: int = 64
    synthetic_test_ids: int = 50
    synthetic_cameras: int = 6
    synthetic_images_per_camera: int = 2
    synthetic_height: int = 128
    synthetic_width: int = 64
    synthetic_distractors: int = 25  # one-off people (pid 0) in the synthetic gallery
    extract_dir: str = "data/raw"  # archives and CUHK03's PNGs are extracted to <extract_dir>/<name>
    extra_gallery: bool = False  # market1501: add the 500k distractors in `images` to the gallery
    include_val: bool = True  # msmt17: train on list_train + list_val (as published results do)
    camera_ids: bool = True  # folder: False = every image its own camera (see README, Data sets)
    skip_corrupt: bool = False

    def __post_init__(self):
        if self.name not in DATASETS:
            raise ConfigError(f"data.name: {self.name!r} is not one of {list(DATASETS)}")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, augmentation, sampling, precision and distribution."""

    epochs: int = 30
    batch_size: int = 64
    steps_per_epoch: int | None = None
    optimizer: str = "adamw"  # adamw | sgd
    learning_rate: float = 3.5e-4
    weight_decay: float = 5e-4
    momentum: float = 0.9
    warmup_epochs: int = 5
    warmup_factor: float = 0.01  # the LR warmup starts at this fraction of learning_rate
    schedule: str = "step"  # step | cosine
    lr_milestones: tuple[int, ...] = (15, 25)
    lr_gamma: float = 0.1
    sampler: str = "random"  # random | pk
    instances_per_id: int = 4
    flip: bool = True
    pad: int = 10
    random_erasing: float = 0.5
    mixed_precision: str | None = None  # None | mixed_float16 | mixed_bfloat16
    strategy: str = "default"  # default | mirrored | multi_worker | tpu
    deterministic: bool = False

    def __post_init__(self):
        choices = {
            "optimizer": ("adamw", "sgd"),
            "schedule": ("step", "cosine"),
            "sampler": ("random", "pk"),
            "strategy": ("default", "mirrored", "multi_worker", "tpu"),
            "mixed_precision": (None, "mixed_float16", "mixed_bfloat16"),
        }
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"train.{key}: {getattr(self, key)!r} is not one of {list(allowed)}")


@dataclass(frozen=True)
class EvalConfig:
    """Retrieval evaluation."""

    metric: str = "cosine"  # cosine | euclidean
    flip_test: bool = True
    batch_size: int = 128
    max_rank: int = 50
    protocol: str = "market"  # market | cuhk03
    rerank: bool = True
    rerank_k1: int = 20
    rerank_k2: int = 6
    rerank_lambda: float = 0.3
    visual_queries: int = 8


@dataclass(frozen=True)
class PretrainConfig:
    """The pipeline's `pretrain` stage: the baseline trained once (the `train` settings but
    these), whose backbone every variant's `train` stage starts from."""

    epochs: int = 0  # 0: no training, the variants start from model.weights as given
    lr_milestones: tuple[int, ...] = ()

    def __post_init__(self):
        if self.epochs < 0:
            raise ConfigError(f"pretrain.epochs: expected >= 0, got {self.epochs}")


@dataclass(frozen=True)
class Config:
    """A whole experiment."""

    seed: int = 0  # data generation, and training/evaluation when a stage is not given one
    seeds: tuple[int, ...] = (0,)  # the training seeds the DVC pipeline runs per variant
    variants: tuple[Variant, ...] = VARIANTS  # the variants the DVC pipeline trains
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)

    def __post_init__(self):
        for name in self.variants:
            if name not in VARIANTS:
                raise ConfigError(f"variants: {name!r} is not one of {list(VARIANTS)}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise ConfigError(f"seeds: expected a non-empty list of distinct non-negative integers, got {list(self.seeds)}")


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Check `value` against a (simple) type annotation; lists become tuples."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        allowed = typing.get_args(annotation)
        if value not in allowed:
            raise ConfigError(f"{where}: {value!r} is not one of {list(allowed)}")
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0])
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item_type, _) = typing.get_args(annotation)
        return tuple(_coerce(item, item_type, f"{where}[{i}]") for i, item in enumerate(value))
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{where}: expected {annotation.__name__}, got {value!r}")
    if not isinstance(value, annotation):
        raise ConfigError(f"{where}: expected {annotation.__name__}, got {value!r}")
    return value


def _build(cls: type, values: Mapping[str, Any], where: str):
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in values.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in hints:
            raise ConfigError(f"unknown config key {path!r}; valid keys here: {', '.join(names)}")
        if dataclasses.is_dataclass(hints[key]):
            kwargs[key] = _build(hints[key], value or {}, path)
        else:
            kwargs[key] = _coerce(value, hints[key], path)
    return cls(**kwargs)


def config_from_dict(values: Mapping[str, Any]) -> Config:
    """Build a validated `Config` from nested plain values (as YAML gives them)."""
    return _build(Config, values or {}, "")


def _set_nested(values: dict, dotted: str, raw: str) -> None:
    *parents, leaf = dotted.split(".")
    node = values
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {dotted!r}: {part!r} is not a section")
    node[leaf] = yaml.safe_load(raw)


def parse_overrides(overrides: list[str] | tuple[str, ...]) -> dict:
    """Turn ["train.epochs=3", ...] into nested values (YAML-typed right-hand sides)."""
    values: dict = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r}: expected key=value, e.g. train.epochs=3")
        _set_nested(values, key.strip(), raw)
    return values


def merge(base: dict, update: Mapping) -> dict:
    """Recursive dict merge (update wins) without mutating the inputs."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def read_yaml(path: str | Path) -> dict:
    """Read a YAML mapping, with errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {error}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"config file {path}: expected a mapping at the top level")
    return values


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Load a Config from a YAML file (or defaults when None), then apply `key=value` overrides."""
    values = read_yaml(path) if path is not None else {}
    try:
        return config_from_dict(merge(values, parse_overrides(overrides)))
    except ConfigError as error:
        where = f" in {path}" if path is not None else ""
        raise ConfigError(f"{error}{where}") from None


def config_to_dict(config: Config) -> dict:
    """Plain nested values (tuples as lists) suitable for YAML/JSON."""

    def plain(value):
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return plain(dataclasses.asdict(config))
