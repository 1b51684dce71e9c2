"""How well a latency lookup table predicts whole-network CPU latency (issue 6 target: median |error| <= 15%).

Builds the table for a search space (or loads it), then measures 20 random sub-networks (not the calibration
archs) as whole networks under the same conditions and compares.

Run: python benchmarks/latency_table_accuracy.py --space mobilenetv3 --runtime torch --threads 1
     python benchmarks/latency_table_accuracy.py --space mobilenetv3_tiny --input-size 128 96 --runtime openvino \
         --precision int8 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import time

from _machine import footer, header

from vipnas.nas.latency import LatencyTable, build_table, summarize, validate_table
from vipnas.space.spaces import get_search_space


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--space", default="mobilenetv3")
    parser.add_argument("--runtime", default="torch", choices=["torch", "onnxruntime", "openvino"])
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "int8"])
    parser.add_argument("--rounds", type=int, default=1, help="interleaved timing rounds per unit (noise estimate)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--input-size", nargs=2, type=int, default=[256, 192])
    parser.add_argument("--archs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--table", default=None, help="reuse (or resume) this table file")
    parser.add_argument("--json", default=None, help="also write the per-arch results here")
    args = parser.parse_args()
    start = header(
        f"latency table accuracy: {args.space}, {args.runtime}, {args.threads} thread(s), batch 1, "
        f"{args.input_size[0]}x{args.input_size[1]}, {args.precision}, {args.rounds} round(s)"
    )
    space = get_search_space(args.space)
    size = tuple(args.input_size)
    precision = "" if args.precision == "fp32" else f"_{args.precision}"
    path = args.table or f"latency/{space.name}_{args.runtime}{precision}_{args.threads}t_{size[0]}x{size[1]}.json"
    t0 = time.perf_counter()
    table = build_table(
        space, runtime=args.runtime, precision=args.precision, rounds=args.rounds, threads=args.threads,
        input_size=size, repeats=args.repeats, out=path,
    )  # fmt: skip
    built = time.perf_counter() - t0
    table = LatencyTable.load(path)
    print(
        f"table {path}: {len(table.entries)} units ({built:.0f} s to build/resume), "
        f"calibration scale {table.scale:.3f}, offset {table.offset_ms:.2f} ms"
        + (f", timing noise {100 * table.noise:.1f}% (median per-unit spread over rounds)" if table.noise else "")
    )
    checks = validate_table(table, space, count=args.archs, seed=12345, repeats=args.repeats)
    print(f"{'#':>3s} {'MACs G':>7s} {'unit sum ms':>12s} {'predicted':>10s} {'measured':>9s} {'error':>7s}")
    from vipnas.models.complexity import arch_complexity

    for index, check in enumerate(checks):
        macs = arch_complexity(check.arch, input_size=size).macs / 1e9
        print(
            f"{index:3d} {macs:7.3f} {table.unit_sum(check.arch):12.2f} {check.predicted_ms:10.2f} "
            f"{check.measured_ms:9.2f} {100 * check.error:6.1f}%"
        )
    summary = summarize(checks)
    print(
        f"median |error| {100 * summary['median_abs_error']:.1f}% "
        f"| mean |error| {100 * summary['mean_abs_error']:.1f}% "
        f"| max |error| {100 * summary['max_abs_error']:.1f}% | mean signed {100 * summary['mean_signed_error']:+.1f}% "
        f"over {summary['archs']} random archs"
    )
    if args.json:
        with open(args.json, "w") as stream:
            json.dump(
                {
                    "summary": summary,
                    "table": {
                        "runtime": table.runtime,
                        "precision": table.precision,
                        "rounds": table.rounds,
                        "threads": table.threads,
                        "noise": table.noise,
                        "units": len(table.entries),
                        "scale": table.scale,
                        "offset_ms": table.offset_ms,
                    },
                    "machine": table.machine,
                    "checks": [
                        {"arch": c.arch.to_dict(), "predicted_ms": c.predicted_ms, "measured_ms": c.measured_ms}
                        for c in checks
                    ],
                },
                stream,
                indent=1,
            )
    footer(start)


if __name__ == "__main__":
    main()
