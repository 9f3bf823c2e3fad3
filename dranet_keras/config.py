"""Typed experiment configuration: frozen dataclasses loaded from YAML.

Configuration enters at the edges (CLI, DVC stages, notebooks); library functions take explicit
arguments. Every knob has exactly one default, here. Unknown or misspelt keys are errors that
name the key and the valid ones.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, NamedTuple

import yaml

from dranet_keras import layout
from dranet_keras.choices import (
    DEPTHS,
    MAX_IMAGE_SIDE,
    MAX_REDUCE_DIM,
    VARIANTS,
    Descriptor,
    Erase,
    Metric,
    Optimizer,
    Protocol,
    ReverseGradient,
    Sampler,
    Schedule,
    Strategy,
    Variant,
)
from dranet_keras.data.archives import MAX_EXTRACT_BYTES, MAX_EXTRACT_RATIO
from dranet_keras.data.datasets import DATASETS
from dranet_keras.data.synthetic import SyntheticSpec
from dranet_keras.errors import UserError
from dranet_keras.evaluation.streaming import DEFAULT_MEMORY_GB
from dranet_keras.precision import POLICIES

_SYNTHETIC = SyntheticSpec()  # the synthetic set's defaults live with its generator


class ConfigError(UserError, ValueError):
    """A configuration file or override a user wrote is invalid."""


class Range(NamedTuple):
    """Allowed interval of a number (None: unbounded on that side)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False  # True: `low` itself is excluded
    high_open: bool = False

    def contains(self, value) -> bool:
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def __str__(self) -> str:
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {self.low}"
        if self.low is None:
            return f"{'<' if self.high_open else '<='} {self.high}"
        return f"in {'(' if self.low_open else '['}{self.low}, {self.high}{')' if self.high_open else ']'}"


# A number's allowed values live beside its field, as `Annotated[type, Range]` (on the item
# type, for lists); choices are `Literal` annotations. Every float must also be finite and
# every string non-empty.
Positive = Annotated[int, Range(1)]  # counts and sizes
NonNegative = Annotated[int, Range(0)]
Weight = Annotated[float, Range(0)]
Fraction = Annotated[float, Range(0, 1, low_open=True)]
Probability = Annotated[float, Range(0, 1)]
Seed = Annotated[int, Range(0, 2**32 - 1)]  # what numpy and TensorFlow seeds accept
Side = Annotated[int, Range(1, MAX_IMAGE_SIDE)]  # image sides a saved model may ask for (models/loading.py)


