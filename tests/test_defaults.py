"""One default per knob: every default of the library's signatures equals the config default
of the same knob (the config dataclasses are the single source), and every other default is
listed here as library-only, with why. A new parameter with a default fails until it is one."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from dranet_keras.config import Config, EvalConfig, ModelConfig, TrainConfig
from dranet_keras.evaluation import evaluate_features, evaluate_rank, re_rank, re_rank_features
from dranet_keras.evaluation.features import extract_features
from dranet_keras.evaluation.results import evaluate_embeddings
from dranet_keras.evaluation.streaming import DEFAULT_MEMORY_GB
from dranet_keras.layers import ChannelReverseAttention, RandomErasing, SpatialReverseAttention
from dranet_keras.models import DRANet, build_dranet
from dranet_keras.training import WarmupDecay, fit_dranet, make_optimizer

MODEL, TRAIN, EVAL, SEED = ModelConfig(), TrainConfig(), EvalConfig(), Config().seed
RERANK = {"k1": EVAL.rerank_k1, "k2": EVAL.rerank_k2, "lambda_value": EVAL.rerank_lambda}
BLOCKS = {
    "chunk_size": "rows per block of the dense paths: memory, not results",
    "max_pairs": "work per block of the sparse re-ranking: memory, not results",
}
MEMORY = {"memory_gb": f"None = {DEFAULT_MEMORY_GB} GiB, eval.memory_gb's default (asserted below)"}

# callable -> ({parameter: config default}, {library-only parameter: why})
CASES = {
    "DRANet": (
        DRANet.__init__,
        {
            **{f.name: getattr(MODEL, f.name) for f in dataclasses.fields(MODEL) if f.name not in ("height", "width")},
            "input_shape": (MODEL.height, MODEL.width, 3),
        },
        {},
    ),
    "ChannelReverseAttention": (
        ChannelReverseAttention.__init__,
        {"reduction": MODEL.reduction, "parts": MODEL.parts, "reverse_gradient": MODEL.reverse_gradient},
        {},
    ),
    "SpatialReverseAttention": (
        SpatialReverseAttention.__init__,
        {"parts": MODEL.parts, "erase": MODEL.erase, "erase_threshold": MODEL.erase_threshold},
        {},
    ),
    "RandomErasing": (
        RandomErasing.__init__,
        {"probability": TRAIN.random_erasing},
        dict.fromkeys(("area_range", "aspect_range", "fill_value", "attempts"), "the reference implementation's constants")
        | {"seed": "None = unseeded, as Keras layers"},
    ),
    "fit_dranet": (
        fit_dranet,
        {
            key: getattr(TRAIN, key)
            for key in (
                "steps_per_epoch", "optimizer", "learning_rate", "weight_decay", "momentum", "warmup_epochs",
                "warmup_factor", "schedule", "lr_milestones", "lr_gamma", "mixed_precision", "strategy", "deterministic",
                "run_eagerly",
            )
        },
        {
            "output_dir": "None = write nothing (a notebook run)",
            "signature": "None = nothing beyond fit_dranet's own arguments identifies the run (the train stage adds its data)",
            "seed": "None = leave the process's random state alone (a library call must not reseed a notebook)",
            "jit_compile": "XLA compilation of ResNet50 costs minutes on a CPU; not a config knob",
            "callbacks": "extra Keras callbacks of the caller",
            "verbose": "Keras' progress display",
        },
    ),
    "WarmupDecay": (
        WarmupDecay.__init__,
        {
            "warmup_epochs": TRAIN.warmup_epochs,
            "warmup_factor": TRAIN.warmup_factor,
            "schedule": TRAIN.schedule,
            "milestones": TRAIN.lr_milestones,
            "gamma": TRAIN.lr_gamma,
        },
        {},
    ),
    "make_optimizer": (make_optimizer, {"weight_decay": TRAIN.weight_decay, "momentum": TRAIN.momentum}, {}),
    "evaluate_rank": (
        evaluate_rank,
        {"max_rank": EVAL.max_rank, "protocol": EVAL.protocol, "seed": SEED},
        {"chunk_size": BLOCKS["chunk_size"], "num_repeats": "cuhk03 protocol: the reference code's 10 gallery draws"},
    ),
    "evaluate_features": (
        evaluate_features,
        {"metric": EVAL.metric, "max_rank": EVAL.max_rank, "protocol": EVAL.protocol, "seed": SEED},
        MEMORY,
    ),
    "re_rank": (re_rank, RERANK, BLOCKS),
    "re_rank_features": (re_rank_features, {**RERANK, "metric": EVAL.metric}, {**BLOCKS, **MEMORY}),
    "evaluate_embeddings": (
        evaluate_embeddings,
        {
            "metric": EVAL.metric, "max_rank": EVAL.max_rank, "protocol": EVAL.protocol, "rerank": EVAL.rerank,
            **RERANK, "visual_queries": EVAL.visual_queries, "seed": SEED,
        },
        {**MEMORY, "top_k": "gallery entries kept per shown query (rankings.json)", "query_attributes": "data, not a knob: None = no strata"},
    ),
    "extract_features": (
        extract_features,
        {"flip": EVAL.flip_test},
        {"cache_path": "None = no feature cache", "description": "the progress line's label"},
    ),
}


def defaults(function) -> dict:
    return {
        name: parameter.default
        for name, parameter in inspect.signature(function).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }


@pytest.mark.parametrize("name", list(CASES))
def test_library_defaults_equal_the_config_defaults(name):
    function, from_config, library_only = CASES[name]
    actual = defaults(function)
    assert set(actual) == set(from_config) | set(library_only), "a default that is neither a config knob nor listed"
    for key, expected in from_config.items():
        value = actual[key]
        value = tuple(value) if isinstance(value, list) else value
        assert value == expected, f"{name}({key}={value!r}) but the config default is {expected!r}"
    if "memory_gb" in library_only:
        assert actual["memory_gb"] is None and DEFAULT_MEMORY_GB == EVAL.memory_gb


def test_model_config_maps_one_to_one_onto_the_model_arguments():
    parameters = set(inspect.signature(DRANet.__init__).parameters) - {"self", "num_ids", "kwargs"}
    assert set(MODEL.arguments()) == parameters
    assert MODEL.arguments()["input_shape"] == (MODEL.height, MODEL.width, 3)
    assert defaults(build_dranet) == {}  # a pass-through: DRANet's defaults are the only ones


def test_eval_config_gives_evaluate_embeddings_its_ranking_arguments():
    arguments = EVAL.ranking_arguments()
    assert set(arguments) <= set(defaults(evaluate_embeddings))
    assert arguments["k1"] == EVAL.rerank_k1 and arguments["lambda_value"] == EVAL.rerank_lambda


def test_the_train_sections_fit_arguments_are_fit_dranets_parameters():
    """`TrainConfig.fit_arguments` is the one relay from the train section to `fit_dranet`."""
    parameters = inspect.signature(fit_dranet).parameters
    arguments = TRAIN.fit_arguments()
    assert set(arguments) <= {name for name, p in parameters.items() if p.kind is p.KEYWORD_ONLY}
    # every train key fit_dranet takes by the same name is relayed, apart from those the stage resolves
    shared = {f.name for f in dataclasses.fields(TRAIN)} & set(parameters)
    assert shared - set(arguments) == {"steps_per_epoch", "mixed_precision", "strategy"}
