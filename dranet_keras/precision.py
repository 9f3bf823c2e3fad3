"""The Keras dtype policy `train.mixed_precision: auto` resolves to on this machine.

bfloat16 keeps float32's exponent range, so it needs no loss scaling; CPUs with bf16 dot-product
units (AMX or AVX512-BF16) run it natively. Float16 needs tensor cores (CUDA compute capability
7.0 or newer) to pay off. Anything else trains in float32.
"""

from __future__ import annotations

from pathlib import Path

POLICIES = (None, "auto", "mixed_float16", "mixed_bfloat16")  # None: float32
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The CPU feature flags /proc/cpuinfo lists (empty where it is absent)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return set()
    return {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split(":", 1)[1].split()}


def gpu_compute_capabilities() -> list[tuple[int, int]]:
    """CUDA compute capability of each GPU TensorFlow sees."""
    import tensorflow as tf

    details = (tf.config.experimental.get_device_details(gpu) for gpu in tf.config.list_physical_devices("GPU"))
    return [tuple(d["compute_capability"]) for d in details if d.get("compute_capability")]


def auto_policy(flags: set[str], gpu_capabilities: list[tuple[int, int]]) -> tuple[str | None, str]:
    """(policy, why): mixed_float16 when every GPU has compute capability >= 7.0 (training runs
    on the GPUs when there are any), mixed_bfloat16 on a CPU with bf16 units, else float32 (None)."""
    if gpu_capabilities:
        if min(gpu_capabilities) >= (7, 0):
            return "mixed_float16", f"GPU compute capability {min(gpu_capabilities)} >= (7, 0)"
        return None, f"GPU compute capability {min(gpu_capabilities)} < (7, 0)"
    bf16 = sorted(set(CPU_BF16_FLAGS) & flags)
    if bf16:
        return "mixed_bfloat16", f"CPU with {', '.join(bf16)}"
    return None, f"CPU without {' or '.join(CPU_BF16_FLAGS)}"


def resolve_policy(setting: str | None) -> tuple[str | None, str]:
    """The policy for `train.mixed_precision` (explicit values as given) and why."""
    if setting != "auto":
        return setting, "train.mixed_precision"
    return auto_policy(cpu_flags(), gpu_compute_capabilities())


def policy_name(policy: str | None) -> str:
    """The policy as train_meta.json and the logs name it."""
    return policy or "float32"
