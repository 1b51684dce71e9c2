"""Cost of one supernet sandwich step vs training the same four sub-networks as static networks on the same batch.

The sandwich step is the production one (``Trainer.run_step``: activate, frozen BN statistics for the non-largest
sub-networks, four forward/backward passes through elastic ops, one Adam step over the whole supernet). The
baseline extracts the same four archs as plain ``torch.nn`` networks and runs, for each, a forward pass, the same
loss (ground truth, plus the largest's heatmaps as soft labels for the others), a backward pass and an Adam step
over that network's own parameters; its time is the sum of the four. Target: ratio <= 1.25.

    python benchmarks/train_sandwich_cost.py                                   # MobileNetV3 supernet, 128x96, 16 crops
    python benchmarks/train_sandwich_cost.py --model resnet50_supernet --input-size 256 192 --batch-size 8

Each measured step is repeated after a warm-up (the first pass over a new shape pays one-off kernel set-up in both
paths); the median of the repeats is reported. ``OMP_WAIT_POLICY=PASSIVE`` is set (unless already set) before torch
loads: on a shared CPU, spinning OpenMP threads made steps up to 30x slower and the timings meaningless.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import torch
from _machine import machine


def static_steps(networks, optimizers, batch) -> float:
    """Train each static network one step on ``batch`` (the largest first: its heatmaps are the soft labels)."""
    from vipnas.engine.losses import distillation_loss, keypoint_mse_loss

    started = time.perf_counter()
    teacher = None
    for network, optimizer in zip(networks, optimizers, strict=True):
        optimizer.zero_grad(set_to_none=True)
        heatmaps = network(batch.image)
        loss = keypoint_mse_loss(heatmaps, batch.heatmaps, batch.target_weight)
        if teacher is not None:
            loss = loss + distillation_loss(heatmaps, teacher)
        loss.backward()
        optimizer.step()
        if teacher is None:
            teacher = heatmaps.detach()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model", default="mobilenetv3_supernet", choices=["mobilenetv3_supernet", "resnet50_supernet"]
    )
    parser.add_argument("--input-size", nargs=2, type=int, default=(128, 96), metavar=("H", "W"))
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4, help="sandwich draws (different random archs) to measure")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats of each draw after one warm-up")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()

    from vipnas.config import load_config
    from vipnas.data.synthpose.generate import generate
    from vipnas.engine.distributed import DistributedInfo
    from vipnas.engine.trainer import Trainer

    with tempfile.TemporaryDirectory(prefix="vipnas-bench-") as folder:
        generate(folder, images=12, seed=0, workers=1, progress=False)  # the trainer needs a dataset to exist
        overrides = [
            f"model.name={args.model}",
            f"model.input_size={tuple(args.input_size)}",
            f"data.root='{folder}'",
            "data.synthpose_images=12",
            "data.batch_size=2",
            "data.num_workers=0",
            "runtime.validate=False",
            "runtime.progress=False",
            "runtime.log_interval=1000000",
        ]
        config = load_config("synthpose_mbv3_supernet", overrides)
        single = DistributedInfo(rank=0, local_rank=0, world_size=1, device=torch.device("cpu"))
        trainer = Trainer(config, single, work_dir=Path(folder) / "run")
    supernet = trainer.model
    height, width = args.input_size
    generator = torch.Generator().manual_seed(0)
    batch = SimpleNamespace(  # fixed synthetic crops: the cost does not depend on pixel values
        image=torch.randn(args.batch_size, 3, height, width, generator=generator),
        heatmaps=torch.rand(args.batch_size, 17, height // 4, width // 4, generator=generator) * 0.1,
        target_weight=torch.ones(args.batch_size, 17),
    )

    print(f"machine: {machine()}")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}"
    )
    params = sum(p.numel() for p in supernet.parameters()) / 1e6
    print(
        f"{args.model} ({params:.2f}M parameters), input {height}x{width}, {args.batch_size} crops per step, "
        f"load average {os.getloadavg()}\n"
    )
    print("| step | sandwich s | static sum s | largest | smallest | random1 | random2 | ratio |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    totals = [0.0, 0.0]
    for step in range(args.steps):
        trainer.iteration = step
        archs = trainer.step_archs()
        networks = [supernet.extract_subnet(arch).train() for _, arch in archs]
        optimizers = [torch.optim.Adam(n.parameters(), lr=1e-3) for n in networks]
        trainer.run_step(batch)  # warm-up of both paths on this draw's shapes
        static_steps(networks, optimizers, batch)
        sandwich_times, static_times, parts = [], [], []
        for _ in range(args.repeats):
            trainer.iteration = step  # the same draw again
            tick = time.perf_counter()
            trainer.run_step(batch)
            sandwich_times.append(time.perf_counter() - tick)
            static_times.append(static_steps(networks, optimizers, batch))
            part = []
            for index in range(len(networks)):  # per-network split, for the table only
                part.append(static_steps(networks[index : index + 1], optimizers[index : index + 1], batch))
            parts.append(part)
        sandwich, static = statistics.median(sandwich_times), statistics.median(static_times)
        split = [statistics.median(p[i] for p in parts) for i in range(len(networks))]
        totals[0] += sandwich
        totals[1] += static
        cells = " | ".join(f"{s:.3f}" for s in split)
        print(f"| {step} | {sandwich:.3f} | {static:.3f} | {cells} | {sandwich / static:.3f} |", flush=True)
    print(f"\noverall ratio (sum of sandwich medians / sum of static medians): {totals[0] / totals[1]:.3f}")
    print(f"benchmark runtime: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
