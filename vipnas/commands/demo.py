"""``vipnas demo``: the whole spatial pipeline on SynthPose (the README's main job)."""

from __future__ import annotations

import argparse

HELP = "run the whole ViPNAS pipeline on SynthPose: supernet, search, extract, fine-tune, compare (~15 min)"
EXAMPLES = [
    "vipnas demo",
    "vipnas demo --quick --out runs/demo-quick",
    "vipnas demo --supernet-iters 2400 --out runs/demo-long",
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
    parser.add_argument("--data-root", default=None, help="SynthPose folder (generated if missing)")
    parser.add_argument(
        "--supernet-iters",
        type=_positive,
        default=None,
        help="sandwich steps of supernet training (default 1,100; 30 with --quick); ~0.55 s each on 2 cores",
    )
    parser.add_argument("--candidates", type=_positive, default=None, help="random-search candidates (default 40)")


def run(args: argparse.Namespace) -> int:
    import logging
    from dataclasses import replace

    from vipnas.demo import FULL, QUICK, run_demo

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    settings = QUICK if args.quick else FULL
    if args.supernet_iters is not None:
        settings = replace(settings, supernet_iters=args.supernet_iters)
    if args.candidates is not None:
        settings = replace(settings, candidates=args.candidates)
    run_demo(args.out, settings, data_root=args.data_root)
    return 0