@dataclass(frozen=True)
class ModelConfig:
    """The model: its fields are `DRANet`'s constructor arguments one to one (`arguments()`),
    the image size given as `height` and `width`. The model computes its own loss, so the
    loss knobs are here too."""

    variant: Variant = "dra"
    height: Side = 256
    width: Side = 128
    parts: Positive = 3
    depth: Literal[DEPTHS] = 50  # ResNet layers (choices.RESNET_BLOCKS): the paper's 50; 14 and 26 (no ImageNet weights) for fast runs
    last_stride: Literal[1, 2] = 1
    weights: str | None = None  # None | "imagenet" | path to a weights file
    reduction: Positive = 16
    reverse_gradient: ReverseGradient = "stop"  # RCAM: C = A * (1 - stop_gradient(m)), or let it flow
    erase: Erase = "soft"  # RSAM: D = B * (1 - h), or "hard": B * [h < erase_threshold]
    erase_threshold: Fraction = 0.6
    reduce_dim: Annotated[int, Range(1, MAX_REDUCE_DIM)] = 1024
    descriptor: Descriptor = "bn"  # retrieval feature: BatchNorm-standardised, or "raw" pooled
    label_smoothing: Annotated[float, Range(0, 1, high_open=True)] = 0.1
    loss_weight_c: Weight = 1.0  # RCAM's head, relative to SIC's (or the plain head's) loss
    loss_weight_d: Weight = 1.0  # RSAM's head
    triplet_weight: Weight = 0.0
    triplet_margin: Weight = 0.3

    def arguments(self) -> dict:
        """`build_dranet(num_ids, **arguments())`: the fields, height and width as input_shape."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        values["input_shape"] = (values.pop("height"), values.pop("width"), 3)
        return values


@dataclass(frozen=True)
class DataConfig:
    """Which data set, where it lives, and how the synthetic one is generated."""

    name: Literal[DATASETS] = "synthetic"
    root: str = "data/raw/synthetic"
    prepared_dir: str = layout.PREPARED_ROOT
    synthetic_train_ids: Annotated[int, Range(2)] = _SYNTHETIC.train_ids  # a classifier needs two identities
    synthetic_test_ids: Positive = _SYNTHETIC.test_ids
    synthetic_cameras: Annotated[int, Range(2)] = _SYNTHETIC.cameras
    synthetic_images_per_camera: Annotated[int, Range(2)] = _SYNTHETIC.images_per_camera
    synthetic_height: Annotated[int, Range(8)] = _SYNTHETIC.height
    synthetic_width: Annotated[int, Range(4)] = _SYNTHETIC.width
    synthetic_distractors: NonNegative = _SYNTHETIC.distractors  # one-off people (pid 0) in the synthetic gallery
    synthetic_occluded_ids: NonNegative = _SYNTHETIC.occluded_ids  # identities of the occluded-query split (0: none)
    extract_dir: str = "data/raw"  # archives, CUHK03's and Occluded-REID's PNGs go to <extract_dir>/<name>
    extra_gallery: bool = False  # market1501: add the 500k distractors in `images` to the gallery
    include_val: bool = True  # msmt17: train on list_train + list_val (as published results do)
    camera_ids: bool = True  # folder: False = every image its own camera (see README, Data sets)
    skip_corrupt: bool = False
    max_image_pixels: Positive = 50_000_000  # larger images are refused (or skipped): decompression bombs
    max_extract_bytes: Positive = MAX_EXTRACT_BYTES  # archive extraction caps
    max_extract_ratio: Positive = MAX_EXTRACT_RATIO


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, augmentation, sampling, precision and distribution."""

    epochs: Positive = 30
    batch_size: Positive = 64
    steps_per_epoch: Positive | None = None
    optimizer: Optimizer = "adamw"
    learning_rate: Annotated[float, Range(0, low_open=True)] = 3.5e-4
    weight_decay: Weight = 5e-4
    momentum: Annotated[float, Range(0, 1, high_open=True)] = 0.9
    warmup_epochs: NonNegative = 5
    warmup_factor: Fraction = 0.01  # the LR warmup starts at this fraction of learning_rate
    schedule: Schedule = "step"
    lr_milestones: tuple[NonNegative, ...] = (15, 25)  # increasing
    lr_gamma: Fraction = 0.1
    sampler: Sampler = "random"
    instances_per_id: Positive = 4
    flip: bool = True
    pad: NonNegative = 10
    random_erasing: Probability = 0.5
    # auto: mixed_bfloat16 on CPUs with AMX/AVX512-BF16, mixed_float16 on GPUs of compute
    # capability >= 7.0, else float32 (dranet_keras/precision.py); None: float32.
    mixed_precision: Literal[POLICIES] = "auto"
    strategy: Strategy = "default"
    deterministic: bool = False
    run_eagerly: bool = False  # Keras' compile option: no graph tracing (debugging, tiny test runs)

    def fit_arguments(self) -> dict:
        """`training.fit_dranet`'s keyword arguments this section holds as they are; the stage
        adds those it derives (steps per epoch, the resolved precision policy and strategy)."""
        names = ("epochs", "optimizer", "learning_rate", "weight_decay", "momentum", "warmup_epochs", "warmup_factor",
                 "schedule", "lr_milestones", "lr_gamma", "deterministic", "run_eagerly")
        return {name: getattr(self, name) for name in names}


@dataclass(frozen=True)
class EvalConfig:
    """Retrieval evaluation."""

    metric: Metric = "cosine"
    flip_test: bool = True
    batch_size: Positive = 128
    max_rank: Positive = 50
    protocol: Protocol = "market"
    rerank: bool = True
    rerank_k1: Positive = 20
    rerank_k2: Positive = 6
    rerank_lambda: Probability = 0.3
    visual_queries: NonNegative = 8
    # GiB of working memory for blocks of distance rows (ranking and re-ranking stream them; the
    # features and re-ranking's sparse structures come on top); larger only means bigger matmuls.
    memory_gb: Annotated[float, Range(0.01, 4096)] = DEFAULT_MEMORY_GB
    rerank_max_hours: Annotated[float, Range(0, low_open=True)] = 1.0  # the evaluate stage refuses a re-ranking estimated to take longer

    def ranking_arguments(self) -> dict:
        """`evaluation.results.evaluate_embeddings`'s keyword arguments from this section."""
        return {
            "metric": self.metric,
            "max_rank": self.max_rank,
            "protocol": self.protocol,
            "rerank": self.rerank,
            "k1": self.rerank_k1,
            "k2": self.rerank_k2,
            "lambda_value": self.rerank_lambda,
            "memory_gb": self.memory_gb,
            "visual_queries": self.visual_queries,
        }


@dataclass(frozen=True)
class PretrainConfig:
    """The pipeline's `pretrain` stage: the baseline trained once (the `train` settings but
    these), whose backbone every variant's `train` stage starts from."""

    epochs: NonNegative = 0  # 0: no training, the variants start from model.weights as given
    lr_milestones: tuple[NonNegative, ...] = ()  # increasing
    # Its own training seed, never one of `seeds`: Keras draws each layer's initial weights from
    # the seed, so a variant fine-tuned with the pretraining's seed would start its plain head
    # exactly where the pretrained backbone's head started, a head that backbone co-adapted with
    # (measured: 75 % training accuracy in the first step instead of ~2 %).
    seed: Seed = 1000


