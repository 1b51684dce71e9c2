"""`vipnas demo --video` over several seeds: every mAP of its tables beside its seed-to-seed spread.

    python benchmarks/video_demo_seeds.py                          # seeds 0,1,2, two runs at a time, 1 thread each
    python benchmarks/video_demo_seeds.py --seeds 0,1,2 --jobs 1 --threads 2

Each seed runs ``vipnas demo --video --seed S --out runs/demo-video-seed{S}`` (its own training order, sandwich
draws and search sampling; a finished seed's folder is resumed, not rerun) on the same SynthPose videos (their own
seed) and so the same test videos, checked by digest. For every row of every ablation it prints the mean and sample
standard deviation over seeds of PoseTrack mAP on the test videos (all frames; non-key frames), and the paired
differences the paper's claims are about: T-ViPNAS − S-ViPNAS (Table 3), fusion − no fusion and per-frame − shared
at each budget (Fig. 6a, 6b). Everything goes to ``--json``.
"""

from __future__ import annotations

import argparse
import hashlib
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
        return f"{values[0]:.2f}" if values else "-"
    return f"{statistics.mean(values):6.2f} ± {statistics.stdev(values):4.2f}"


def test_digest(folder: Path) -> str:
    files = sorted(folder.glob("videos-*/synthpose/posetrack/annotations/test/*.json"))
    return hashlib.sha256(b"".join(path.read_bytes() for path in files)).hexdigest()[:16]


def run_seeds(seeds: list[int], args: argparse.Namespace) -> dict[int, float]:
    environment = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    pending, running, walls = list(seeds), [], {}
    while pending or running:
        while pending and len(running) < args.jobs:
            seed = pending.pop(0)
            out = Path(args.out_template.format(seed=seed))
            out.parent.mkdir(parents=True, exist_ok=True)
            command = [sys.executable, "-m", "vipnas", "demo", "--video", "--seed", str(seed), "--out", str(out),
                       "--threads", str(args.threads)]  # fmt: skip
            log = open(f"{out}.log", "w")  # noqa: SIM115 - closed with the process
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment)
            running.append((seed, process, time.perf_counter()))
            print(f"started seed {seed}: {' '.join(command)}", flush=True)
        time.sleep(5)
        for entry in list(running):
            seed, process, began = entry
            if process.poll() is not None:
                running.remove(entry)
                walls[seed] = time.perf_counter() - began
                if process.returncode != 0:
                    raise SystemExit(f"seed {seed} failed (exit {process.returncode}); see its .log")
                print(f"seed {seed} done in {walls[seed] / 60:.1f} min", flush=True)
    return walls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--jobs", type=int, default=2, help="demo runs at a time")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each run")
    parser.add_argument("--out-template", default="runs/demo-video-seed{seed}")
    parser.add_argument("--json", default="docs/video_demo_seeds.json")
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    if len(seeds) < 3:
        print("note: fewer than 3 seeds give no trustworthy spread", file=sys.stderr)
    start = header(f"vipnas demo --video over seeds {seeds} ({args.jobs} at a time, {args.threads} thread(s) each)")
    walls = run_seeds(seeds, args)
    folders = {seed: Path(args.out_template.format(seed=seed)) for seed in seeds}
    digests = {seed: test_digest(folder) for seed, folder in folders.items()}
    if len(set(digests.values())) != 1:
        raise SystemExit(f"the seeds' test videos differ ({digests}): their mAPs cannot be compared")
    summaries = {seed: json.loads((folder / "video_demo.json").read_text()) for seed, folder in folders.items()}
    report: dict = {"seeds": seeds, "test_videos_digest": digests[seeds[0]], "walls_s": walls,
                    "reported_wall_s": {s: summaries[s]["wall_time_s"] for s in seeds}, "ablations": {}}  # fmt: skip
    print("\nPoseTrack mAP on the SynthPose test videos (mean ± sample std over seeds)")
    for name, first in summaries[seeds[0]]["ablations"].items():
        print(f"\n{first['table'].splitlines()[0].split(' (')[0]}")
        print(f"{'network':34s} {'M MACs/frame':>13s} {'mAP all':>15s} {'mAP non-key':>15s}")
        rows = {}
        for index, row in enumerate(first["rows"]):
            per_seed = [summaries[seed]["ablations"][name]["rows"][index] for seed in seeds]
            assert all(r["network"] == row["network"] for r in per_seed), "rows differ between seeds"
            entry = {key: [r[key] for r in per_seed] for key in ("macs_per_frame", "mAP_all", "mAP_nonkey")}
            rows[f"{index}: {row['network']}"] = entry
            macs = [m / 1e6 for m in entry["macs_per_frame"]]
            print(f"{row['network']:34s} {min(macs):6.2f}-{max(macs):<6.2f} {spread(entry['mAP_all']):>15s} "
                  f"{spread(entry['mAP_nonkey']):>15s}")  # fmt: skip
        report["ablations"][name] = rows
    differences = {}
    table3 = list(report["ablations"]["table3"].values())
    temporal, spatial = table3[2]["mAP_all"], table3[1]["mAP_all"]
    differences["table3: T-ViPNAS - S-ViPNAS (mAP all)"] = [t - s for t, s in zip(temporal, spatial, strict=True)]
    for name, label in (("fig6a", "fusion - no fusion"), ("fig6b", "per-frame - shared")):
        rows = list(report["ablations"][name].items())
        for (title, ours), (_, base) in zip(rows[0::2], rows[1::2], strict=True):
            differences[f"{name}: {label} at {title.split(': ', 1)[1]} (mAP all)"] = [
                a - b for a, b in zip(ours["mAP_all"], base["mAP_all"], strict=True)
            ]
    report["differences"] = differences
    print("\npaired differences (mean ± sample std over seeds; per seed)")
    for label, values in differences.items():
        print(f"  {label}: {spread(values)}  ({', '.join(f'{v:+.2f}' for v in values)})")
    print(f"wall time per seed: {', '.join(f'{seed}: {walls[seed] / 60:.1f} min' for seed in seeds)}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    footer(start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
