"""``vipnas demo``: the whole spatial pipeline on SynthPose (the README's main job)."""

from __future__ import annotations

import argparse

from vipnas.config import SYNTHPOSE_LEVELS

HELP = "run the whole ViPNAS pipeline on SynthPose: supernet, search, extract, fine-tune, compare on a test split"
EXAMPLES = [
    "vipnas demo                                  # from the shipped pretrained supernet",
    "vipnas demo --from-scratch                   # train the supernet here too",
    "vipnas demo --long --out runs/demo-long      # medium level, a longer supernet run from scratch",
    "vipnas demo --seed 1 --out runs/demo-seed1   # another search and fine-tuning seed, the same data",
    "vipnas demo --quick --out runs/demo-quick",
]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="runs/demo", help="output folder (a rerun resumes what is there)")
    parser.add_argument("--quick", action="store_true", help="a minute-long smoke run of the same pipeline")
    parser.add_argument(
        "--long", action="store_true", help="the medium level with a longer supernet run trained from scratch"
    )
    parser.add_argument(
        "--from-scratch", action="store_true", help="train the supernet instead of starting from the shipped one"
    )
    parser.add_argument("--level", choices=SYNTHPOSE_LEVELS, default=None, help="SynthPose difficulty")
    parser.add_argument("--seed", type=int, default=None, help="training, search and fine-tuning seed (default 0)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: measured per training step, see docs/training.md)",
    )
    parser.add_argument("--data-root", default=None, help="SynthPose folder (generated if missing)")
    parser.add_argument(
        "--supernet-iters",
        type=_positive,
        default=None,
        help="sandwich steps of supernet training from scratch (default 3,000; 30 with --quick)",
    )
    parser.add_argument("--candidates", type=_positive, default=None, help="random-search candidates (default 40)")


def run(args: argparse.Namespace) -> int:
    import logging
    from dataclasses import replace

    from vipnas.demo import FULL, LONG, QUICK, run_demo

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if args.quick and args.long:
        raise SystemExit("vipnas demo: error: --quick and --long exclude each other")
    settings = QUICK if args.quick else LONG if args.long else FULL
    if args.supernet_iters is not None:
        settings = replace(settings, supernet_iters=args.supernet_iters, pretrained=False)
    if args.candidates is not None:
        settings = replace(settings, candidates=args.candidates)
    if args.from_scratch:
        settings = replace(settings, pretrained=False)
    if args.level is not None:
        settings = replace(settings, level=args.level)
    if args.seed is not None:
        settings = replace(settings, seed=args.seed)
    if args.threads is not None:
        if args.threads < 1:
            raise SystemExit(f"vipnas demo: error: --threads must be >= 1, got {args.threads}")
        settings = replace(settings, threads=args.threads)
    run_demo(args.out, settings, data_root=args.data_root)
    return 0
