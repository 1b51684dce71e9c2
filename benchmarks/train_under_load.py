"""Training speed with one core taken by another program, against the idle machine.

Each condition is a fresh process training the demo's supernet (``vipnas.demo.supernet_config``: the tiny
MobileNetV3 space, 128x96, batch 16, sandwich of 4) for a few steps on a small SynthPose easy set; the busy
conditions run one extra process that spins a core (``while True: pass``) for the whole measurement, as a
``pip install`` or a browser would. Conditions are interleaved over ``--rounds`` rounds; the figure is the mean step
time after the first 3 steps (what a user sees, probes of the thread tuner included), and its ratio to the idle
machine with torch's default threads.

    python benchmarks/train_under_load.py                  # about 10 minutes on 2 cores
    python benchmarks/train_under_load.py --steps 20 --rounds 1

Conditions: ``threads 0`` is vipnas's default (measured per step by ``vipnas.engine.threads.ThreadTuner``);
``threads N`` is fixed; ``passive`` adds ``OMP_WAIT_POLICY=PASSIVE``. The target of issue 11: one busy core costs
at most ~2x with the default.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _machine import header, machine

REPO = Path(__file__).resolve().parents[1]
CONDITIONS = (  # (name, busy core, runtime.threads, extra environment, steps factor)
    ("idle, threads 0 (default: measured)", False, 0, {}, 1.0),
    ("idle, threads 2 (torch's default)", False, 2, {}, 1.0),
    ("idle, threads 1", False, 1, {}, 1.0),
    ("idle, threads 2, OMP_WAIT_POLICY=PASSIVE", False, 2, {"OMP_WAIT_POLICY": "PASSIVE"}, 1.0),
    ("busy, threads 0 (default: measured)", True, 0, {}, 1.0),
    ("busy, threads 1", True, 1, {}, 1.0),
    ("busy, threads 2 (torch's default)", True, 2, {}, 0.34),  # very slow: fewer steps
    ("busy, threads 2, OMP_WAIT_POLICY=PASSIVE", True, 2, {"OMP_WAIT_POLICY": "PASSIVE"}, 0.34),
)
BASELINE = "idle, threads 2 (torch's default)"
BUSY_DEFAULT = "busy, threads 0 (default: measured)"


def worker(data: Path, work: Path, threads: int, steps: int) -> None:
    """Train ``steps`` steps and print the per-step times as JSON (run in a fresh process per condition)."""
    sys.path.insert(0, str(REPO))
    from dataclasses import replace

    from vipnas.demo import FULL, supernet_config
    from vipnas.engine.trainer import train

    settings = replace(FULL, synthpose_images=200, test_fraction=0.0, threads=threads, supernet_iters=steps)
    config = supernet_config(settings, data)
    config = replace(config, runtime=replace(config.runtime, log_interval=1, progress=False))
    train(config, work_dir=work)
    rows = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    times = [row["iter_time"] for row in rows if row["type"] == "train"]
    log = (work / "train.log").read_text()
    print(json.dumps({"times": times, "thread_changes": log.count("now run steps fastest")}))


def run(data: Path, work: Path, threads: int, steps: int, env: dict[str, str], busy: bool) -> dict:
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--worker", str(data), str(work), str(threads), str(steps)],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            check=True,
        ).stdout
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=45, help="training steps per condition (fewer when very slow)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        data, work, threads, steps = args.worker
        worker(Path(data), Path(work), int(threads), int(steps))
        return 0
    start = header("training under load: one core busy vs idle (demo supernet, 128x96, batch 16)")
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="vipnas-load-") as folder:
        root = Path(folder)
        data = root / "data"
        sys.path.insert(0, str(REPO))
        from vipnas.data import synthpose

        synthpose.generate(data, images=200, seed=0, level="easy", val_fraction=0.2, workers=1, progress=False)
        means: dict[str, list[float]] = {name: [] for name, *_ in CONDITIONS}
        changes: dict[str, list[int]] = {name: [] for name, *_ in CONDITIONS}
        for round_index in range(args.rounds):
            for index, (name, busy, threads, env, factor) in enumerate(CONDITIONS):
                steps = max(6, round(args.steps * factor))
                began = time.perf_counter()
                result = run(data, root / f"run{round_index}-{index}", threads, steps, env, busy)
                times = result["times"][3:]
                means[name].append(statistics.fmean(times))
                changes[name].append(result["thread_changes"])
                print(
                    f"round {round_index + 1}/{args.rounds}  {name:42s} {steps:3d} steps  "
                    f"{means[name][-1]:.3f} s/step  ({time.perf_counter() - began:.0f} s)",
                    flush=True,
                )
    base = statistics.median(means[BASELINE])
    print()
    print(f"| condition | s/step (median of {args.rounds} rounds, spread) | vs idle torch default | thread changes |")
    print("|---|---|---|---|")
    for name, *_ in CONDITIONS:
        values = means[name]
        spread = f"{min(values):.3f}–{max(values):.3f}" if len(values) > 1 else "—"
        print(
            f"| {name} | {statistics.median(values):.3f} ({spread}) | {statistics.median(values) / base:.2f}x | "
            f"{changes[name]} |"
        )
    print(
        f"\n(ratio per round, busy default / idle torch default: "
        f"{[round(b / a, 2) for a, b in zip(means[BASELINE], means[BUSY_DEFAULT], strict=True)]})"
    )
    print("torch threads in the busy spinner: none (pure Python loop, one core)")
    from _machine import footer

    footer(start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
