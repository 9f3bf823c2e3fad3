"""train.mixed_precision: auto -> the policy this machine's hardware runs fastest."""

import pytest

from dranet_keras.config import ConfigError, TrainConfig, config_from_dict
from dranet_keras.precision import auto_policy, cpu_flags, policy_name, resolve_policy


@pytest.mark.parametrize(
    "flags, gpus, expected",
    [
        ({"avx2", "amx_bf16", "amx_tile"}, [], "mixed_bfloat16"),
        ({"avx512f", "avx512_bf16"}, [], "mixed_bfloat16"),
        ({"avx2", "avx512f"}, [], None),  # no bf16 units: float32
        ({"avx512_bf16"}, [(8, 0), (7, 5)], "mixed_float16"),  # training runs on the GPUs
        ({"avx512_bf16"}, [(8, 0), (6, 1)], None),  # one GPU without tensor cores
    ],
)
def test_auto_policy(flags, gpus, expected):
    policy, why = auto_policy(flags, gpus)
    assert policy == expected and why


def test_cpu_flags_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx512_bf16 amx_bf16\n\nprocessor\t: 1\nflags\t\t: fpu sse\n")
    assert cpu_flags(cpuinfo) == {"fpu", "avx512_bf16", "amx_bf16", "sse"}
    assert cpu_flags(tmp_path / "absent") == set()


def test_explicit_values_are_kept_and_auto_is_the_default():
    assert TrainConfig().mixed_precision == "auto"
    assert resolve_policy("mixed_float16") == ("mixed_float16", "train.mixed_precision")
    assert resolve_policy(None)[0] is None and policy_name(None) == "float32"
    with pytest.raises(ConfigError, match="train.mixed_precision: 'bf16' is not one of"):
        config_from_dict({"train": {"mixed_precision": "bf16"}})
