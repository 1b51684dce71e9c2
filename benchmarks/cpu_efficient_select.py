"""Latency-constrained selection in the CPU-efficient space with MACs as the accuracy proxy (no supernet, no data):
the archs with the most computation that still run within RTMPose-t's OpenVINO latency, timed whole.

    python benchmarks/cpu_efficient_select.py --rtmpose /tmp/rtmpose_onnx --precision int8 --out runs/cpu/select

``--draws`` archs are drawn uniformly from ``--space`` (seed ``--seed``); the ``--candidates`` with the most MACs at
``--input-size`` among those of at least ``--min-macs`` are converted as ``vipnas export`` deploys them (BN folded;
int8 by NNCF on random crops: speed only) and timed whole on OpenVINO with RTMPose-t in one interleaved run
(``--rounds`` × ``--runs`` calls). Written to ``--out``: ``candidates.json`` (every timed arch, its MACs and
latency) and ``selected_arch.json``, the arch with the most MACs whose median is at most ``--margin`` × RTMPose-t's.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from pathlib import Path

from _machine import footer, header
from _timing import interleaved_rounds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rtmpose", required=True, help="folder with rtmpose_t.onnx")
    parser.add_argument("--space", default="cpu_efficient")
    parser.add_argument("--precision", default="int8", choices=["fp32", "bf16", "int8"])
    parser.add_argument("--input-size", type=int, nargs=2, default=[256, 192])
    parser.add_argument("--draws", type=int, default=3000)
    parser.add_argument("--min-macs", type=float, default=0.5e9)
    parser.add_argument("--candidates", type=int, default=12)
    parser.add_argument("--margin", type=float, default=0.9, help="budget as a fraction of RTMPose-t's latency")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    start = header(f"{args.space}: most MACs within RTMPose-t on OpenVINO {args.precision} ({args.threads} thread(s))")

    import torch
    from tqdm import tqdm

    from vipnas.models.complexity import arch_complexity
    from vipnas.models.pose import build_static
    from vipnas.nas.latency import make_runner
    from vipnas.space import get_search_space

    sys.path.insert(0, str(Path(__file__).parent))
    from latency_aware_search import onnx_runner

    torch.set_num_threads(args.threads)
    size = tuple(args.input_size)
    space = get_search_space(args.space)
    rng = random.Random(args.seed)
    drawn = {}
    for _ in range(args.draws):
        arch = space.sample(rng)
        drawn[json.dumps(arch.to_dict(), sort_keys=True)] = arch
    sized = [(arch_complexity(a, input_size=size).macs, key, a) for key, a in drawn.items()]
    sized = sorted((s for s in sized if s[0] >= args.min_macs), key=lambda s: s[0])
    if not sized:
        raise SystemExit(f"--min-macs {args.min_macs:g}: none of {args.draws} draws reaches it")
    step = max(1, len(sized) // args.candidates)  # spread over the MACs range, largest last
    chosen = sized[::-1][::step][: args.candidates]
    print(f"{len(sized)} of {args.draws} draws have >= {args.min_macs / 1e9:.2f} G MACs; timing {len(chosen)}")
    out = Path(args.out)
    if (out / "candidates.json").exists():  # a finished selection: its arch may be in use
        raise SystemExit(f"--out {out}: holds a selection already (candidates.json); choose another folder")
    out.mkdir(parents=True, exist_ok=True)
    runners = {}
    for index, (_, _, arch) in enumerate(tqdm(chosen, desc="convert and compile", unit="arch")):
        runners[index] = make_runner(build_static(arch, input_size=size), (1, 3, *size), "openvino", args.threads,
                                     precision=args.precision)  # fmt: skip
    options = argparse.Namespace(threads=args.threads, runtime="openvino", precision=args.precision, out=out)
    runners["rtmpose_t"] = onnx_runner(Path(args.rtmpose) / "rtmpose_t.onnx", options)
    rounds = interleaved_rounds(runners, rounds=args.rounds, runs=args.runs)
    reference = statistics.median(rounds["rtmpose_t"])
    budget = args.margin * reference
    rows = []
    for index, (macs, _, arch) in enumerate(chosen):
        ms = statistics.median(rounds[index])
        rows.append({"arch": arch.to_dict(), "macs": macs, "ms": ms, "rounds_ms": rounds[index]})
        print(f"  {index:2d} {macs / 1e9:.3f} G MACs  {ms:6.2f} ms [{min(rounds[index]):.2f}-{max(rounds[index]):.2f}]"
              f"  {'within' if ms <= budget else ''}")  # fmt: skip
    print(f"RTMPose-t {reference:.2f} ms; budget {args.margin} x = {budget:.2f} ms")
    within = [row for row in rows if row["ms"] <= budget]
    report = {"precision": args.precision, "input_size": list(size), "rtmpose_t_ms": reference, "budget_ms": budget,
              "rtmpose_t_rounds_ms": rounds["rtmpose_t"], "candidates": rows}  # fmt: skip
    (out / "candidates.json").write_text(json.dumps(report, indent=1) + "\n")
    if not within:
        print("no candidate within the budget")
        footer(start)
        return 1
    best = max(within, key=lambda row: row["macs"])
    (out / "selected_arch.json").write_text(json.dumps(best["arch"], indent=1) + "\n")
    print(f"selected: {best['macs'] / 1e9:.3f} G MACs at {best['ms']:.2f} ms -> {out / 'selected_arch.json'}")
    footer(start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
