"""``vipnas latency-table``: measure a per-unit latency lookup table on this machine and check its predictions."""

from __future__ import annotations

import argparse
import json

from vipnas.commands import positive_int

HELP = "build a latency lookup table for a search space on this machine (torch, onnxruntime, openvino; fp32/bf16/int8)"
EXAMPLES = [
    "vipnas latency-table --space mobilenetv3 --runtime onnxruntime --out latency/mbv3_ort.json --validate 20",
    "vipnas latency-table --space resnet50 --runtime torch --threads 1 --input-size 256 192",
    "vipnas latency-table --space mobilenetv3_tiny --input-size 64 64 --repeats 3 --validate 5 --json",
    "vipnas latency-table --space mobilenetv3_tiny --input-size 128 96 --runtime openvino --precision int8 --rounds 3",
    "vipnas latency-table --space hrnet_w32 --count   # how many units the HRNet-W32 space has (1100), nothing timed",
    "vipnas latency-table --space hrnet_w32_tiny --runtime onnxruntime --input-size 64 64 --validate 12",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--space",
        default="mobilenetv3",
        help="search space name (resnet50, mobilenetv3, cpu_efficient, hrnet_w32, ...)",
    )
    parser.add_argument("--runtime", default="torch", choices=["torch", "onnxruntime", "openvino"])
    parser.add_argument(
        "--precision", default="fp32", choices=["fp32", "bf16", "int8"], help="onnxruntime: fp32, int8; openvino: all"
    )
    parser.add_argument("--rounds", type=positive_int, default=1, help="interleaved timing rounds (noise estimate)")
    parser.add_argument("--threads", type=positive_int, default=1, help="intra-op threads (default 1, as the paper)")
    parser.add_argument("--input-size", nargs=2, type=int, default=[256, 192], metavar=("H", "W"))
    parser.add_argument("--num-joints", type=positive_int, default=17)
    parser.add_argument("--repeats", type=positive_int, default=15, help="timed runs per unit (median is kept)")
    parser.add_argument(
        "--out", default=None, help="table JSON (default latency/<space>_<runtime>_<threads>t_<H>x<W>.json)"
    )
    parser.add_argument("--validate", type=int, default=20, metavar="N", help="measure N random archs (0: skip)")
    parser.add_argument(
        "--fusion", action="store_true", help="also time the temporal fusion modules (for T-ViPNet latency budgets)"
    )
    parser.add_argument(
        "--count", action="store_true", help="print how many distinct units the space has at this input size and exit"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def run(args: argparse.Namespace) -> int:
    from vipnas.commands import writable_file
    from vipnas.models.pose import check_input_size
    from vipnas.nas.latency import build_table, check_runtime, space_units, summarize, validate_table
    from vipnas.space.blocks import space_fusion_blocks
    from vipnas.space.hrnet import HRNetSearchSpace
    from vipnas.space.spaces import get_search_space

    space = get_search_space(args.space)
    size = check_input_size(tuple(args.input_size))
    if args.fusion and isinstance(space, HRNetSearchSpace):
        raise ValueError(f"--fusion: the temporal search covers ResNet and MobileNetV3 spaces, not {space.name}")
    if args.count:
        units = space_units(space, num_joints=args.num_joints, input_size=size)
        fusion = space_fusion_blocks(space, num_joints=args.num_joints, input_size=size) if args.fusion else []
        kinds: dict[str, int] = {}
        for unit in [*units, *fusion]:
            kinds[unit.kind] = kinds.get(unit.kind, 0) + 1
        if args.json:
            print(json.dumps({"space": space.name, "input_size": list(size), "units": len(units) + len(fusion),
                              "kinds": kinds}))  # fmt: skip
        else:
            detail = ", ".join(f"{count} {kind}" for kind, count in kinds.items())
            print(f"{space.name} at {size[0]}x{size[1]}: {len(units) + len(fusion)} units ({detail})")
        return 0
    check_runtime(args.runtime, args.precision)  # before anything is timed
    precision = "" if args.precision == "fp32" else f"_{args.precision}"
    out = args.out or f"latency/{space.name}_{args.runtime}{precision}_{args.threads}t_{size[0]}x{size[1]}.json"
    writable_file(out)
    table = build_table(
        space,
        runtime=args.runtime,
        precision=args.precision,
        rounds=args.rounds,
        threads=args.threads,
        input_size=size,
        num_joints=args.num_joints,
        repeats=args.repeats,
        out=out,
        fusion=args.fusion,
    )
    summary: dict = {"table": out, "units": len(table.entries), "runtime": table.runtime, "threads": table.threads,
                     "precision": table.precision, "noise": table.noise}  # fmt: skip
    summary["machine"] = table.machine["cpu"]
    if args.validate > 0:
        checks = validate_table(table, space, count=args.validate, repeats=args.repeats)
        summary.update(summarize(checks))
    if args.json:
        print(json.dumps(summary))
        return 0
    print(
        f"wrote {out}: {len(table.entries)} units, {table.runtime} {table.precision}, {table.threads} thread(s), "
        f"{table.machine['cpu']}"
        + (f"; timing noise (median per-unit spread over {table.rounds} rounds) {100 * table.noise:.1f}%"
           if table.noise is not None else "")
    )  # fmt: skip
    if args.validate > 0:
        print(f"{'arch':>4s} {'predicted ms':>13s} {'measured ms':>12s} {'error':>7s}")
        for index, check in enumerate(checks):
            print(f"{index:4d} {check.predicted_ms:13.2f} {check.measured_ms:12.2f} {100 * check.error:6.1f}%")
        median, mean = 100 * summary["median_abs_error"], 100 * summary["mean_abs_error"]
        print(
            f"median |error| {median:.1f}%, mean |error| {mean:.1f}%, max {100 * summary['max_abs_error']:.1f}% "
            f"over {summary['archs']} random archs"
        )
    return 0
