"""Train-step speed: float32 against mixed bfloat16 (default), or every DRANet variant against
the baseline (--compare variants). All figures are measured in this one run.

precision: SGD train steps of the configured variant at 256x128 batch 32 (the paper's input) and
at params.yaml's model.height x model.width, fp32 and bf16 steps interleaved so that machine noise
hits both alike (medians); then retrieval on the synthetic demo split: the demo recipe (params.yaml)
trained in fp32 and in bf16 with `--seeds` seeds each, each model's mAP from embeddings in its own
precision, and the first fp32 model's embeddings extracted in bf16 too. The seed-to-seed spread
is the noise the fp32/bf16 difference is compared with.

    .venv/bin/python benchmarks/model_step.py [--steps 5] [--seeds 2] [--compare variants]

Each table goes into docs/benchmarks.md (benchmarks/tables.py; `--doc FILE` for another file).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tables import add_doc_argument, publish  # noqa: E402  (benchmarks/tables.py: scripts run as files)
from dranet_keras.choices import VARIANTS  # noqa: E402
from dranet_keras.config import load_config  # noqa: E402
from dranet_keras.models import build_dranet  # noqa: E402
from dranet_keras.precision import policy_name  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PRECISIONS = (None, "mixed_bfloat16")


def interleaved_medians(models: dict, batches: dict, steps: int) -> dict:
    """Median seconds per train step of each model, steps taken round-robin."""
    times = {name: [] for name in models}
    for _ in range(steps):
        for name, model in models.items():
            start = time.perf_counter()
            model.train_on_batch(*batches[name])
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def make_batch(height, width, batch, num_ids, rng):
    images = rng.uniform(0, 255, size=(batch, height, width, 3)).astype("float32")
    labels = rng.integers(0, num_ids, size=batch)
    return {"images": images, "labels": labels}, labels


def build(num_ids, variant, shape, policy, optimizer):
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy(policy or "float32")
    try:
        model = build_dranet(num_ids, variant, input_shape=shape)
        model.compile(optimizer=optimizer())
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    return model


def compare_variants(args) -> None:
    load = os.getloadavg()[0]
    rng = np.random.default_rng(0)
    shape = (args.height, args.width, 3)
    batch = make_batch(args.height, args.width, args.batch, args.num_ids, rng)
    models = {}
    for variant in VARIANTS:
        models[variant] = build(args.num_ids, variant, shape, None, lambda: keras.optimizers.AdamW(3.5e-4))
        start = time.perf_counter()
        models[variant].train_on_batch(*batch)  # tracing / compilation
        print(f"{variant:8s} first step (tracing) {time.perf_counter() - start:6.1f} s")
    medians = interleaved_medians(models, {v: batch for v in VARIANTS}, args.steps)
    base_params, base_time = models["baseline"].count_params(), medians["baseline"]
    rows = []
    for variant, model in models.items():
        step, params = medians[variant], model.count_params()
        rows.append([f"`{variant}`", f"{params:,d}", f"{params / base_params:.3f}", f"{step:.3f}", f"{args.batch / step:.1f}", f"{step / base_time:.3f}"])
    publish("model_step_variants", ["variant", "parameters", "x baseline", "step s", "img/s", "step x baseline"], rows, doc=args.doc,
            load_at_start=load, note=f"Input {args.height}x{args.width}, batch {args.batch}, {args.num_ids} ids, AdamW, "
                                     f"median of {args.steps} interleaved steps per variant.")


def step_speed(args, config) -> None:
    load = os.getloadavg()[0]
    rng = np.random.default_rng(0)
    variant = config.model.variant
    sizes = [(256, 128), (config.model.height, config.model.width)]
    models, batches = {}, {}
    for size in sizes:
        batch = make_batch(*size, args.batch, args.num_ids, rng)
        for policy in PRECISIONS:
            key = (size, policy_name(policy))
            models[key] = build(args.num_ids, variant, (*size, 3), policy, lambda: keras.optimizers.SGD(0.01, momentum=0.9))
            batches[key] = batch
            start = time.perf_counter()
            models[key].train_on_batch(*batch)
            print(f"{variant} {size[0]}x{size[1]} {policy_name(policy):15s} first step (tracing) {time.perf_counter() - start:6.1f} s", flush=True)
    medians = interleaved_medians(models, batches, args.steps)
    rows = []
    for size in sizes:
        fp32, bf16 = (args.batch / medians[size, name] for name in ("float32", "mixed_bfloat16"))
        rows.append([f"{size[0]}x{size[1]}", fp32, bf16, bf16 / fp32])
    publish("model_step_precision", ["input", "fp32 img/s", "bf16 img/s", "bf16 / fp32"], rows, doc=args.doc, load_at_start=load,
            note=f"`{variant}`, SGD, batch {args.batch}, {args.num_ids} ids, median of {args.steps} interleaved steps.")


def retrieval(args, config) -> None:
    """mAP on the synthetic demo split of the demo recipe trained in fp32 and bf16."""
    load = os.getloadavg()[0]
    from dranet_keras.data.manifest import read_manifest
    from dranet_keras.data.pipeline import eval_dataset
    from dranet_keras.evaluation import evaluate_features
    from dranet_keras.evaluation.features import extract_features
    from dranet_keras.stages.prepare import prepare
    from dranet_keras.stages.train import train

    with tempfile.TemporaryDirectory() as tmp:
        overrides = [f"data.root={tmp}/raw", f"data.prepared_dir={tmp}/prepared"]
        base = load_config(ROOT / "params.yaml", overrides)
        prepare(base.data, base.seed)
        manifest = Path(tmp) / "prepared" / base.data.name / "manifest.csv"
        split = read_manifest(manifest)
        size = (base.model.height, base.model.width)
        labels = [np.array([getattr(r, key) for r in records]) for key, records in
                  (("pid", split.query), ("pid", split.gallery), ("camid", split.query), ("camid", split.gallery))]

        def mean_ap(model):
            features = [extract_features(model, eval_dataset(records, size, 128), flip=base.eval.flip_test)
                        for records in (split.query, split.gallery)]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return evaluate_features(*features, *labels, metric=base.eval.metric).mAP

        results = {}
        for seed in range(args.seeds):
            for policy in PRECISIONS:
                mp = "null" if policy is None else policy
                config = load_config(ROOT / "params.yaml", [*overrides, f"seed={seed}", f"train.mixed_precision={mp}"])
                out = Path(tmp) / "models" / f"{policy_name(policy)}-{seed}"
                meta = train(config, config.model.variant, manifest, out)
                model = keras.saving.load_model(out / "model.keras")
                results[policy_name(policy), seed] = mean_ap(model), meta["wall_time_s"]
                if policy is None and seed == 0:
                    # The same fp32-trained weights in a bf16 twin: only the extraction precision differs.
                    previous = keras.mixed_precision.dtype_policy()
                    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
                    try:
                        twin = type(model).from_config({k: v for k, v in model.get_config().items() if k != "dtype"})
                    finally:
                        keras.mixed_precision.set_dtype_policy(previous)
                    twin(np.zeros((1, *size, 3), "float32"))
                    twin.set_weights(model.get_weights())
                    fp32_in_bf16 = mean_ap(twin)

    rows, means = [], {}
    for name in ("float32", "mixed_bfloat16"):
        values = [results[name, s][0] for s in range(args.seeds)]
        means[name] = float(np.mean(values))
        seconds = sum(results[name, s][1] for s in range(args.seeds)) / args.seeds
        rows.append([name, *(f"{v:.4f}" for v in values), f"{means[name]:.4f}", f"{seconds:.1f}"])
    spread = [abs(results["float32", s][0] - results["float32", 0][0]) for s in range(args.seeds)]
    note = (f"`{config.model.variant}`, the demo recipe ({config.train.epochs} epochs at {size[0]}x{size[1]}) on the synthetic demo split "
            f"({len(split.query)} queries x {len(split.gallery)} gallery). bf16 - fp32 mean mAP {means['mixed_bfloat16'] - means['float32']:+.4f}; "
            f"fp32 seed-to-seed spread {max(spread):.4f}; the fp32 model (seed 0) embedded in bf16: mAP {fp32_in_bf16:.4f} "
            f"({fp32_in_bf16 - results['float32', 0][0]:+.4f} against its fp32 extraction).")
    columns = ["trained in", *(f"seed {s} mAP" for s in range(args.seeds)), "mean mAP", "train s"]
    publish("model_step_retrieval", columns, rows, doc=args.doc, load_at_start=load, note=note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", choices=("precision", "variants"), default="precision")
    parser.add_argument("--height", type=int, default=256, help="variants: input height")
    parser.add_argument("--width", type=int, default=128, help="variants: input width")
    parser.add_argument("--batch", type=int, default=None, help="batch size (precision: 32, variants: 16)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per model (after one warm-up)")
    parser.add_argument("--num-ids", type=int, default=751, help="classes (751 = Market-1501 train ids)")
    parser.add_argument("--seeds", type=int, default=2, help="precision: trainings per precision for retrieval")
    parser.add_argument("--no-retrieval", action="store_true", help="precision: only the step speeds")
    add_doc_argument(parser)
    args = parser.parse_args()
    if args.compare == "variants":
        args.batch = args.batch or 16
        compare_variants(args)
        return
    args.batch = args.batch or 32
    config = load_config(ROOT / "params.yaml")
    step_speed(args, config)
    if not args.no_retrieval:
        retrieval(args, config)


if __name__ == "__main__":
    main()
