"""``vipnas search``: search a trained supernet under a MACs / parameter / latency budget."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from vipnas.commands import positive_float, positive_int, quantity

T = TypeVar("T")

HELP = "search a trained supernet: random search (the paper's) or evolution, under a MACs/params/latency budget"
EXAMPLES = [
    "vipnas search runs/supernet/last.pth --budget-macs 0.5G --out runs/search",
    "vipnas search runs/supernet/last.pth --strategy evolution --population 50 --generations 10 --budget-macs 0.5G",
    "vipnas search runs/supernet/last.pth --latency-table latency/mbv3_ort.json --budget-latency 30",
    "vipnas search runs/supernet/last.pth --measure-latency openvino:bf16 --budget-latency 3.6 --budget-macs 0.6G",
    "vipnas search runs/supernet/last.pth --measure-latency openvino:bf16 --latency-input-size 256 192 "
    "--budget-latency 3.6",
    "torchrun --nproc-per-node 2 -m vipnas search runs/supernet/last.pth --budget-macs 0.5G   # candidates split",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="supernet checkpoint written by vipnas train")
    add_strategy_arguments(parser, candidates=500, population=50, generations=10, parents=10, mutations=25,
                           crossovers=25, mutation_probability=0.1)  # fmt: skip
    parser.add_argument("--budget-macs", type=quantity, default=None, help="e.g. 0.5G (at the supernet's input size)")
    parser.add_argument("--budget-params", type=quantity, default=None, help="e.g. 3M")
    parser.add_argument(
        "--budget-latency", type=positive_float, default=None, help="milliseconds, predicted by --latency-table"
    )
    latency = parser.add_mutually_exclusive_group()
    latency.add_argument(
        "--latency-table", default=None, help="table from vipnas latency-table (adds latency to outputs)"
    )
    latency.add_argument(
        "--measure-latency",
        default=None,
        metavar="RUNTIME[:PRECISION]",
        help="time every candidate whole on this machine instead of predicting it, e.g. openvino:bf16, "
        "openvino:int8, onnxruntime:fp32 (for the runtimes whose tables do not predict whole networks; "
        "cached with its conditions in --latency-cache)",
    )
    parser.add_argument("--latency-threads", type=positive_int, default=1, help="threads of --measure-latency")
    parser.add_argument(
        "--latency-input-size",
        nargs=2,
        type=int,
        default=None,
        metavar=("H", "W"),
        help="input --measure-latency times at (default: the supernet's); a supernet trained at 128x96 can be "
        "searched for deployment at 256 192",
    )
    parser.add_argument("--latency-cache", default=None, help="measured latencies (default: OUT/measured_latency.json)")
    parser.add_argument("--objective", default="AP", help="metric to maximise (AP, AR, PCKh, Total ...)")
    parser.add_argument(
        "--calibration-images", type=positive_int, default=None, help="training crops for BN recalibration"
    )
    parser.add_argument(
        "--val-limit", type=positive_int, default=None, help="evaluate on the first N validation images"
    )
    parser.add_argument("--no-flip", action="store_true", help="no flip test while searching")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out",
        default="runs/search",
        help="output folder (resumes from its candidate store if that was made by the same supernet, budget, "
        "evaluation settings and data; refuses otherwise)",
    )


def run(args: argparse.Namespace) -> int:
    from vipnas.commands import writable_folder
    from vipnas.engine.distributed import destroy_distributed, init_distributed
    from vipnas.nas.budget import Budget
    from vipnas.nas.evaluate import SupernetEvaluator
    from vipnas.nas.report import write_json, write_search_outputs

    writable_folder(args.out)
    info = init_distributed("cpu")
    logging.basicConfig(level=logging.INFO if info.is_main else logging.WARNING, format="%(message)s")
    try:
        # rank 0 prepares the data (SynthPose is generated on first use) while the others wait at the barrier
        evaluator = main_rank_first(
            info,
            lambda: SupernetEvaluator.from_checkpoint(
                args.checkpoint,
                calibration_images=args.calibration_images,
                val_limit=args.val_limit,
                flip=not args.no_flip,
                is_main=info.is_main,
            ),
        )
        supernet = evaluator.supernet
        table = latency_source(args, supernet.space.name, supernet.metadata.input_size, supernet.metadata.num_joints)
        budget = Budget(
            max_macs=args.budget_macs,
            max_params=args.budget_params,
            max_latency_ms=args.budget_latency,
            latency_table=table,
            input_size=supernet.metadata.input_size,
            num_joints=supernet.metadata.num_joints,
        )
        out = Path(args.out)
        result = run_strategy(args, supernet.space, evaluator, budget, is_main=info.is_main)
        if info.is_main:
            paths = write_search_outputs(out, result)
            best = result.best
            write_json({"arch": best.arch.to_dict()}, out / "arch.json")  # a bare arch for vipnas extract/train
            latency = f", predicted {best.latency_ms:.1f} ms" if best.latency_ms is not None else ""
            print(f"{result.strategy} search under {budget.describe()}: {len(result.candidates)} candidates")
            print(
                f"best {args.objective} {best.score(args.objective):.4f} at {best.macs / 1e9:.4f} G MACs, "
                f"{best.params / 1e6:.3f} M params{latency}"
            )
            print(best.arch.describe())
            print("outputs: " + ", ".join(str(p) for p in paths.values()))
    finally:
        destroy_distributed()
    return 0


def latency_source(args: argparse.Namespace, space: str, input_size: tuple[int, int], num_joints: int) -> Any:
    """The latency table of ``--latency-table``, a whole-network measurer for ``--measure-latency`` (timing at
    ``--latency-input-size`` when given, else at ``input_size``), or ``None``."""
    if args.latency_table:
        from vipnas.nas.latency import LatencyTable

        return LatencyTable.load(args.latency_table)
    if not args.measure_latency:
        return None
    from vipnas.models.pose import check_input_size
    from vipnas.nas.measured import MeasuredLatency

    runtime, _, precision = args.measure_latency.partition(":")
    cache = args.latency_cache or Path(args.out) / "measured_latency.json"
    if args.latency_input_size:
        try:
            input_size = check_input_size(tuple(args.latency_input_size))
        except ValueError as error:
            raise ValueError(f"--latency-input-size: {error}") from None
    return MeasuredLatency(
        runtime, precision or "fp32", threads=args.latency_threads, input_size=input_size, num_joints=num_joints,
        space=space, cache=cache,
    )  # fmt: skip


def main_rank_first(info: Any, make: Callable[[], T]) -> T:
    """``make()`` on rank 0 first (it may prepare data: SynthPose is generated on first use), then on the other
    ranks once rank 0 is done (a barrier); in one process just ``make()``."""
    from vipnas.engine.distributed import barrier

    if info.world_size > 1 and not info.is_main:
        barrier()
    value = make()
    if info.world_size > 1 and info.is_main:
        barrier()
    return value


def add_strategy_arguments(
    parser: argparse.ArgumentParser,
    *,
    candidates: int,
    population: int,
    generations: int,
    parents: int,
    mutations: int,
    crossovers: int,
    mutation_probability: float,
) -> None:
    """The options :func:`run_strategy` reads (``--strategy``, the random search's ``--candidates`` and the
    evolution's), with a command's own defaults."""
    parser.add_argument("--strategy", choices=["random", "evolution"], default="random")
    parser.add_argument(
        "--candidates", type=positive_int, default=candidates, help="random search: archs evaluated (paper: 500)"
    )
    parser.add_argument("--population", type=positive_int, default=population, help="evolution: population size")
    parser.add_argument("--generations", type=int, default=generations, help="evolution: generations")
    parser.add_argument("--parents", type=positive_int, default=parents, help="evolution: best archs that breed")
    parser.add_argument("--mutations", type=int, default=mutations, help="evolution: mutants per generation")
    parser.add_argument("--crossovers", type=int, default=crossovers, help="evolution: crossed children per generation")
    parser.add_argument(
        "--mutation-probability", type=float, default=mutation_probability, help="evolution: per-choice mutation"
    )


def run_strategy(args: argparse.Namespace, space: Any, evaluator: Any, budget: Any, *, is_main: bool) -> Any:
    """The search ``args`` ask for (``--strategy`` and its options, ``--seed``, ``--objective``) over ``space``,
    with its store in ``--out`` stamped with what produced it (resumed when it matches, refused otherwise)."""
    from vipnas.nas.search import ResultStore, evolutionary_search, random_search, search_provenance

    out = Path(args.out)
    provenance = search_provenance(args.checkpoint, space, budget, evaluator.provenance())
    store = ResultStore(out / "store.json", provenance=provenance, writer=is_main)
    if len(store):
        logging.info("resuming: %d candidates already evaluated in %s", len(store), out / "store.json")
    common = {"seed": args.seed, "store": store, "objective": args.objective}
    if args.strategy == "random":
        return random_search(space, evaluator, budget, num_candidates=args.candidates, **common)
    return evolutionary_search(
        space,
        evaluator,
        budget,
        population=args.population,
        generations=args.generations,
        parents=args.parents,
        mutations=args.mutations,
        crossovers=args.crossovers,
        mutation_probability=args.mutation_probability,
        **common,
    )
