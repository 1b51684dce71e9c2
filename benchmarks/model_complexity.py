"""Parameters, MACs (analytic and hook-counted) and CPU latency of the named models; analytic counting speed.

Run: python benchmarks/model_complexity.py [--threads 1 2] [--repeats 20] [--runtimes torch onnxruntime]
"""

from __future__ import annotations

import argparse
import random
import time

import torch
from _machine import footer, header

from vipnas.models.complexity import arch_complexity, measure_complexity
from vipnas.models.registry import ARCH_OF, create_model
from vipnas.nas.latency import make_runner, measure_latency
from vipnas.space import MOBILENETV3_SPACE, RESNET50_SPACE


def latency_ms(model: torch.nn.Module, threads: int, repeats: int, runtime: str) -> float:
    # deployment conditions: BN folded, default (not N(0, 0.001)) weights, subnormals flushed
    run = make_runner(model, (1, 3, 256, 192), runtime, threads)
    return measure_latency(run, repeats=repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--runtimes", nargs="+", default=["torch", "onnxruntime"], choices=["torch", "onnxruntime"])
    args = parser.parse_args()
    start = header("model complexity and CPU latency (batch 1, 3x256x192, fp32, BN folded, median ms)")
    columns = [(runtime, threads) for runtime in args.runtimes for threads in args.threads]
    print(
        f"{'model':16s} {'params':>12s} {'G MACs':>8s} {'hooks agree':>11s} "
        + " ".join(f"{runtime[:5]} {threads}t".rjust(10) for runtime, threads in columns)
    )
    for name, arch in ARCH_OF.items():
        model = create_model(name).eval()
        analytic = arch_complexity(arch)
        measured = measure_complexity(model)
        lat = [latency_ms(model, threads, args.repeats, runtime) for runtime, threads in columns]
        print(
            f"{name:16s} {analytic.params:12,d} {analytic.macs / 1e9:8.4f} {measured == analytic!s:>11s} "
            + " ".join(f"{v:10.1f}" for v in lat)
        )
    for space in (RESNET50_SPACE, MOBILENETV3_SPACE):
        rng = random.Random(0)
        archs = [space.sample(rng) for _ in range(10_000)]
        t0 = time.perf_counter()
        for arch in archs:
            arch_complexity(arch)
        elapsed = time.perf_counter() - t0
        print(
            f"analytic counting, {space.name} space: 10,000 archs in {elapsed:.2f} s ({10_000 / elapsed:,.0f} archs/s)"
        )
    footer(start)


if __name__ == "__main__":
    main()
