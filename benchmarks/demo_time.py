"""`make demo`'s wall time from a fresh clone, per stage and, for each training, per phase: the
repository is cloned at `--rev` into a temporary folder, its .venv installed (not timed), and
`make demo` run with every line it prints time-stamped as it arrives. Each `--rev` gets its
columns in one table (docs/results.md), measured one after the other in this run.

    .venv/bin/python benchmarks/demo_time.py [--rev HEAD] [--rev OTHER] [--keep DIR]

Phases of a training stage, read from what Keras prints: start-up (the interpreter, TensorFlow,
data and model, up to "Epoch 1/"), epoch 1 (tracing and its steps), each later epoch (its steps
and the previous epoch's backup) and the end (the last backup, the final save, exit).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import tempfile
import time
from pathlib import Path

from tables import ROOT, publish  # benchmarks/tables.py (scripts run as files)

STAGE = re.compile(r"Running stage '([^']+)'")
EPOCH = re.compile(r"Epoch (\d+)/(\d+)")
EPOCH_END = " - lr: "  # the LR logger's value, printed once per epoch, at its end


def timed_lines(command: list[str], cwd: Path, env: dict) -> tuple[list[tuple[float, str]], float, dict]:
    """Run `command`; every line (split on \\r and \\n) with its seconds since the start."""
    start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines, pending = [], b""
    for chunk in iter(lambda: process.stdout.read1(65536), b""):
        now = time.perf_counter() - start
        *complete, pending = re.split(rb"[\r\n]", pending + chunk)
        lines += [(now, line.decode(errors="replace")) for line in complete if line.strip()]
    if process.wait():
        tail = "\n".join(text for _, text in lines[-20:])
        raise SystemExit(f"{' '.join(command)} failed in {cwd} (exit {process.returncode}):\n{tail}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # every child so far: CPU as the difference
    cpu = usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime
    return lines, time.perf_counter() - start, {"cpu_s": cpu, "max_rss_gib": usage.ru_maxrss / 2**20}


def stage_phases(lines: list[tuple[float, str]], total: float) -> dict[str, dict]:
    """{stage: {"wall": s, and for a training: "start-up", "epoch 1", "later epochs" (mean), "end"}}."""
    marks = [(t, m.group(1)) for t, text in lines if (m := STAGE.search(text))]
    stages = {}
    for (begin, name), (end, _) in zip(marks, [*marks[1:], (total, None)]):
        inside = [(t, text) for t, text in lines if begin <= t <= end]
        starts = {}  # epoch -> when its "Epoch k/n" line came
        for t, text in inside:
            if (found := EPOCH.search(text)) and EPOCH_END not in text:
                starts.setdefault(int(found.group(1)), t)
        ends = [t for t, text in inside if EPOCH_END in text]
        phases = {"wall": end - begin}
        if starts and ends:
            firsts = [starts[k] for k in sorted(starts)]
            durations = [b - a for a, b in zip(firsts, [*firsts[1:], max(ends)])]
            phases["start-up"] = firsts[0] - begin
            phases["epoch 1"] = durations[0]
            if len(durations) > 1:
                phases["later epochs"] = sum(durations[1:]) / (len(durations) - 1)
            phases["end"] = end - max(ends)
        stages[name] = phases
    return stages


def short_commit(rev: str) -> str:
    """This repository's `rev` as its short commit hash."""
    return subprocess.run(["git", "rev-parse", "--short", "--verify", f"{rev}^{{commit}}"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout.strip()


def write_log(path: Path, lines: list[tuple[float, str]]) -> None:
    """`timed_lines`' lines, each after its seconds since the start."""
    path.write_text("".join(f"{t:8.1f} {text}\n" for t, text in lines))


def fresh_clone(rev: str, workdir: Path, *, reuse: bool = False) -> tuple[Path, dict]:
    """This repository cloned at `rev` into `workdir` with its own .venv (`make install`), and the
    environment to run it in; with `reuse`, a clone of the same commit already there (an
    interrupted run) is kept: the clone's folder is named by its commit."""
    clone = workdir / f"clone-{short_commit(rev)}"
    if not (reuse and clone.is_dir()):
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        subprocess.run(["git", "checkout", "-q", rev], cwd=clone, check=True)
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    env.pop("VIRTUAL_ENV", None)
    subprocess.run(["make", "install"], cwd=clone, env=env, check=True)  # not timed: pip's downloads
    return clone, env


def measure(rev: str, workdir: Path) -> tuple[dict, float, dict]:
    clone, env = fresh_clone(rev, workdir)
    lines, total, usage = timed_lines(["make", "demo"], clone, env)
    write_log(workdir / f"demo-{rev.replace('/', '_')}.log", lines)
    return stage_phases(lines, total), total, usage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", action="append", help="commit to clone and time (repeatable; default HEAD)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep the clones and logs")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "results.md")
    args = parser.parse_args()
    revs = args.rev or ["HEAD"]
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        measured = {}
        for rev in revs:
            short = short_commit(rev)
            _, total, _ = measured[f"{rev} ({short})" if short != rev else rev] = measure(rev, workdir)
            print(f"demo_time: {rev}: {total:.0f} s", flush=True)
    names = list(measured)
    rows = []
    for stage in dict.fromkeys(s for stages, _, _ in measured.values() for s in stages):
        phases = dict.fromkeys(p for stages, _, _ in measured.values() for p in stages.get(stage, {}))
        for phase in phases:
            label = f"`{stage}`" if phase == "wall" else f"`{stage}`: {phase}"
            rows.append([label, *(f"{stages[stage][phase]:.1f}" if phase in stages.get(stage, {}) else "-" for stages, _, _ in measured.values())])
    rows.append(["**`make demo`, wall**", *(f"**{total:.0f}** ({total / 60:.1f} min)" for _, total, _ in measured.values())])
    rows.append(["CPU time of its processes / peak RSS of the largest process so far", *(f"{u['cpu_s']:.0f} s / {u['max_rss_gib']:.1f} GiB" for _, _, u in measured.values())])
    publish("demo_wall_time", ["seconds", *names], rows, doc=args.doc, load_at_start=load,
            note="`make demo` from a fresh clone (the .venv installed first, not timed), one rev after the other; a stage's wall "
                 "runs from DVC's `Running stage` line to the next one's.")


if __name__ == "__main__":
    main()
