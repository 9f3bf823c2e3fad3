"""Pre-train the backbone once for the whole ablation: the baseline trained `pretrain.epochs`
epochs on the training split (the `train` settings otherwise, from model.weights), its ResNet50
weights saved to models/pretrain/backbone.weights.h5. Every variant's `train` stage in dvc.yaml
starts from that file (--set model.weights=...): the same start for all variants, as ImageNet
initialisation gives on real data, computed once and cached by DVC. With pretrain.epochs: 0 it
saves the initial backbone without training."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from dranet_keras import layout
from dranet_keras.config import Config, config_to_dict, load_config
from dranet_keras.io import atomic_path, atomic_write_json

USES_TENSORFLOW = True  # dranet_keras.cli imports it quietly first


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models-dir", default=layout.MODELS_ROOT, help=f"where pretrain/ goes (default: {layout.MODELS_ROOT})")
    parser.add_argument("--manifest", help="split manifest (default: <data.prepared_dir>/<data.name>/manifest.csv)")


def pretrain_config(config: Config) -> Config:
    """`config` with the pretrain section's epochs, LR milestones and seed in its train section
    and top-level seed."""
    train = dataclasses.replace(config.train, epochs=config.pretrain.epochs, lr_milestones=config.pretrain.lr_milestones)
    return dataclasses.replace(config, train=train, seed=config.pretrain.seed)


def save_backbone(model, path: Path) -> None:
    """The model's ResNet50 weights as a .weights.h5 file, written atomically."""
    with atomic_path(path, suffix=".weights.h5") as tmp:  # Keras insists on the suffix
        model.backbone.save_weights(tmp)


def run(args: argparse.Namespace) -> int:
    import keras

    from dranet_keras.data.manifest import prepared_set, read_manifest
    from dranet_keras.models import build_dranet
    from dranet_keras.models.loading import load_dranet
    from dranet_keras.stages.train import check_identities, train

    config = pretrain_config(load_config(args.params, args.overrides))
    manifest = Path(args.manifest or layout.manifest_path(config.data.name, config.data.prepared_dir))
    output_dir = layout.pretrain_dir(args.models_dir)
    backbone = output_dir / layout.BACKBONE
    if config.pretrain.epochs == 0:
        split = read_manifest(manifest)
        check_identities(split, manifest)
        num_ids = split.num_train_ids
        keras.utils.set_random_seed(config.seed)
        save_backbone(build_dranet(num_ids, **{**config.model.arguments(), "variant": "baseline"}), backbone)
        dataset = prepared_set(manifest, config.data.name, config.data.root).name
        meta = {"variant": "baseline", "dataset": dataset, "epochs": 0, "seed": config.seed, "wall_time_s": 0.0, "config": config_to_dict(config)}
        atomic_write_json(output_dir / layout.TRAIN_META, meta)
        print(f"dranet pretrain: pretrain.epochs is 0: saved the initial backbone ({config.model.weights or 'random'}) -> {backbone}")
        return 0
    train(config, "baseline", manifest, output_dir)
    save_backbone(load_dranet(output_dir / layout.MODEL), backbone)
    print(f"dranet pretrain: backbone of the pre-trained baseline -> {backbone}")
    return 0