@dataclass(frozen=True)
class Config:
    """A whole experiment."""

    seed: Seed = 0  # data generation, and training/evaluation when a stage is not given one
    seeds: tuple[Seed, ...] = (0,)  # the training seeds the DVC pipeline runs per variant
    variants: tuple[Variant, ...] = VARIANTS  # the variants the DVC pipeline trains
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)

    def __post_init__(self):
        rows = feature_height(self.model.height, self.model.last_stride)
        if self.model.parts > rows:
            raise ConfigError(
                f"model.parts: {self.model.parts} stripes but a {self.model.height}-pixel-high image gives "
                f"{rows} feature rows (height / {2 ** (4 if self.model.last_stride == 1 else 5)}); "
                f"use model.parts <= {rows} or a larger model.height"
            )
        for key, values in (("seeds", self.seeds), ("variants", self.variants)):
            if not values or len(set(values)) != len(values):
                raise ConfigError(f"{key}: expected a non-empty list of distinct values, got {list(values)}")
        for key, milestones in (("train", self.train.lr_milestones), ("pretrain", self.pretrain.lr_milestones)):
            if list(milestones) != sorted(set(milestones)):  # a repeated milestone would decay twice
                raise ConfigError(f"{key}.lr_milestones: expected increasing epochs without repeats, got {list(milestones)}")
        if self.pretrain.seed in self.seeds:
            raise ConfigError(
                f"pretrain.seed: {self.pretrain.seed} is also in seeds {list(self.seeds)}; a fine-tuned head would "
                "start from the initialisation the pretrained backbone co-adapted with: choose another pretrain.seed"
            )
        train = self.train
        if train.sampler == "pk" and train.batch_size % train.instances_per_id:
            raise ConfigError(
                f"train.batch_size: {train.batch_size} is not a multiple of train.instances_per_id "
                f"({train.instances_per_id}), which train.sampler=pk needs"
            )


def feature_height(height: int, last_stride: int) -> int:
    """Rows of the backbone's last feature map: ResNet50 halves (rounding up) 4 or 5 times."""
    for _ in range(4 if last_stride == 1 else 5):
        height = -(-height // 2)
    return height


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Check `value` against a (simple) type annotation, its `Range` and the rules of every key
    (finite floats, non-empty strings); lists become tuples."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        base, *ranges = typing.get_args(annotation)
        value = _coerce(value, base, where)
        for allowed in ranges:
            if not allowed.contains(value):
                raise ConfigError(f"{where}: expected a value {allowed}, got {value!r}")
        return value
    if origin is Literal:
        allowed = typing.get_args(annotation)
        if value not in allowed or isinstance(value, bool) != any(isinstance(a, bool) for a in allowed):
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
        raise ConfigError(errors[0] + (" (or null)" if type(None) in options else ""))
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item_type, _) = typing.get_args(annotation)
        return tuple(_coerce(item, item_type, f"{where}[{i}]") for i, item in enumerate(value))
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if (annotation in (int, float) and isinstance(value, bool)) or not isinstance(value, annotation):
        raise ConfigError(f"{where}: expected {annotation.__name__}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: expected a finite number, got {value!r}")
    if isinstance(value, str) and not value.strip():
        raise ConfigError(f"{where}: expected a non-empty string")
    return value


def _build(cls: type, values: Mapping[str, Any], where: str):
    names = [f.name for f in dataclasses.fields(cls)]
    if values is None and where:  # `--set train=`, or `train:` with nothing under it
        raise ConfigError(f"{where}: expected a mapping, got null; set single keys (e.g. {where}.{names[0]}=...) "
                          "rather than the whole section, which would reset the others to their defaults")
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {values!r}")
    hints = typing.get_type_hints(cls, include_extras=True)
    kwargs = {}
    for key, value in values.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in hints:
            raise ConfigError(f"unknown config key {path!r}; valid keys here: {', '.join(names)}")
        if dataclasses.is_dataclass(hints[key]):
            # (null included: `--set train=` would otherwise reset the whole section silently)
            kwargs[key] = _build(hints[key], value, path)
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
    node[leaf] = _parse_yaml(raw, f"override {dotted}={raw}")


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


class _UniqueKeyLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that refuses a key given twice in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


# PyYAML (YAML 1.1) reads `1e-3` and `1.5e3` as strings: its floats need a dot and a signed
# exponent. Users write them as Python does, so they are floats here.
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789")
)


def _parse_yaml(text: str, where: str):
    """`text` as YAML (safe subset, unique keys); errors as one line naming `where`."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{where} is not valid YAML: {problem}{at}") from None


def read_yaml(path: str | Path) -> dict:
    """Read a non-empty YAML mapping, with errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"config file {path} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    except OSError as error:
        raise ConfigError(f"config file {path} cannot be read ({error.strerror})") from None
    values = _parse_yaml(text, f"config file {path}")
    if values is None:
        # An empty file would silently mean every default (full-size images, 30 epochs).
        raise ConfigError(f"config file {path} is empty; write the keys to change (e.g. copy params.yaml)")
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
        where += " with the --set overrides" if overrides else ""
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
