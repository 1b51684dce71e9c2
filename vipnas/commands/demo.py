"""``vipnas demo``: the whole spatial pipeline on SynthPose (the README's main job)."""

from __future__ import annotations

import argparse

HELP = "run the whole ViPNAS pipeline on SynthPose: supernet, search, extract, fine-tune, compare (~15 min)"
EXAMPLES = [
    "vipnas demo",
    "vipnas demo --quick --out runs/demo-quick",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="runs/demo", help="output folder (a rerun resumes what is there)")
    parser.add_argument("--quick", action="store_true", help="a minute-long smoke run of the same pipeline")
    parser.add_argument("--data-root", default=None, help="SynthPose folder (generated if missing)")


def run(args: argparse.Namespace) -> int:
    import logging

    from vipnas.demo import FULL, QUICK, run_demo

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    run_demo(args.out, QUICK if args.quick else FULL, data_root=args.data_root)
    return 0
