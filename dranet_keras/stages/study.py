"""The reproducibility study (experiments/study/protocol.yaml, docs/study.md): train and
evaluate every (run, seed) of the protocol that has no committed result yet, each in its own
process, and write experiments/study/results/<run>/seed<k>.json as each one ends (`--commit`
commits it at once). Stopped at any moment, it resumes where it was. `--dry-run` lists what is
left.

A result is one JSON file (`Protocol.result_path`), written atomically when its run has been
trained and evaluated: a study stopped at any moment resumes where it was (an interrupted
training resumes from its backup), also on a fresh machine without the work folder, which is
rebuilt deterministically."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from dranet_keras import layout
from dranet_keras.config import Config, load_config
from dranet_keras.errors import UserError
from dranet_keras.io import atomic_write_json
from dranet_keras.study.protocol import DEFAULT_PROTOCOL, Protocol, Run, load_protocol

USES_CONFIG = False  # the protocol names its own params file


PRETRAIN_TEST_IDS = 2  # the pre-training set is only trained on; the generator needs a test split


def study_config(protocol: Protocol, overrides=()) -> Config:
    return load_config(protocol.params, list(overrides))


def pretrain_data(protocol: Protocol, config: Config):
    """The pre-training set's data section: its own folder and identities, the study's cameras count and sizes."""
    return dataclasses.replace(
        config.data,
        root=str(protocol.work_dir / "data" / "pretrain"),
        prepared_dir=str(protocol.work_dir / "prepared-pretrain"),
        synthetic_train_ids=protocol.pretrain_train_ids,
        synthetic_test_ids=PRETRAIN_TEST_IDS,
        synthetic_distractors=0,
        synthetic_occluded_ids=0,
    )


def manifests(protocol: Protocol, config: Config) -> tuple[Path, Path]:
    """(study manifest, pre-training manifest)."""
    return (
        layout.manifest_path(config.data.name, config.data.prepared_dir),
        layout.manifest_path(config.data.name, pretrain_data(protocol, config).prepared_dir),
    )


def prepare_sets(protocol: Protocol) -> None:
    """Generate and prepare the study set and the pre-training set; refuse shared identities."""
    from dranet_keras.data.synthetic import SyntheticSpec, identity_codes
    from dranet_keras.stages.prepare import dataset_options, prepare

    config = study_config(protocol)
    pre = pretrain_data(protocol, config)
    shared = identity_codes(SyntheticSpec(**dataset_options(config.data, config.seed))) & identity_codes(
        SyntheticSpec(**dataset_options(pre, protocol.pretrain_data_seed))
    )
    if shared:
        raise UserError(f"{protocol.path}: pretrain.data_seed {protocol.pretrain_data_seed} gives {len(shared)} identities of the study set; choose another")
    for data, seed in ((config.data, config.seed), (pre, protocol.pretrain_data_seed)):
        if not layout.manifest_path(data.name, data.prepared_dir).is_file():
            prepare(data, seed)


def _cli(*arguments: str) -> None:
    """Run a `dranet` sub-command in a fresh interpreter (one TensorFlow process per job)."""
    done = subprocess.run([sys.executable, "-m", "dranet_keras.cli", *arguments])
    if done.returncode:
        raise UserError(f"dranet {' '.join(arguments)} failed with exit code {done.returncode}")


def pretrain(protocol: Protocol) -> None:
    """The shared start: the baseline pre-trained on the pre-training set (skipped when its
    backbone for this protocol exists)."""
    stamp = protocol.backbone.with_suffix(".protocol")
    if protocol.backbone.is_file() and stamp.is_file() and stamp.read_text() == protocol.digest:
        return
    config = study_config(protocol)
    _cli("pretrain", "--params", str(protocol.params), "--models-dir", str(protocol.work_dir / "models"), "--manifest", str(manifests(protocol, config)[1]))
    stamp.write_text(protocol.digest)


def check_result(protocol: Protocol, run: Run, seed: int) -> bool:
    """Whether (run, seed) has a result of this protocol; a result of another protocol is refused."""
    return _check_digest(protocol, protocol.result_path(run.name, seed))


def _check_digest(protocol: Protocol, path: Path) -> bool:
    """Whether `path` holds a result of this protocol; a result of another protocol is refused."""
    if not path.is_file():
        return False
    found = json.loads(path.read_text()).get("protocol_digest")
    if found != protocol.digest:
        raise UserError(
            f"{path} was run under protocol {found}, this is {protocol.digest} ({protocol.path} or {protocol.params} changed); "
            "a study never mixes protocols: restore the files, or move the old results away"
        )
    return True


def commit_result(path: Path, message: str) -> bool:
    """Commit one result file alone (other staged changes stay staged); a few tries, as
    another git command may hold the index lock."""
    for _ in range(5):
        added = subprocess.run(["git", "add", "--", str(path)], capture_output=True)
        done = subprocess.run(["git", "commit", "-q", "-m", message, "--", str(path)], capture_output=True, text=True)
        if added.returncode == 0 and done.returncode == 0:
            return True
        time.sleep(5)
    print(f"dranet study: could not commit {path}: {done.stderr.strip()}", file=sys.stderr)
    return False


def run_study(protocol: Protocol, *, commit: bool = False, only: set[str] | None = None, dry_run: bool = False) -> list[tuple[str, int]]:
    """Train and evaluate every (run, seed) without a result; returns the ones run."""
    jobs = [(run, seed) for run, seed in protocol.schedule() if (only is None or run.name in only) and not check_result(protocol, run, seed)]
    if dry_run:
        return [(run.name, seed) for run, seed in jobs]
    needs_references = not _check_digest(protocol, protocol.references_path)
    if needs_references or jobs:
        prepare_sets(protocol)
    if needs_references:
        score_references(protocol)
        if commit:
            commit_result(protocol.references_path, f"study: references ({protocol.digest})")
    if jobs:
        pretrain(protocol)
    for number, (run, seed) in enumerate(jobs, 1):
        print(f"dranet study: [{number}/{len(jobs)}] {run.name} seed {seed}", flush=True)
        _cli("study", "--protocol", str(protocol.path), "--one", f"{run.name}:{seed}")
        if commit:
            commit_result(protocol.result_path(run.name, seed), f"study: {run.name} seed {seed} ({protocol.digest})")
    return [(run.name, seed) for run, seed in jobs]


def _code_commit() -> str | None:
    """The checkout's commit (with "-dirty" when it has changes), None outside git."""
    done = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"], capture_output=True, text=True)
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _per_query(per_query) -> dict:
    return {
        "query": per_query.query.tolist(),
        "ap": np.round(per_query.ap, 5).tolist(),
        "first_rank": per_query.first_rank.tolist(),
    }


