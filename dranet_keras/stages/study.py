"""The reproducibility study (experiments/study/protocol.yaml, docs/study.md): train and
evaluate every (run, seed) of the protocol that has no committed result yet, each in its own
process, and write experiments/study/results/<run>/seed<k>.json as each one ends (`--commit`
commits it at once). Stopped at any moment, it resumes where it was. `--dry-run` lists what is
left."""

from __future__ import annotations

import argparse

from dranet_keras.errors import UserError
from dranet_keras.study.protocol import DEFAULT_PROTOCOL, load_protocol

USES_CONFIG = False  # the protocol names its own params file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--protocol", default=DEFAULT_PROTOCOL, help=f"the study's protocol (default: {DEFAULT_PROTOCOL})")
    parser.add_argument("--commit", action="store_true", help="git-commit each result file as its run ends")
    parser.add_argument("--only", action="append", metavar="RUN", help="only these runs of the protocol (repeatable)")
    parser.add_argument("--dry-run", action="store_true", help="list the (run, seed) pairs without a result and stop")
    parser.add_argument("--one", metavar="RUN:SEED", help=argparse.SUPPRESS)  # one job, in this process


def run(args: argparse.Namespace) -> int:
    from dranet_keras.study.runner import run_one, run_study

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
