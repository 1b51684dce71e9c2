"""How many candidates per minute the search evaluates on this machine at the demo's settings.

Needs a supernet checkpoint written by `vipnas train` (default: the one `vipnas demo` leaves in runs/demo). Each
candidate: extract the sub-network, recalibrate BN on the cached training crops, flip-test inference on the cached
validation crops, COCO AP.

Run: python benchmarks/search_throughput.py [--checkpoint runs/demo/supernet/checkpoints/last.pth] [--candidates 30]
"""

from __future__ import annotations

import argparse
import random
import time

from _machine import footer, header

from vipnas.demo import FULL
from vipnas.models.complexity import arch_complexity
from vipnas.nas.budget import Budget, sample_under_budget
from vipnas.nas.evaluate import SupernetEvaluator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", default="runs/demo/supernet/checkpoints/last.pth")
    parser.add_argument("--candidates", type=int, default=30)
    args = parser.parse_args()
    start = header("search throughput at the demo's settings")
    t0 = time.perf_counter()
    evaluator = SupernetEvaluator.from_checkpoint(
        args.checkpoint, calibration_images=FULL.calibration_images, val_limit=FULL.val_limit
    )
    setup = time.perf_counter() - t0
    space, size = evaluator.supernet.space, evaluator.supernet.metadata.input_size
    low, high = (arch_complexity(a, input_size=size).macs for a in (space.smallest(), space.largest()))
    budget = Budget(max_macs=low + FULL.budget_fraction * (high - low), input_size=size)
    rng = random.Random(0)
    archs = [sample_under_budget(space, rng, budget) for _ in range(args.candidates)]
    crops = sum(len(batch.image) for batch in evaluator.val_batches)
    calibration = sum(len(batch) for batch in evaluator.calibration_batches)
    print(
        f"space {space.name}, input {size[0]}x{size[1]}, {budget.describe()}, {calibration} calibration crops, "
        f"{crops} validation crops (flip test); setup {setup:.1f} s"
    )
    t0 = time.perf_counter()
    for arch in archs:
        evaluator(arch)
    elapsed = time.perf_counter() - t0
    print(
        f"{args.candidates} candidates in {elapsed:.1f} s: {elapsed / args.candidates:.2f} s per candidate, "
        f"{60 * args.candidates / elapsed:.1f} candidates per minute"
    )
    footer(start)


if __name__ == "__main__":
    main()