def _retrieval(query_features, gallery_features, query, gallery, config, attributes=None) -> dict:
    from dranet_keras.evaluation.results import record_labels
    from dranet_keras.evaluation.strata import strata_metrics
    from dranet_keras.evaluation.streaming import FeatureDistances, evaluate_distance_rows_per_query

    evaluation = config.eval
    distances = FeatureDistances(query_features, gallery_features, evaluation.metric)
    result, per_query = evaluate_distance_rows_per_query(
        distances, *record_labels(query, gallery), evaluation.max_rank, evaluation.protocol, evaluation.memory_gb
    )
    return {
        "num_query": len(query),
        "num_gallery": len(gallery),
        "mAP": result.mAP,
        **{f"rank{k}": float(result.cmc[min(k, len(result.cmc)) - 1]) for k in (1, 5, 10)},
        "mINP": result.mINP,
        "strata": None if attributes is None else strata_metrics(per_query, attributes),
        "per_query": _per_query(per_query),
    }


def _mask_spread(model, images) -> dict | None:
    """Quantiles of the CIC channel mask m over `images` (None without CIC)."""
    if model.channel_attention is None:
        return None
    m = np.asarray(model.attention_maps(images, np.zeros(len(images), "int32"))["channel_masks"]).ravel()
    quantiles = np.percentile(m, [5, 50, 95])
    return {
        "mean": float(m.mean()),
        "sd": float(m.std()),
        "p05": float(quantiles[0]),
        "p50": float(quantiles[1]),
        "p95": float(quantiles[2]),
        "near_half": float(np.mean(np.abs(m - 0.5) < 0.05)),  # share still at the sigmoid's start
    }


def score_references(protocol: Protocol) -> dict:
    """The floors on the study's own splits, with the runs' ranking code: the colour-histogram
    descriptor (per query and per stratum, as a run) and chance (random rankings)."""
    from dranet_keras.data.manifest import read_manifest
    from dranet_keras.data.synthetic import occluded_gallery, query_attributes, read_occluded_images
    from dranet_keras.evaluation.chance import chance_metrics
    from dranet_keras.evaluation.handcrafted import image_descriptors
    from dranet_keras.evaluation.results import record_labels
    from dranet_keras.stages.reference import CHANCE_DRAWS

    config = study_config(protocol)
    split = read_manifest(manifests(protocol, config)[0])
    root = Path(config.data.root)
    own = read_occluded_images(root)
    splits = {
        "standard": (split.query, split.gallery, query_attributes(root, split.query)),
        "occluded": (own.query, occluded_gallery(own, split), None),
    }
    evaluation = config.eval
    histogram, chance = {}, {}
    for key, (query, gallery, attributes) in splits.items():
        features = [image_descriptors([r.path for r in records]) for records in (query, gallery)]
        histogram[key] = _retrieval(*features, query, gallery, config, attributes)
        chance[key] = {
            "num_query": len(query),
            "num_gallery": len(gallery),
            "draws": CHANCE_DRAWS,
            **chance_metrics(*record_labels(query, gallery), max_rank=evaluation.max_rank, protocol=evaluation.protocol,
                             draws=CHANCE_DRAWS, memory_gb=evaluation.memory_gb, seed=config.seed),
        }
    references = {
        "protocol_digest": protocol.digest,
        "references": {"colour_histogram": histogram, "chance": chance},
        "code_commit": _code_commit(),
        "command": f"dranet study --protocol {protocol.path}  (scored before the first run)",
    }
    atomic_write_json(protocol.references_path, references)
    print(f"dranet study: references: colour histogram mAP {histogram['standard']['mAP']:.4f}, chance {chance['standard']['mAP']:.4f} "
          f"(occluded split {histogram['occluded']['mAP']:.4f}, {chance['occluded']['mAP']:.4f})")
    return references


