"""The demo's table over several seeds: every AP beside its seed-to-seed spread.

    python benchmarks/demo_seeds.py                              # seeds 0,1,2, two runs at a time, 1 thread each
    python benchmarks/demo_seeds.py --seeds 0,1,2,3 --jobs 1 --threads 2
    python benchmarks/demo_seeds.py --from-scratch               # the supernet trained per seed too (long)

Each seed runs ``vipnas demo --seed S`` (its own search sampling, fine-tuning order and, with ``--from-scratch``,
supernet training) on the same SynthPose data and test split. It prints, per row of the table, the mean and the
sample standard deviation over seeds of the test AP with supernet weights and after fine-tuning, the
searched − baseline difference, and writes everything to ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _machine import footer, header


def spread(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.4f}" if values else "-"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--jobs", type=int, default=2, help="demo runs at a time")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each run")
    parser.add_argument("--out", default="runs/demo-seeds")
    parser.add_argument("--from-scratch", action="store_true")
    parser.add_argument("--long", action="store_true")
    parser.add_argument("--json", default="docs/demo_seeds.json")
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    if len(seeds) < 3:
        print("note: fewer than 3 seeds give no trustworthy spread", file=sys.stderr)

    start = header(f"vipnas demo over seeds {seeds} ({args.jobs} at a time, {args.threads} thread(s) each)")
    from dataclasses import replace

    from vipnas.demo import FULL, LONG, supernet_config
    from vipnas.engine.build import prepare_data

    settings = LONG if args.long else FULL
    if args.from_scratch:
        settings = replace(settings, pretrained=False)
    prepare_data(supernet_config(settings))  # once, before the parallel runs read it
    extra = (["--long"] if args.long else []) + (["--from-scratch"] if args.from_scratch else [])
    environment = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    pending = list(seeds)
    running: list[tuple[int, subprocess.Popen, float]] = []
    walls: dict[int, float] = {}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    while pending or running:
        while pending and len(running) < args.jobs:
            seed = pending.pop(0)
            command = [
                sys.executable,
                "-m",
                "vipnas",
                "demo",
                "--seed",
                str(seed),
                "--out",
                str(out / f"seed{seed}"),
                "--threads",
                str(args.threads),
                *extra,
            ]
            log = open(out / f"seed{seed}.log", "w")  # noqa: SIM115 - closed with the process
            running.append(
                (
                    seed,
                    subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment),
                    time.perf_counter(),
                )
            )
            print(f"started seed {seed}: {' '.join(command)}", flush=True)
        time.sleep(5)
        for entry in list(running):
            seed, process, began = entry
            if process.poll() is not None:
                running.remove(entry)
                walls[seed] = time.perf_counter() - began
                if process.returncode != 0:
                    print(f"seed {seed} failed (exit {process.returncode}); see {out / f'seed{seed}.log'}")
                    return 1
                print(f"seed {seed} done in {walls[seed] / 60:.1f} min", flush=True)

    tables = {seed: json.loads((out / f"seed{seed}" / "demo.json").read_text()) for seed in seeds}
    names = [row["network"] for row in tables[seeds[0]]["rows"]]
    report: dict = {"seeds": seeds, "settings": tables[seeds[0]]["settings"], "rows": {}, "walls_s": walls}
    print(f"\nAP on the test split ({tables[seeds[0]]['evaluation']})")
    print(f"{'network':10s} {'M MACs':>14s} {'AP supernet':>18s} {'AP fine-tuned':>18s}")
    for name in names:
        rows = [next(r for r in tables[seed]["rows"] if r["network"] == name) for seed in seeds]
        supernet = [r["AP_supernet"] for r in rows]
        tuned = [r["AP_finetuned"] for r in rows if "AP_finetuned" in r]
        macs = [r["macs"] / 1e6 for r in rows]
        report["rows"][name] = {"macs_M": macs, "AP_supernet": supernet, "AP_finetuned": tuned}
        mac_text = f"{min(macs):.2f}-{max(macs):.2f}" if max(macs) > min(macs) else f"{macs[0]:.2f}"
        print(f"{name:10s} {mac_text:>14s} {spread(supernet):>18s} {spread(tuned) if tuned else '-':>18s}")
    for key in ("AP_supernet", "AP_finetuned"):
        difference = [
            s - b for s, b in zip(report["rows"]["searched"][key], report["rows"]["baseline"][key], strict=True)
        ]
        report[f"searched_minus_baseline_{key}"] = difference
        print(f"searched - baseline ({key}): {spread(difference)}")
    print(f"wall time per seed: {', '.join(f'{seed}: {walls[seed] / 60:.1f} min' for seed in seeds)}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    footer(start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
