"""Learning curve of the SynthPose MobileNetV3 supernet preset: validation loss and AP of the largest and smallest
sub-networks (each BN-recalibrated) against wall-clock training minutes, drawn as a PNG.

    python benchmarks/train_learning_curve.py                       # the preset, validation every 40 iterations
    python benchmarks/train_learning_curve.py --iters 300 --val-every 30 --threads 2

Training runs as ``vipnas train synthpose_mbv3_supernet`` in a subprocess (``OMP_WAIT_POLICY=PASSIVE`` unless set:
on a shared CPU, spinning OpenMP threads made steps up to 30x slower); the x axis is the run's own training time
(data loading and steps; validation and checkpoints excluded), read from its ``metrics.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _machine import machine


def zero_prediction_loss(work_dir: Path) -> float:
    """Validation loss of a network that predicts all-zero heatmaps (where training starts from)."""
    import torch

    from vipnas.config import load_config
    from vipnas.engine.build import build_val_dataset, prepare_data
    from vipnas.engine.losses import keypoint_mse_loss
    from vipnas.models.metadata import ModelMetadata

    config = load_config(work_dir / "config.yaml")
    metadata = ModelMetadata(name="baseline", input_size=config.model.input_size)
    dataset, _ = build_val_dataset(config, metadata, prepare_data(config, is_main=False))
    losses = []
    for index in range(len(dataset)):
        sample = dataset[index]
        zeros = torch.zeros_like(sample.heatmaps)[None]
        losses.append(keypoint_mse_loss(zeros, sample.heatmaps[None], sample.target_weight[None]).item())
    return sum(losses) / len(losses)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="synthpose_mbv3_supernet")
    parser.add_argument("--iters", type=int, default=0, help="stop after this many iterations (0: the preset's epochs)")
    parser.add_argument("--val-every", type=int, default=40, help="validate every N iterations")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the training process")
    parser.add_argument("--work-dir", default="work_dirs/learning_curve")
    parser.add_argument("--plot", default="docs/images/train_learning_curve.png")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="extra vipnas train --set")
    parser.add_argument("--plot-only", action="store_true", help="re-draw from an existing work dir")
    args = parser.parse_args()

    import torch

    from vipnas.config import load_config

    work_dir = Path(args.work_dir)
    started = time.perf_counter()
    if not args.plot_only:
        overrides = [
            f"runtime.val_interval={args.val_every}",
            "runtime.val_by_epoch=False",
            "runtime.validate=True",
            f"runtime.threads={args.threads}",
            *args.overrides,
        ]
        if args.iters:
            overrides.append(f"schedule.max_iters={args.iters}")
        command = [sys.executable, "-m", "vipnas", "train", args.config, "--work-dir", str(work_dir)]
        command += [arg for item in overrides for arg in ("--set", item)]
        env = {"OMP_WAIT_POLICY": "PASSIVE", **os.environ, "OMP_NUM_THREADS": str(args.threads)}
        print("running:", " ".join(command), flush=True)
        subprocess.run(command, check=True, env=env)
    runtime = time.perf_counter() - started

    rows = [json.loads(line) for line in (work_dir / "metrics.jsonl").read_text().splitlines()]
    vals = [row for row in rows if row["type"] == "val"]
    summary = json.loads((work_dir / "summary.json").read_text())
    if not vals:
        raise SystemExit("no validation rows in metrics.jsonl")
    minutes = [row["train_time"] / 60 for row in vals]

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    baseline = zero_prediction_loss(work_dir)
    figure, (loss_axis, ap_axis) = plt.subplots(1, 2, figsize=(10, 4))
    loss_axis.axhline(baseline, color="gray", linestyle=":", label="all-zero heatmaps")
    for arch, style in (("largest", "-o"), ("smallest", "--s")):
        loss_axis.plot(minutes, [row[f"{arch}/loss"] for row in vals], style, label=f"{arch} sub-network")
        if f"{arch}/AP" in vals[0]:
            ap_axis.plot(minutes, [row[f"{arch}/AP"] for row in vals], style, label=f"{arch} sub-network")
    loss_axis.set(xlabel="training wall-clock (minutes)", ylabel="validation heatmap MSE", title="validation loss")
    ap_axis.set(xlabel="training wall-clock (minutes)", ylabel="COCO AP (SynthPose val, GT boxes)", title="AP")
    for axis in (loss_axis, ap_axis):
        axis.grid(alpha=0.3)
        axis.legend()
    trained = load_config(work_dir / "config.yaml").model
    figure.suptitle(
        f"{args.config} ({trained.name}, {trained.input_size[0]}x{trained.input_size[1]}): "
        f"{summary['iteration']} iterations, {os.cpu_count()} logical CPUs, "
        f"{args.threads} training threads",
        fontsize=10,
    )
    figure.tight_layout()
    Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.plot, dpi=110)

    print(f"machine: {machine()}")
    print(f"torch {torch.__version__}, training threads {args.threads}, load average {os.getloadavg()}")
    print(
        f"run: {summary['iteration']} iterations, training {summary['train_time_s'] / 60:.1f} min, "
        f"wall {summary['wall_time_s'] / 60:.1f} min (benchmark runtime {runtime / 60:.1f} min)"
    )
    print(f"validation loss of all-zero heatmaps: {baseline:.5f}")
    print("\n| iteration | training min | largest loss | smallest loss | largest AP | smallest AP |")
    print("|---:|---:|---:|---:|---:|---:|")
    for row, minute in zip(vals, minutes, strict=True):
        print(
            f"| {row['iteration']} | {minute:.1f} | {row['largest/loss']:.5f} | {row['smallest/loss']:.5f} | "
            f"{row.get('largest/AP', float('nan')):.3f} | {row.get('smallest/AP', float('nan')):.3f} |"
        )
    print(f"\nplot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
