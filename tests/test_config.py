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
        ("model: {last_stride: 3}\n", r"last_stride: expected 1 or 2"),
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


def test_seeds_and_variants_are_validated():
    from dranet_keras.config import ConfigError, config_from_dict

    assert config_from_dict({"seeds": [0, 3]}).seeds == (0, 3)
    for bad in ([], [1, 1], [-1]):
        with pytest.raises(ConfigError, match="seeds"):
            config_from_dict({"seeds": bad})
    with pytest.raises(ConfigError, match="variants"):
        config_from_dict({"variants": ["dra", "resnet"]})
