"""The `dranet` command: one sub-command per DVC stage plus demo/export/embed.

Each sub-command lives in `dranet_keras.stages.<name>` and exposes
`add_arguments(parser)` and `run(args) -> int`. Errors a user can cause (`UserError`) print one
line and exit with status 2; success is 0.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from dranet_keras.errors import UserError

COMMANDS = {
    "prepare": "read (or generate) the data set, validate its images, write manifest.csv + stats.json",
    "train": "train one model variant on the prepared data (resumes after an interruption)",
    "demo": "run the main job end to end on the embedded synthetic data",
    "evaluate": "CMC / mAP / mINP (with and without re-ranking) of a trained model",
    "report": "render reports/index.html and reports/report.ipynb from the pipeline's outputs",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dranet", description="DRANet person re-identification in Keras 3.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, summary in COMMANDS.items():
        module = importlib.import_module(f"dranet_keras.stages.{name}")
        sub = commands.add_parser(name, help=summary, description=(module.__doc__ or summary).strip())
        sub.add_argument("--params", default="params.yaml", help="experiment YAML (default: params.yaml)")
        sub.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a config key, e.g. --set train.epochs=3 (validated like the YAML)",
        )
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except UserError as error:
        print(f"dranet {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dranet {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
