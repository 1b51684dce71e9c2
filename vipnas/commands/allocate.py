"""``vipnas allocate``: search the T-ViPNet of every non-key frame of a trained temporal supernet under a budget
(ViPNAS §3.3, eq. 3: automatic computation allocation)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from vipnas.commands import positive_float, positive_int, quantity

HELP = "search a temporal supernet: the T-ViPNet of each non-key frame under a per-frame MACs/latency budget"
EXAMPLES = [
    "vipnas allocate work_dirs/synthpose_temporal_mbv3_tiny/checkpoints/last.pth --budget-macs 7M --out runs/allocate",
    "vipnas allocate last.pth --length 2 --budget-macs 7M --out runs/allocate-t2   # T=2, supernet trained at T=3",
    "vipnas allocate last.pth --strategy evolution --population 20 --generations 5 --budget-macs 7M",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="temporal supernet checkpoint written by vipnas train (temporal.key set)")
    parser.add_argument("--length", type=positive_int, default=None, help="T non-key frames (default: the trained T)")
    from vipnas.commands.search import add_strategy_arguments

    add_strategy_arguments(parser, candidates=100, population=20, generations=5, parents=5, mutations=10,
                           crossovers=10, mutation_probability=0.2)  # fmt: skip
    parser.add_argument("--budget-macs", type=quantity, default=None, help="MACs per frame, averaged over T+1 frames")
    parser.add_argument("--budget-params", type=quantity, default=None, help="parameters of all T+1 networks")
    parser.add_argument("--budget-latency", type=positive_float, default=None, help="ms per frame (--latency-table)")
    parser.add_argument("--latency-table", default=None, help="table from vipnas latency-table --fusion")
    parser.add_argument("--objective", default="Total", help="Total (mAP over non-key frames) or Total_all")
    parser.add_argument("--calibration-clips", type=positive_int, default=32, help="training clips for BN")
    parser.add_argument("--val-limit", type=positive_int, default=None, help="first N validation clips")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/allocate", help="output folder (resumes its store when it matches)")


def run(args: argparse.Namespace) -> int:
    from vipnas.commands import writable_folder
    from vipnas.commands.search import main_rank_first, run_strategy
    from vipnas.engine.distributed import destroy_distributed, init_distributed
    from vipnas.nas.latency import LatencyTable
    from vipnas.nas.temporal import TemporalBudget, evaluator_from_checkpoint, plot_allocation

    writable_folder(args.out)
    info = init_distributed("cpu")
    logging.basicConfig(level=logging.INFO if info.is_main else logging.WARNING, format="%(message)s")
    try:
        evaluator = main_rank_first(
            info,
            lambda: evaluator_from_checkpoint(
                args.checkpoint, length=args.length, calibration_clips=args.calibration_clips,
                val_limit=args.val_limit, is_main=info.is_main,
            ),
        )  # fmt: skip
        supernet = evaluator.supernet
        table = LatencyTable.load(args.latency_table) if args.latency_table else None
        budget = TemporalBudget(
            max_macs=args.budget_macs, max_params=args.budget_params, max_latency_ms=args.budget_latency,
            latency_table=table, input_size=supernet.metadata.input_size, num_joints=supernet.metadata.num_joints,
        )  # fmt: skip
        out = Path(args.out)
        space = supernet.space
        result = run_strategy(args, space, evaluator, budget, is_main=info.is_main)
        if info.is_main:
            from vipnas.data.files import write_json_atomic

            best = result.best
            cost = budget.cost(best.arch)
            summary = {
                "strategy": result.strategy, "objective": args.objective, "budget": budget.describe(),
                "length": space.length, "best": best.to_dict(), "frame_macs": list(cost.frame_macs),
                "candidates": [c.to_dict() for c in result.candidates],
            }  # fmt: skip
            write_json_atomic(out / "candidates.json", summary)
            write_json_atomic(out / "best_temporal_arch.json", best.arch.to_dict())
            figure = plot_allocation(best.arch, cost.frame_macs, out / "allocation.png")
            print(f"{result.strategy} allocation under {budget.describe()}: {len(result.candidates)} candidates")
            print(
                f"best {args.objective} {best.score(args.objective):.2f} (all frames "
                f"{best.metrics.get('Total_all', float('nan')):.2f}) at {cost.macs / 1e9:.4f} G MACs per frame"
            )
            print(best.arch.describe())
            print(
                "outputs: "
                + ", ".join(str(p) for p in (out / "candidates.json", out / "best_temporal_arch.json", figure))
            )
    finally:
        destroy_distributed()
    return 0
