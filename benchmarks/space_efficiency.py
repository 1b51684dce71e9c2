"""How close to the CPU's peak each search space runs on the deployment runtimes (issue 15 part 4): random archs of
every space, converted as ``vipnas export`` deploys them and timed whole in one interleaved run, beside RTMPose.

    python benchmarks/space_efficiency.py --spaces mobilenetv3,cpu_efficient,resnet50 --archs 10 \\
        --precisions fp32,bf16,int8 --rtmpose /tmp/rtmpose_onnx

For each space, ``--archs`` archs are drawn uniformly (seed ``--seed``) and built at ``--input-size``; each is
converted to every ``--precisions`` path of ``--runtime`` (int8: NNCF / static QDQ calibrated on random crops —
speed, not accuracy; weights are PyTorch's default init, so no subnormals), then every (network, precision) is
timed ``--runs`` calls per round over ``--rounds`` rounds in a shuffled order, and the median kept. Printed per
space and precision: the median throughput in G MAC/s over its archs (MACs / latency; min–max beside it), and how
many of its archs run within RTMPose-t's latency with the most MACs among them. A space whose networks reach more
MACs per millisecond can spend more computation (accuracy) within a latency budget.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from pathlib import Path

from _machine import footer, header
from _timing import interleaved_rounds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spaces", default="mobilenetv3,cpu_efficient")
    parser.add_argument("--archs", type=int, default=10)
    parser.add_argument("--runtime", default="openvino", choices=["openvino", "onnxruntime"])
    parser.add_argument("--precisions", default="bf16,int8")
    parser.add_argument("--input-size", type=int, nargs=2, default=[256, 192])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rtmpose", default=None, help="folder with rtmpose_t.onnx / rtmpose_s.onnx")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import torch
    from tqdm import tqdm

    from vipnas.models.complexity import arch_complexity
    from vipnas.models.pose import build_static
    from vipnas.nas.latency import make_runner
    from vipnas.space import get_search_space

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    start = header(f"search-space efficiency on {args.runtime}, {args.threads} thread(s), {tuple(args.input_size)}")
    size = tuple(args.input_size)
    precisions = args.precisions.split(",")
    archs = {}
    for name in args.spaces.split(","):
        space = get_search_space(name)
        rng = random.Random(args.seed)
        for index in range(args.archs):
            archs[(space.name, index)] = space.sample(rng)
    runners, macs = {}, {}
    for key, arch in tqdm(archs.items(), desc="convert and compile", unit="arch"):
        network = build_static(arch, input_size=size)
        macs[key] = arch_complexity(arch, input_size=size).macs
        for precision in precisions:
            runners[(*key, precision)] = make_runner(
                network, (1, 3, *size), args.runtime, args.threads, precision=precision
            )
    if args.rtmpose:
        import sys

        sys.path.insert(0, str(Path(__file__).parent))
        from latency_aware_search import onnx_runner

        for precision in precisions:
            for file in sorted(Path(args.rtmpose).glob("rtmpose_*.onnx")):
                options = argparse.Namespace(threads=args.threads, runtime=args.runtime, precision=precision,
                                             out=Path(args.json or "runs/space-efficiency").parent)  # fmt: skip
                runners[("reference", file.stem, precision)] = onnx_runner(file, options)
    rounds = interleaved_rounds(runners, rounds=args.rounds, runs=args.runs)
    latency = {key: statistics.median(values) for key, values in rounds.items()}
    report = {"runtime": args.runtime, "threads": args.threads, "input_size": list(size), "rows": []}
    for precision in precisions:
        reference = latency.get(("reference", "rtmpose_t", precision))
        line = f" (RTMPose-t {reference:.2f} ms)" if reference else ""
        print(f"\n{args.runtime} {precision}{line}: G MAC/s per arch, median [min-max]; archs within RTMPose-t")
        for name in dict.fromkeys(key[0] for key in archs):
            keys = [key for key in archs if key[0] == name]
            rates = [macs[k] / 1e6 / latency[(*k, precision)] for k in keys]  # MACs per ms / 1e6 = G MAC/s
            within = [k for k in keys if reference and latency[(*k, precision)] <= reference]
            best = max((macs[k] for k in within), default=0)
            print(
                f"  {name:16s} {statistics.median(rates):7.1f} [{min(rates):.1f}-{max(rates):.1f}]  "
                f"{len(within)}/{len(keys)} within, most {best / 1e9:.3f} G MACs"
            )
            report["rows"].append({
                "space": name, "precision": precision, "reference_ms": reference,
                "archs": [{"arch": archs[k].to_dict(), "macs": macs[k], "ms": latency[(*k, precision)],
                           "rounds_ms": rounds[(*k, precision)]} for k in keys],
            })  # fmt: skip
        for key in (k for k in latency if k[0] == "reference" and k[2] == precision):
            print(f"  {key[1]:16s} {latency[key]:.2f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    footer(start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
