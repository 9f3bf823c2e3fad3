"""Train one model variant on the prepared data set's training split. Writes
models/<variant>/seed<seed>/model.keras (last epoch), training_log.csv and train_meta.json (with
the effective configuration). Re-running after an interruption resumes from the last finished
epoch (models/<variant>/seed<seed>/backup/)."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import platform
import time
from collections import Counter
from pathlib import Path

from dranet_keras import layout
from dranet_keras.config import Config, config_to_dict, load_config
from dranet_keras.data.records import Split
from dranet_keras.errors import UserError
from dranet_keras.io import atomic_write_json
from dranet_keras.run_lock import run_lock
from dranet_keras.choices import MAX_NUM_IDS, VARIANTS

USES_TENSORFLOW = True  # dranet_keras.cli imports it quietly first


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variant", choices=VARIANTS, help="model variant to train (default: model.variant)")
    parser.add_argument("--models-dir", default=layout.MODELS_ROOT, help=f"where <variant>/seed<seed>/ goes (default: {layout.MODELS_ROOT})")
    parser.add_argument("--manifest", help="split manifest (default: <data.prepared_dir>/<data.name>/manifest.csv)")


def check_identities(split: Split, manifest: Path) -> None:
    """Refuse a training split a DRANet cannot classify: one identity (nothing to learn), or
    more than a saved model may ask for (`MAX_NUM_IDS`: it would not load again)."""
    if not 2 <= split.num_train_ids <= MAX_NUM_IDS:
        raise UserError(f"{manifest}: the training split has {split.num_train_ids} identities, expected 2 to {MAX_NUM_IDS}")


def check_trainable(config: Config, dataset: str, split: Split, manifest: Path) -> None:
    """Refuse, in one line and before TensorFlow starts, a split or a batch that cannot train."""
    train = config.train
    if not split.train:
        raise UserError(
            f"{manifest} has no training images ({dataset} is evaluation-only): train on another data set "
            "and evaluate its model here with `dranet evaluate --model <model.keras>` (docs/occluded-data.md)"
        )
    check_identities(split, manifest)
    if len(split.train) < train.batch_size:
        raise UserError(f"train.batch_size={train.batch_size} is larger than the {len(split.train)} training images in {manifest}")
    if train.sampler == "pk":
        per_id = Counter(record.pid for record in split.train)
        needed = train.batch_size // train.instances_per_id
        if len(per_id) < needed:
            raise UserError(
                f"train.sampler=pk: a batch of {train.batch_size} with train.instances_per_id={train.instances_per_id} "
                f"needs {needed} identities, {manifest} has {len(per_id)}"
            )
        most = max(per_id.values())
        if train.instances_per_id > most:
            raise UserError(
                f"train.instances_per_id={train.instances_per_id} but no identity in {manifest} has more than "
                f"{most} training images; use at most {most}"
            )


def data_signature(config: Config, manifest: Path) -> dict:
    """What, beside `fit_dranet`'s own arguments, makes a run: the data pipeline's keys and the
    split manifest's content (a backup resumes only a run that agrees on them)."""
    return {
        **{f"train.{key}": value for key, value in pipeline_arguments(config).items()},
        "data.skip_corrupt": config.data.skip_corrupt,
        "manifest_sha256": hashlib.sha256(manifest.read_bytes()).hexdigest(),
    }


def pipeline_arguments(config: Config) -> dict:
    """`data.pipeline.train_dataset`'s sampling and augmentation keyword arguments."""
    train = config.train
    return {
        "batch_size": train.batch_size,
        "sampler": train.sampler,
        "instances_per_id": train.instances_per_id,
        "flip": train.flip,
        "pad": train.pad,
        "random_erasing": train.random_erasing,
    }


