import pytest

from dranet_keras.config import ConfigError, Config, config_to_dict, load_config
from dranet_keras.errors import UserError


def write(tmp_path, text):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_defaults_without_a_file():
    config = load_config()
    assert config == Config()
    assert config.model.variant == "dra" and config.model.parts == 3


def test_values_from_yaml_with_type_coercion(tmp_path):
    path = write(tmp_path, "seed: 7\nmodel: {height: 64, width: 32}\ntrain: {lr_milestones: [2, 4], learning_rate: 1}\n")
    config = load_config(path)
    assert config.seed == 7
    assert (config.model.height, config.model.width) == (64, 32)
    assert config.train.lr_milestones == (2, 4)
    assert config.train.learning_rate == 1.0 and isinstance(config.train.learning_rate, float)


def test_misspelt_key_names_the_key_and_the_valid_ones(tmp_path):
    path = write(tmp_path, "train:\n  epoks: 3\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert "'train.epoks'" in message and "epochs" in message and "batch_size" in message
    assert str(path) in message
    assert isinstance(error.value, UserError)


def test_unknown_section(tmp_path):
    with pytest.raises(ConfigError, match="unknown config key 'optimiser'.*model, data, train, eval"):
        load_config(write(tmp_path, "optimiser: {lr: 1}\n"))


@pytest.mark.parametrize(
    "text, match",
    [
        ("train: {epochs: three}\n", r"train.epochs: expected int, got 'three'"),
        ("train: {epochs: true}\n", r"train.epochs: expected int"),
        ("model: {variant: resnet}\n", r"'resnet' is not one of"),
        ("model: {last_stride: 3}\n", r"model.last_stride: 3 is not one of \[1, 2\]"),
        ("model: {reverse_gradient: half}\n", r"model.reverse_gradient: 'half' is not one of \['stop', 'through'\]"),
        ("model: {erase: blur}\n", r"model.erase: 'blur' is not one of \['soft', 'hard'\]"),
        ("model: {descriptor: pca}\n", r"model.descriptor: 'pca' is not one of \['bn', 'raw'\]"),
        ("model: {erase_threshold: 1.5}\n", r"model.erase_threshold: expected a value in \(0, 1\]"),
        ("model: {loss_weight_d: -1}\n", r"model.loss_weight_d: expected a value >= 0"),
        ("variants: [baseline, dual]\n", r"variants\[1\]: 'dual' is not one of"),
        ("train: {loss_weight_s: 1.0}\n", r"unknown config key 'train.loss_weight_s'"),
        ("model: {variants: [dra]}\n", r"unknown config key 'model.variants'"),
        ("train: {strategy: horovod}\n", r"train.strategy: 'horovod'"),
        ("train: 5\n", r"train: expected a mapping"),
        ("- a\n- b\n", r"expected a mapping at the top level"),
        ("model: {height: [1\n", r"not valid YAML"),
    ],
)
def test_invalid_values_are_clear_errors(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_config(write(tmp_path, text))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_overrides_are_typed_and_validated(tmp_path):
    path = write(tmp_path, "train: {epochs: 3}\n")
    config = load_config(path, ["train.epochs=5", "model.weights=null", "train.lr_milestones=[1, 2]"])
    assert config.train.epochs == 5 and config.model.weights is None and config.train.lr_milestones == (1, 2)
    with pytest.raises(ConfigError, match="unknown config key 'train.epohcs'"):
        load_config(path, ["train.epohcs=5"])
    with pytest.raises(ConfigError, match="expected key=value"):
        load_config(path, ["train.epochs"])


def test_round_trip_through_plain_values():
    from dranet_keras.config import config_from_dict

    config = load_config(None, ["train.lr_milestones=[3]", "model.variant=cic"])
    assert config_from_dict(config_to_dict(config)) == config


def test_any_literal_field_is_checked_by_the_generic_builder():
    """Choices come from `Literal` annotations alone (ints, strings, None in a union)."""
    import dataclasses
    from typing import Literal

    from dranet_keras.config import _build

    @dataclasses.dataclass(frozen=True)
    class Section:
        stride: Literal[1, 2] = 1
        mode: Literal["a", "b"] | None = None

    assert _build(Section, {"stride": 2, "mode": "b"}, "s") == Section(2, "b")
    assert _build(Section, {"mode": None}, "s") == Section(1, None)
    with pytest.raises(ConfigError, match=r"s.stride: 3 is not one of \[1, 2\]"):
        _build(Section, {"stride": 3}, "s")
    with pytest.raises(ConfigError, match=r"s.stride: True is not one of"):  # True == 1, but not a choice
        _build(Section, {"stride": True}, "s")
    with pytest.raises(ConfigError, match=r"s.mode: 'c' is not one of \['a', 'b'\] \(or null\)"):
        _build(Section, {"mode": "c"}, "s")


def _ranges(annotation):
    """The `Range`s of an annotation (its items' too)."""
    import typing

    from dranet_keras.config import Range

    found = [a for a in typing.get_args(annotation) if isinstance(a, Range)]
    return found + [r for a in typing.get_args(annotation) if not isinstance(a, Range) for r in _ranges(a)]


def test_every_range_allows_its_fields_default_and_every_number_has_one():
    import dataclasses
    import typing

    sections = [Config, *(t for t in typing.get_type_hints(Config).values() if dataclasses.is_dataclass(t))]
    ranged = 0
    for section in sections:
        hints = typing.get_type_hints(section, include_extras=True)
        for field in dataclasses.fields(section):
            ranges = _ranges(hints[field.name])
            ranged += bool(ranges)
            default = getattr(section(), field.name)
            items = default if isinstance(default, tuple) else [] if default is None else [default]
            numbers = [item for item in items if isinstance(item, (int, float)) and not isinstance(item, bool)]
            if numbers and typing.get_origin(hints[field.name]) is not typing.Literal:  # last_stride, depth: choices
                assert ranges, f"{section.__name__}.{field.name} has no Range"
            for item in numbers:
                assert all(allowed.contains(item) for allowed in ranges), (field.name, item)
    assert ranged == 48  # the 47 the table of ranges held before they moved beside their fields, + synthetic_occluded_ids


def test_python_style_floats_and_silent_resets():
    from dranet_keras.config import config_from_dict

    config = load_config(None, ["train.learning_rate=1e-3", "train.weight_decay=5E-4", "eval.memory_gb=1.5e1"])
    assert (config.train.learning_rate, config.train.weight_decay, config.eval.memory_gb) == (0.001, 0.0005, 15.0)
    for override, match in [
        ("train=", r"train: expected a mapping, got null"),
        ("model=", r"model: expected a mapping, got null"),
        ("variants=[dra, dra]", r"variants: expected a non-empty list of distinct values, got \['dra', 'dra'\]"),
        ("variants=[]", r"variants: expected a non-empty list"),
        ("train.lr_milestones=[3, 1, 1, 99]", r"train.lr_milestones: expected increasing epochs without repeats"),
        ("pretrain.lr_milestones=[2, 2]", r"pretrain.lr_milestones: expected increasing epochs without repeats"),
    ]:
        with pytest.raises(ConfigError, match=match):
            load_config(None, [override])
    assert config_from_dict({"train": {"lr_milestones": [3, 7]}}).train.lr_milestones == (3, 7)


@pytest.mark.parametrize(
    "text, match",
    [
        ("", r"is empty"),
        ("train:\n  epochs: 3\n  epochs: 4\n", r"duplicate key 'epochs' at line 3"),
        ("train: {learning_rate: .nan}\n", r"train.learning_rate: expected a finite number"),
        ("model: {height: 64, parts: 5}\n", r"model.parts: 5 stripes .* 4 feature rows"),
        ("model: {height: 48, last_stride: 2, parts: 3}\n", r"model.parts: 3 stripes .* 2 feature rows"),
        ("train: {sampler: pk, batch_size: 30, instances_per_id: 4}\n", r"not a multiple of train.instances_per_id"),
        ("train: 0\n", r"train: expected a mapping, got 0"),
    ],
)
def test_file_level_and_cross_key_rules(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_config(write(tmp_path, text))


def test_feature_rows_follow_the_resnet_strides():
    from dranet_keras.config import feature_height

    # conv1, pool, conv3, conv4 halve (rounding up); conv5 too when last_stride is 2
    assert [feature_height(h, 1) for h in (256, 64, 48, 50, 1)] == [16, 4, 3, 4, 1]
    assert [feature_height(h, 2) for h in (256, 64)] == [8, 2]


def test_seeds_and_variants_are_validated():
    from dranet_keras.config import ConfigError, config_from_dict

    assert config_from_dict({"seeds": [0, 3]}).seeds == (0, 3)
    for bad in ([], [1, 1], [-1]):
        with pytest.raises(ConfigError, match="seeds"):
            config_from_dict({"seeds": bad})
    with pytest.raises(ConfigError, match="variants"):
        config_from_dict({"variants": ["dra", "resnet"]})
    with pytest.raises(ConfigError, match=r"pretrain.seed: 2 is also in seeds \[0, 2\]"):
        config_from_dict({"seeds": [0, 2], "pretrain": {"seed": 2}})
