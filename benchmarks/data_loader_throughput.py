"""Top-down loader throughput (samples/s) against what a training step consumes, on this machine's CPUs.

Builds a small SynthPose set, then times the full training pipeline (read JPEG, sampled affine with flip,
half-body, scale and rotation, MSRA targets, normalisation, collate) with 0, 1 and 2 loader workers at the
paper's 256×192 input and at the smaller 128×96 SynthPose preset. For comparison it times one training step
(forward + MSE + backward) of the lightest registered model at the same size, when ``vipnas.models`` is there.

    python benchmarks/data_loader_throughput.py
    python benchmarks/data_loader_throughput.py --batches 10 --workers 0 2
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
from _machine import footer, header  # benchmarks/ is on sys.path when a script there runs

from vipnas.codec import MSRAHeatmap
from vipnas.data import synthpose
from vipnas.data.augment import AugmentConfig
from vipnas.data.dataset import TopDownDataset, build_loader

SIZES = ((192, 256), (96, 128))  # (width, height)


def loader_rate(annotations, size: tuple[int, int], workers: int, batch: int, batches: int) -> float:
    codec = MSRAHeatmap(input_size=size, heatmap_size=(size[0] // 4, size[1] // 4))
    dataset = TopDownDataset(annotations, input_size=size, codec=codec, augment=AugmentConfig(), seed=0)
    loader = build_loader(
        dataset, batch_size=batch, shuffle=True, num_workers=workers, drop_last=True, persistent_workers=True
    )

    def forever():
        while True:
            yield from loader

    iterator = forever()
    next(iterator)  # worker start-up and first batch are not steady state
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batch * batches / (time.perf_counter() - start)


def training_rate(size: tuple[int, int], batch: int, steps: int) -> tuple[str, float] | None:
    try:
        from vipnas.models import create_model
    except ImportError:
        return None
    name = "s_vipnas_mbv3"
    torch.set_flush_denormal(True)  # σ=0.001 initial weights make denormal activations, which are very slow on CPU
    model = create_model(name, input_size=(size[1], size[0]))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    images = torch.randn(batch, 3, size[1], size[0])

    def step() -> None:
        output = model(images)
        loss = torch.nn.functional.mse_loss(output, torch.zeros_like(output))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return name, batch * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=120, help="SynthPose images to generate (train split)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--batches", type=int, default=20, help="timed batches per setting")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=0, help="timed training steps after one warm-up (0: skip)")
    parser.add_argument("--train-batch", type=int, default=16, help="batch of the timed training step")
    args = parser.parse_args()
    start = header("data loader throughput")
    print("load average (1, 5, 15 min): " + ", ".join(f"{value:.1f}" for value in os.getloadavg()))
    with tempfile.TemporaryDirectory() as folder:
        synthpose.generate(folder, images=args.images, seed=0, progress=False, val_fraction=0.0)
        annotations = synthpose.load(Path(folder), "train")
        print(f"SynthPose: {len(annotations.images)} images, {len(annotations)} persons; batch {args.batch}")
        for size in SIZES:
            rates = [f"{workers} workers {loader_rate(annotations, size, workers, args.batch, args.batches):6.0f}"
                     for workers in args.workers]  # fmt: skip
            print(f"{size[1]}x{size[0]} loader samples/s: " + " | ".join(rates))
            trained = training_rate(size, args.train_batch, args.steps) if args.steps else None
            if trained is not None:
                print(f"{size[1]}x{size[0]} training step of {trained[0]} consumes {trained[1]:.1f} samples/s")
    footer(start)


if __name__ == "__main__":
    main()