def run_one(protocol: Protocol, name: str, seed: int) -> dict:
    """Train and evaluate one (run, seed) in this process; write its result file."""
    import keras
    import tensorflow as tf

    from dranet_keras.data.manifest import read_manifest
    from dranet_keras.data.pipeline import eval_dataset
    from dranet_keras.data.synthetic import occluded_gallery, query_attributes, read_occluded_images
    from dranet_keras.evaluation.features import extract_features
    from dranet_keras.models.loading import load_dranet
    from dranet_keras.stages.train import train

    if name not in protocol.runs:
        raise UserError(f"{protocol.path}: no run named {name!r} (runs: {', '.join(protocol.runs)})")
    run = protocol.runs[name]
    config = study_config(protocol, [f"seed={seed}", f"model.weights={protocol.backbone}", *run.overrides])
    manifest = manifests(protocol, config)[0]
    split = read_manifest(manifest)
    output_dir = protocol.model_dir(name, seed)
    wall, cpu = time.perf_counter(), time.process_time()
    meta = train(config, run.variant, manifest, output_dir)
    train_wall, train_cpu = time.perf_counter() - wall, time.process_time() - cpu

    wall = time.perf_counter()
    model = load_dranet(output_dir / layout.MODEL)
    size = (config.model.height, config.model.width)

    def embed(records, what):
        dataset = eval_dataset(records, size, config.eval.batch_size)
        return extract_features(model, dataset, flip=config.eval.flip_test, description=f"{name} seed {seed} {what}")

    root = Path(config.data.root)
    attributes = query_attributes(root, split.query)
    query, gallery = embed(split.query, "query"), embed(split.gallery, "gallery")
    own = read_occluded_images(root)
    occluded_query = embed(own.query, "occluded query")
    occluded_gallery_features = np.concatenate([embed(own.gallery, "occluded gallery"), gallery])
    images = next(iter(eval_dataset(split.query[: protocol.mask_images], size, protocol.mask_images)))
    with open(output_dir / layout.TRAINING_LOG) as handle:
        losses = [float(row["loss"]) for row in csv.DictReader(handle)]
    result = {
        "name": name,
        "variant": run.variant,
        "seed": seed,
        "overrides": list(run.overrides),
        "protocol_digest": protocol.digest,
        "standard": _retrieval(query, gallery, split.query, split.gallery, config, attributes),
        "occluded": _retrieval(occluded_query, occluded_gallery_features, own.query, occluded_gallery(own, split), config),
        "mask": _mask_spread(model, images),
        "losses": losses,
        "epochs": meta["epochs"],
        "train_wall_s": round(train_wall, 1),
        "train_cpu_s": round(train_cpu, 1),
        "eval_wall_s": round(time.perf_counter() - wall, 1),
        "backbone_sha256": _sha256(protocol.backbone),
        "machine": f"{platform.machine()} {platform.processor() or platform.system()}, {os.cpu_count()} cores",
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
        "code_commit": _code_commit(),  # pairs are compared within one code version (docs/study.md)
        "command": f"dranet study --protocol {protocol.path} --one {name}:{seed}",
    }
    atomic_write_json(protocol.result_path(name, seed), result)
    standard, hard = result["standard"], result["occluded"]
    print(f"dranet study: {name} seed {seed}: mAP {standard['mAP']:.4f} (occluded split {hard['mAP']:.4f}), "
          f"train {train_wall:.0f} s, evaluate {result['eval_wall_s']:.0f} s")
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--protocol", default=DEFAULT_PROTOCOL, help=f"the study's protocol (default: {DEFAULT_PROTOCOL})")
    parser.add_argument("--commit", action="store_true", help="git-commit each result file as its run ends")
    parser.add_argument("--only", action="append", metavar="RUN", help="only these runs of the protocol (repeatable)")
    parser.add_argument("--dry-run", action="store_true", help="list the (run, seed) pairs without a result and stop")
    parser.add_argument("--one", metavar="RUN:SEED", help=argparse.SUPPRESS)  # one job, in this process


def run(args: argparse.Namespace) -> int:
    protocol = load_protocol(args.protocol)
    if args.only and not set(args.only) <= set(protocol.runs):
        raise UserError(f"--only: {sorted(set(args.only) - set(protocol.runs))} not among the protocol's runs {list(protocol.runs)}")
    if args.one:
        name, _, seed = args.one.partition(":")
        from dranet_keras.quiet import import_tensorflow

        import_tensorflow()
        run_one(protocol, name, int(seed))
        return 0
    done = run_study(protocol, commit=args.commit, only=set(args.only) if args.only else None, dry_run=args.dry_run)
    verb = "left" if args.dry_run else "ran"
    print(f"dranet study: {verb} {len(done)} run(s){': ' + ', '.join(f'{n}:{s}' for n, s in done) if done else ''}")
    return 0
