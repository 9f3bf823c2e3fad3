"""Train-step speed of our Keras ResNet50 against the PyTorch peer (torchvision), in one run.

The step on both sides: ResNet50 with last stride 1 on 256x128 input, batch 32, global average
pooling, a linear classifier of `--num-ids` ids, softmax cross-entropy, SGD (momentum 0.9).
Every measurement is a fresh subprocess (`--warmup` steps after the first one excluded, then
`--steps` timed steps, median); measurements alternate Keras, torch, Keras, torch ... in fp32
and bf16, `--repeats` times, so that the load of a shared machine falls on both sides alike. That
does not make the ratio load-independent (torch's OpenMP threads lose far more under load than
TensorFlow's thread pool): read it with the load average printed. The table also gives each
side's fastest single step, the least disturbed one. bf16 is Keras' `mixed_bfloat16` policy and,
for torch, channels_last with `torch.autocast("cpu", dtype=torch.bfloat16)`.

Torch is not a dependency of this project: install it in a separate environment and pass its
interpreter (the Keras side runs in the interpreter running this script):

    python3.11 -m venv /work/peer-venv && /work/peer-venv/bin/pip install torch torchvision
    .venv/bin/python benchmarks/peer_step.py --torch-python /work/peer-venv/bin/python

Keras-side options to find what closes the gap: `--threads INTRA,INTER` (TensorFlow's op
thread pools; torch gets INTRA threads too), `--no-onednn` (TF_ENABLE_ONEDNN_OPTS=0),
`--jit` (XLA, `jit_compile=True`), `--keras-backend jax`; `--precisions fp32` to run one
precision. `--onednn-verbose` instead runs one step per side with ONEDNN_VERBOSE=1 and prints
where the oneDNN time goes (per primitive kind) against the whole step.
The comparison's table goes into docs/benchmarks.md, one block per set of Keras-side options
(benchmarks/tables.py; `--doc FILE` for another file).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from batch_norm_sides import use_keras_batch_normalization  # benchmarks/ (scripts run as files)
from tables import add_doc_argument, publish

ROOT = Path(__file__).resolve().parents[1]
HEIGHT, WIDTH = 256, 128
PRECISIONS = ("fp32", "bf16")
# keras-unfused: Keras' own BatchNormalization (the "before" of layers/batch_normalization.py)
SIDES = ("keras-unfused", "keras", "torch")
MARK = "### measured step"


def keras_step(args):
    """A function running one Keras train step (the model built and compiled)."""
    import keras
    import numpy as np

    from dranet_keras.models.resnet import resnet50

    if args.worker == "keras-unfused":
        use_keras_batch_normalization()

    if args.threads:
        import tensorflow as tf

        intra, inter = args.threads
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16" if args.precision == "bf16" else "float32")
    inputs = keras.Input((HEIGHT, WIDTH, 3))
    features = keras.layers.GlobalAveragePooling2D()(resnet50((HEIGHT, WIDTH, 3), last_stride=1)(inputs))
    logits = keras.layers.Dense(args.num_ids, dtype="float32")(features)  # float32 logits, as our heads
    model = keras.Model(inputs, logits)
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=args.jit,
    )
    rng = np.random.default_rng(0)
    images = rng.standard_normal((args.batch, HEIGHT, WIDTH, 3)).astype("float32")
    labels = rng.integers(0, args.num_ids, size=args.batch)
    return lambda: model.train_on_batch(images, labels)


def torch_step(args):
    """A function running one torchvision train step (the model built)."""
    import torch
    import torchvision

    if args.threads:
        torch.set_num_threads(args.threads[0])
    model = torchvision.models.resnet50(num_classes=args.num_ids)
    model.layer4[0].conv2.stride = (1, 1)  # last stride 1 (torchvision strides the 3x3 conv)
    model.layer4[0].downsample[0].stride = (1, 1)
    bf16 = args.precision == "bf16"
    memory_format = torch.channels_last if bf16 else torch.contiguous_format
    model = model.to(memory_format=memory_format).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(args.batch, 3, HEIGHT, WIDTH, generator=generator).to(memory_format=memory_format)
    labels = torch.randint(0, args.num_ids, (args.batch,), generator=generator)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(model(images).float(), labels)
        loss.backward()
        optimizer.step()

    return step


def worker(args) -> None:
    """Time one side in this process; print the per-step seconds as one JSON line."""
    step = (torch_step if args.worker == "torch" else keras_step)(args)
    for _ in range(1 + args.warmup):  # the first step traces / compiles
        step()
    times = []
    for _ in range(args.steps):
        if args.onednn_verbose:
            print(MARK, flush=True)
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    print(json.dumps({"times": times}), flush=True)


def run_worker(side: str, precision: str, args, verbose: bool = False) -> str:
    python = args.torch_python if side == "torch" else sys.executable
    command = [python, __file__, "--worker", side, "--precision", precision, "--batch", str(args.batch),
               "--num-ids", str(args.num_ids), "--steps", "1" if verbose else str(args.steps),
               "--warmup", str(args.warmup)]
    if args.threads:
        command += ["--threads", ",".join(map(str, args.threads))]
    if args.jit:
        command.append("--jit")
    if verbose:
        command.append("--onednn-verbose")
    env = dict(os.environ, PYTHONPATH=str(ROOT), KERAS_BACKEND=args.keras_backend, TF_CPP_MIN_LOG_LEVEL="2",
               TF_ENABLE_ONEDNN_OPTS="0" if args.no_onednn else "1")
    if verbose:
        env["ONEDNN_VERBOSE"] = "1"
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{side} {precision} worker failed:\n{done.stderr[-3000:]}")
    return done.stdout


def onednn_profile(stdout: str) -> tuple[dict, float]:
    """oneDNN ms and calls per primitive kind in the measured step, and the step's seconds."""
    kinds = defaultdict(lambda: [0.0, 0])
    lines = stdout.split(MARK, 1)[1].splitlines()
    for line in lines:
        fields = line.split(",")
        if line.startswith("onednn_verbose") and "exec" in fields[:4]:
            at = fields.index("exec")
            kind = fields[at + 2]
            if kind == "convolution" and "backward" in line:
                kind += " " + next(f for f in fields if f.startswith("backward"))
            try:
                kinds[kind][0] += float(fields[-1])
            except ValueError:
                continue
            kinds[kind][1] += 1
    step = json.loads(next(line for line in reversed(lines) if line.startswith("{")))["times"][0]
    return dict(kinds), step