def train(config: Config, variant: str, manifest: Path, output_dir: Path) -> dict:
    """Train `variant` as `config` says; returns the train_meta.json it writes."""
    if not manifest.is_file():
        raise UserError(f"{manifest} does not exist: run `dranet prepare` (or `dvc repro prepare`) first")
    from dranet_keras.data.manifest import prepared_set, read_manifest

    split = read_manifest(manifest)
    dataset = prepared_set(manifest, config.data.name, config.data.root).name
    check_trainable(config, dataset, split, manifest)
    # A second trainer into this folder stops here, before TensorFlow starts. Multi-worker
    # runs start one process per machine, possibly on a shared folder: only the chief locks it
    # (inside fit_dranet, once it knows which worker it is).
    multi_worker = config.train.strategy == "multi_worker"
    with contextlib.nullcontext() if multi_worker else run_lock(output_dir):
        return _train(config, variant, dataset, split, output_dir, data_signature(config, manifest))


def _train(config: Config, variant: str, dataset: str, split: Split, output_dir: Path, signature: dict) -> dict:
    import keras
    import tensorflow as tf

    from dranet_keras.data.pipeline import train_dataset
    from dranet_keras.models import build_dranet
    from dranet_keras.precision import policy_name, resolve_policy
    from dranet_keras.training import fit_dranet, make_strategy, worker_role
    from dranet_keras.training.callbacks import TrainingDivergedError, final_loss

    strategy = make_strategy(config.train.strategy)  # before any other TensorFlow work
    policy, why = resolve_policy(config.train.mixed_precision)
    num_ids = split.num_train_ids
    train, size = config.train, (config.model.height, config.model.width)

    def data(first_epoch: int):
        options = {**pipeline_arguments(config), "seed": config.seed, "skip_corrupt": config.data.skip_corrupt}
        return train_dataset(split.train, size, first_epoch=first_epoch, **options)

    steps = train.steps_per_epoch or len(split.train) // train.batch_size
    print(
        f"dranet train: {variant} on {dataset}: {len(split.train)} images of {num_ids} ids, "
        f"{train.epochs} epochs x {steps} steps of {train.batch_size}, {strategy.num_replicas_in_sync} replica(s), "
        f"{policy_name(policy)} ({why})"
    )
    start = time.perf_counter()
    arguments = {**config.model.arguments(), "variant": variant}
    try:
        model, history = fit_dranet(
            data,
            lambda: build_dranet(num_ids, **arguments),
            **train.fit_arguments(),
            steps_per_epoch=steps,
            output_dir=output_dir,
            signature=signature,
            mixed_precision=policy,
            strategy=strategy,
            seed=config.seed,
        )
    except TrainingDivergedError as error:
        raise TrainingDivergedError(f"{variant}: {error}; lower train.learning_rate or lengthen train.warmup_epochs") from None
    losses = history.history.get("loss", [])
    is_chief, role = worker_role(strategy)
    if not is_chief:  # only the chief writes (and so reads) the log, the model and the meta
        print(f"dranet train: {variant}: {role} done ({len(losses)} epochs); the chief writes the outputs")
        return {}
    meta = {
        "variant": variant,
        "dataset": dataset,
        "epochs": train.epochs,
        "epochs_this_run": len(losses),
        "steps_per_epoch": steps,
        "batch_size": train.batch_size,
        "image_size": list(size),
        "num_ids": num_ids,
        "num_train_images": len(split.train),
        "seed": config.seed,
        "final_loss": final_loss(output_dir / layout.TRAINING_LOG),
        "wall_time_s": round(time.perf_counter() - start, 1),
        "strategy": train.strategy,
        "replicas": strategy.num_replicas_in_sync,
        "mixed_precision": policy_name(policy),
        "parameters": model.count_params(),
        "machine": f"{platform.machine()} {platform.system()}, python {platform.python_version()}",
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
        "config": config_to_dict(config),  # the effective configuration, --set overrides included
    }
    atomic_write_json(output_dir / layout.TRAIN_META, meta)
    print(f"dranet train: {variant}: loss {meta['final_loss']:.3f} after {train.epochs} epochs ({meta['wall_time_s']} s) -> {output_dir}")
    return meta


def run(args: argparse.Namespace) -> int:
    config = load_config(args.params, args.overrides)
    variant = args.variant or config.model.variant
    manifest = Path(args.manifest or layout.manifest_path(config.data.name, config.data.prepared_dir))
    train(config, variant, manifest, layout.model_dir(variant, config.seed, args.models_dir))
    return 0
