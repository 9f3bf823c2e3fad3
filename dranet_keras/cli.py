"""The `dranet` command: one sub-command per DVC stage plus demo/export/embed.

Each sub-command lives in `dranet_keras.stages.<name>` and exposes
`add_arguments(parser)` and `run(args) -> int`; a module that sets `USES_CONFIG = False` gets no
`--params`/`--set` options, one that sets `USES_TENSORFLOW = True` gets TensorFlow imported
without its start-up notice (see dranet_keras/quiet.py) before it runs. Errors a user can cause (`UserError`) print one line and exit with
status 2; success is 0.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from dranet_keras.config import load_config
from dranet_keras.errors import UserError

COMMANDS = {
    "prepare": "read (or generate) the data set, validate its images, write manifest.csv + stats.json",
    "pretrain": "train the baseline once; every variant's training starts from its backbone",
    "train": "train one model variant on the prepared data (resumes after an interruption)",
    "demo": "run the main job end to end on the embedded synthetic data",
    "evaluate": "CMC / mAP / mINP (with and without re-ranking) of a trained model",
    "reference": "score a colour-histogram descriptor and chance on the same split (the floor a model must beat)",
    "report": "render reports/index.html and reports/report.ipynb from the pipeline's outputs",
    "export": "write an inference SavedModel (uint8 images -> L2-normalised embeddings), optionally TFLite",
    "embed": "embed every image of a folder with a trained model into a .npy file",
    "study": "the reproducibility study: train and evaluate every (run, seed) of its protocol not yet done",
}

EXIT_CODES = """\
exit codes:
  0    success
  1    unexpected failure (a bug: the traceback is printed; please report it)
  2    usage error or user mistake (bad option, config key or value, missing file,
       unreadable image): one line on stderr naming what is wrong
  130  interrupted (Ctrl-C)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dranet",
        description="DRANet person re-identification in Keras 3. Run `dranet COMMAND --help` for a command's options.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, summary in COMMANDS.items():
        module = importlib.import_module(f"dranet_keras.stages.{name}")
        sub = commands.add_parser(
            name,
            help=summary,
            description=(module.__doc__ or summary).strip(),
            epilog=EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        uses_config = getattr(module, "USES_CONFIG", True)
        if uses_config:
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
        sub.set_defaults(run=module.run, uses_config=uses_config, uses_tensorflow=getattr(module, "USES_TENSORFLOW", False))
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.uses_config:
            load_config(args.params, args.overrides)  # a typo fails here, before any slow work
        if args.uses_tensorflow:
            from dranet_keras.quiet import import_tensorflow

            import_tensorflow()
        return int(args.run(args) or 0)
    except UserError as error:
        message = " ".join(str(error).split())  # one line, whatever the message holds
        print(f"dranet {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dranet {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