def profile(args) -> None:
    for precision in args.precisions:
        for side in SIDES:
            kinds, step = onednn_profile(run_worker(side, precision, args, verbose=True))
            total = sum(ms for ms, _ in kinds.values())
            print(f"\n{side} {precision}: step {step:.2f} s, in oneDNN {total / 1000:.2f} s "
                  f"({100 * total / 1000 / step:.0f}%), outside {step - total / 1000:.2f} s")
            for kind, (ms, calls) in sorted(kinds.items(), key=lambda item: -item[1][0]):
                print(f"  {kind:38s} {ms / 1000:7.2f} s {calls:6d} calls")


def compare(args) -> None:
    load = os.getloadavg()[0]
    speeds = defaultdict(list)  # (side, precision) -> img/s of each repeat
    best = defaultdict(float)  # (side, precision) -> img/s of the fastest step: the least disturbed one
    for repeat in range(args.repeats):
        for precision in args.precisions:
            for side in SIDES:
                started = time.perf_counter()
                out = run_worker(side, precision, args)
                times = json.loads(out.strip().splitlines()[-1])["times"]
                speeds[side, precision].append(args.batch / statistics.median(times))
                best[side, precision] = max(best[side, precision], args.batch / min(times))
                print(f"repeat {repeat + 1} {side:13s} {precision}: {speeds[side, precision][-1]:6.2f} img/s "
                      f"(process {time.perf_counter() - started:5.0f} s, load {os.getloadavg()[0]:.1f})", flush=True)
    options = [f"keras backend {args.keras_backend}", f"jit_compile={args.jit}",
               f"oneDNN opts {'off' if args.no_onednn else 'on'}",
               f"threads {','.join(map(str, args.threads)) if args.threads else 'default'}"]
    rows = [[side, precision, statistics.median(values), f"{min(values):.2f}-{max(values):.2f}", best[side, precision]]
            for (side, precision), values in speeds.items()]
    ratios = "; ".join(
        f"{side}/torch {precision}: {statistics.median(speeds[side, precision]) / statistics.median(speeds['torch', precision]):.2f}x "
        f"(best steps {best[side, precision] / best['torch', precision]:.2f}x)" for precision in args.precisions for side in SIDES[:2])
    ratios += "; " + "; ".join(
        f"fused/unfused BN {precision}: {statistics.median(speeds['keras', precision]) / statistics.median(speeds['keras-unfused', precision]):.2f}x"
        for precision in args.precisions)
    note = (f"ResNet50 last stride 1, {HEIGHT}x{WIDTH}, batch {args.batch}, {args.num_ids} ids, SGD; median of {args.steps} steps "
            f"per process, {args.repeats} alternating processes per row; " + ", ".join(options) + f". {ratios}.")
    flags = [flag for flag, on in (("--threads " + ",".join(map(str, args.threads or ())), args.threads), ("--jit", args.jit),
                                   ("--no-onednn", args.no_onednn), ("--keras-backend jax", args.keras_backend == "jax")) if on]
    publish(" ".join(["peer_step", *flags]), ["framework", "precision", "img/s (median)", "min-max", "best step img/s"], rows,
            doc=args.doc, load_at_start=load, note=note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch-python", default=None, help="interpreter with torch and torchvision")
    parser.add_argument("--precisions", type=lambda s: s.split(","), default=list(PRECISIONS), help="fp32,bf16")
    parser.add_argument("--repeats", type=int, default=2, help="processes per framework and precision")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per process")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps after the first (tracing) one")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--num-ids", type=int, default=751, help="classes (751 = Market-1501 train ids)")
    parser.add_argument("--threads", type=lambda s: tuple(int(n) for n in s.split(",")), default=None,
                        help="INTRA,INTER op threads (default: the frameworks' own)")
    parser.add_argument("--no-onednn", action="store_true", help="TF_ENABLE_ONEDNN_OPTS=0 on the Keras side")
    parser.add_argument("--jit", action="store_true", help="Keras jit_compile=True (XLA)")
    parser.add_argument("--keras-backend", choices=("tensorflow", "jax"), default="tensorflow")
    parser.add_argument("--onednn-verbose", action="store_true", help="profile one step per side instead")
    add_doc_argument(parser)
    parser.add_argument("--worker", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--precision", choices=PRECISIONS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.torch_python is None or not Path(args.torch_python).is_file():
        parser.error(f"--torch-python: expected the path of a Python with torch and torchvision, got {args.torch_python}")
    if any(p not in PRECISIONS for p in args.precisions):
        parser.error(f"--precisions: expected a comma list of {', '.join(PRECISIONS)}, got {','.join(args.precisions)}")
    (profile if args.onednn_verbose else compare)(args)


if __name__ == "__main__":
    main()
