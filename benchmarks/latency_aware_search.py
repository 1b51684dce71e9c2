"""Latency-aware search on the deployment runtime (issue 15 part 5): each supernet searched under a latency budget
measured whole on OpenVINO (or ONNX Runtime), and AP against measured latency for every space in one figure.

    python benchmarks/pretrain_supernet.py --supernet cpu_efficient_tiny_supernet --iters 2000 --no-install \\
        --threads 1 --out runs/cpu/supernet-cpu
    python benchmarks/pretrain_supernet.py --iters 2000 --no-install --threads 1 --out runs/cpu/supernet-mbv3
    python benchmarks/latency_aware_search.py \\
        --supernets runs/cpu/supernet-cpu/checkpoints/last.pth,runs/cpu/supernet-mbv3/checkpoints/last.pth \\
        --runtime openvino --precision bf16 --budget-ms 1.2 --candidates 40 --out runs/cpu/latency-search

For each supernet (trained by the demo's recipe, ``vipnas.demo.supernet_config``, on the same SynthPose data):
a random search of ``--candidates`` archs under ``--budget-ms`` (each candidate converted as ``vipnas export``
deploys it and timed whole at batch 1, :class:`vipnas.nas.measured.MeasuredLatency`; AP on the validation split
with BN recalibrated, as ``vipnas search``). Then, so that the figures compare within one run, the Pareto-front
archs of every space (and ``--rtmpose`` ONNX files, if given, at their own input size) are timed again in
``--rounds`` interleaved rounds, and evaluated on the test split, which the search never read. Prints a table and
writes ``latency_aware_search.json`` and ``ap_vs_latency.png`` (validation AP of every candidate against its
search-time latency, the fronts re-timed) to ``--out``. Stores and latency caches are resumable and carry their
provenance (a rerun with other settings is refused).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

from _machine import footer, header
from _timing import interleaved_rounds


def search_space_of(checkpoint: Path, args: argparse.Namespace, out: Path) -> dict:
    """Search one supernet; returns its candidates, front and evaluators."""
    import vipnas
    from vipnas.demo import FULL, demo_evaluators, supernet_config
    from vipnas.nas.budget import Budget
    from vipnas.nas.measured import MeasuredLatency
    from vipnas.nas.report import pareto_front
    from vipnas.nas.search import ResultStore, random_search, search_provenance

    supernet = vipnas.load_model(checkpoint)
    name = supernet.space.name
    settings = replace(FULL, supernet=supernet.metadata.name, pretrained=False, seed=args.seed)
    search, test, _ = demo_evaluators(supernet_config(settings), supernet, settings)
    folder = out / name
    measured = MeasuredLatency(
        args.runtime, args.precision, threads=args.threads, input_size=supernet.metadata.input_size,
        num_joints=supernet.metadata.num_joints, space=name, cache=folder / "measured_latency.json",
    )  # fmt: skip
    budget = Budget(
        max_latency_ms=args.budget_ms, latency_table=measured, input_size=supernet.metadata.input_size,
        num_joints=supernet.metadata.num_joints,
    )  # fmt: skip
    store = ResultStore(folder / "store.json", provenance=search_provenance(checkpoint, supernet.space, budget,
                                                                            search.provenance()))  # fmt: skip
    began = time.perf_counter()
    result = random_search(supernet.space, search, budget, num_candidates=args.candidates, seed=args.seed, store=store)
    front = pareto_front(result.candidates, "latency_ms")
    seconds = time.perf_counter() - began
    print(f"{name}: {len(result.candidates)} candidates under {budget.describe()} in {seconds:.0f} s")
    return {"name": name, "supernet": supernet, "candidates": result.candidates, "front": front, "test": test}


def retime(networks: dict, args: argparse.Namespace) -> dict:
    """Median ms per network over ``--rounds`` interleaved rounds (each round ``--runs`` calls per network)."""
    from tqdm import tqdm

    from vipnas.nas.latency import make_runner

    runners = {}
    for key, network in tqdm(networks.items(), desc="convert and compile", unit="network"):
        if isinstance(network, Path):  # an ONNX file (RTMPose): OpenVINO or ONNX Runtime as the table's runtime
            runners[key] = onnx_runner(network, args)
        else:
            size = tuple(network.metadata.input_size)
            runners[key] = make_runner(network, (1, 3, *size), args.runtime, args.threads, precision=args.precision)
    rounds = interleaved_rounds(runners, rounds=args.rounds, runs=args.runs)
    return {key: {"median_ms": statistics.median(values), "rounds_ms": values} for key, values in rounds.items()}


def onnx_runner(path: Path, args: argparse.Namespace):
    import numpy as np

    from vipnas.models.sessions import onnxruntime_session

    if args.runtime == "onnxruntime" and args.precision != "fp32":
        raise SystemExit(f"{path.name}: ONNX references are timed at fp32 on ONNX Runtime, not {args.precision}")
    import onnx

    graph_input = onnx.load(str(path), load_external_data=False).graph.input[0]
    shape = [d.dim_value or 1 for d in graph_input.type.tensor_type.shape.dim]  # a dynamic axis (batch) -> 1
    feed = {graph_input.name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
    if args.runtime == "openvino":
        from vipnas.models.export import convert_openvino
        from vipnas.models.sessions import compile_openvino

        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]  # the conversion is reused only for this file
        folder = Path(args.out) / "rtmpose" / f"{path.stem}-{digest}"
        folder.mkdir(parents=True, exist_ok=True)
        xml = folder / f"{args.precision}.xml"
        if not xml.is_file():
            convert_openvino(path, xml, "int8" if args.precision == "int8" else "fp32", [feed] * 8)
        compiled = compile_openvino(xml, args.threads, "bf16" if args.precision == "bf16" else "f32")
        request = compiled.create_infer_request()
        openvino_feed = {"image": next(iter(feed.values()))}
        return lambda: request.infer(openvino_feed)
    session = onnxruntime_session(path, args.threads)
    return lambda: session.run(None, feed)


def plot(spaces: list[dict], timed: dict, references: dict, path: Path, args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(7, 4.5), dpi=130)
    for space, color in zip(spaces, ["tab:green", "tab:blue", "tab:orange", "tab:red"], strict=False):
        points = [(c.latency_ms, c.metrics["AP"]) for c in space["candidates"]]
        ax.scatter(*zip(*points, strict=True), s=12, alpha=0.35, color=color, label=f"{space['name']} candidates")
        front = [(timed[(space["name"], c.arch.to_json())]["median_ms"], c.metrics["AP"]) for c in space["front"]]
        front.sort()
        ax.plot(*zip(*front, strict=True), "-o", color=color, markersize=4, label=f"{space['name']} front (re-timed)")
    for name, value in references.items():
        ax.axvline(value, color="gray", linestyle="--", linewidth=1)
        ax.annotate(name, (value, ax.get_ylim()[1]), rotation=90, va="top", ha="right", fontsize=7, color="gray")
    if args.budget_ms:
        ax.axvline(args.budget_ms, color="black", linewidth=0.8)
    ax.set_xlabel(f"measured latency, ms ({args.runtime} {args.precision}, {args.threads} thread, batch 1)")
    ax.set_ylabel("SynthPose val AP (supernet, BN recalibrated)")
    ax.set_title("AP vs measured latency per search space", fontsize=10)
    ax.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--supernets", required=True, help="comma list of supernet checkpoints")
    parser.add_argument("--runtime", default="openvino", choices=["openvino", "onnxruntime"])
    parser.add_argument("--precision", default="bf16")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--budget-ms", type=float, default=None, help="latency budget of the searches")
    parser.add_argument("--candidates", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=30, help="timed calls per network and round")
    parser.add_argument("--rtmpose", default=None, help="folder of ONNX speed references (rtmpose_*.onnx)")
    parser.add_argument("--out", default="runs/latency-search")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    start = header(f"latency-aware search on {args.runtime} {args.precision}, {args.threads} thread(s)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    spaces = [search_space_of(Path(path), args, out) for path in args.supernets.split(",") if path]

    networks: dict = {}
    for space in spaces:
        for candidate in space["front"]:
            networks[(space["name"], candidate.arch.to_json())] = space["supernet"].extract_subnet(candidate.arch)
    references = {}
    if args.rtmpose:
        for file in sorted(Path(args.rtmpose).glob("*.onnx")):
            networks[("reference", file.stem)] = file
    timed = retime(networks, args)
    for key, value in timed.items():
        if key[0] == "reference":
            references[key[1]] = value["median_ms"]

    report = {"runtime": args.runtime, "precision": args.precision, "threads": args.threads,
              "budget_ms": args.budget_ms, "references_ms": references, "spaces": []}  # fmt: skip
    print(f"\nPareto fronts (val AP vs search-time latency), re-timed in {args.rounds} interleaved rounds; test AP")
    print(f"{'space':20s} {'G MACs':>8s} {'search ms':>10s} {'re-timed ms':>12s} {'[min-max]':>14s} {'val AP':>7s} "
          f"{'test AP':>8s}")  # fmt: skip
    for space in spaces:
        rows = []
        for candidate in space["front"]:
            entry = timed[(space["name"], candidate.arch.to_json())]
            test_ap = space["test"](candidate.arch)["AP"]
            low, high = min(entry["rounds_ms"]), max(entry["rounds_ms"])
            print(f"{space['name']:20s} {candidate.macs / 1e9:8.4f} {candidate.latency_ms:10.3f} "
                  f"{entry['median_ms']:12.3f} {f'[{low:.3f}-{high:.3f}]':>14s} {candidate.metrics['AP']:7.4f} "
                  f"{test_ap:8.4f}")  # fmt: skip
            rows.append({"arch": candidate.arch.to_dict(), "macs": candidate.macs, "search_ms": candidate.latency_ms,
                         "retimed_ms": entry["median_ms"], "rounds_ms": entry["rounds_ms"],
                         "val_AP": candidate.metrics["AP"], "test_AP": test_ap})  # fmt: skip
        report["spaces"].append({
            "space": space["name"],
            "candidates": [{"macs": c.macs, "latency_ms": c.latency_ms, "val_AP": c.metrics["AP"]}
                           for c in space["candidates"]],
            "front": rows,
        })  # fmt: skip
    for name, value in references.items():
        print(f"reference {name}: {value:.3f} ms (re-timed in the same rounds)")
    plot(spaces, timed, references, out / "ap_vs_latency.png", args)
    (out / "latency_aware_search.json").write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out / 'latency_aware_search.json'} and {out / 'ap_vs_latency.png'}")
    footer(start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
