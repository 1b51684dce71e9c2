"""``vipnas demo``: the whole spatial pipeline on SynthPose (the README's main job); ``--video``: the temporal one."""

from __future__ import annotations

import argparse
from typing import Any

from vipnas.config import SYNTHPOSE_LEVELS

HELP = "run the whole ViPNAS pipeline on SynthPose: supernet, search, extract, fine-tune, compare on a test split"
EXAMPLES = [
    "vipnas demo                                  # from the shipped pretrained supernet",
    "vipnas demo --from-scratch                   # train the supernet here too",
    "vipnas demo --long --out runs/demo-long      # medium level, a longer supernet run from scratch",
    "vipnas demo --seed 1 --out runs/demo-seed1   # another search and fine-tuning seed, the same data",
    "vipnas demo --quick --out runs/demo-quick",
    "vipnas demo --video                          # T-ViPNAS vs S-ViPNAS on SynthPose videos, and the ablations",
    "vipnas demo --video --seed 1 --out runs/demo-video-seed1",
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
    parser.add_argument(
        "--out", default=None, help="output folder (a rerun resumes what is there; default runs/demo, runs/demo-video)"
    )
    parser.add_argument(
        "--video",
        action="store_true",
        help="the temporal pipeline on SynthPose videos: key network, T-supernet, allocation, ablations",
    )
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
    if args.video:
        return _run_video(args)
    settings = QUICK if args.quick else LONG if args.long else FULL
    if args.supernet_iters is not None:
        settings = replace(settings, supernet_iters=args.supernet_iters, pretrained=False)
    run_demo(args.out or "runs/demo", shared_options(settings, args), data_root=args.data_root)
    return 0


def video_settings(args: argparse.Namespace) -> object:
    """The :class:`~vipnas.demo.video.VideoDemoSettings` the shared options of ``demo --video`` and ``ablation``
    choose."""
    from vipnas.demo.video import QUICK_VIDEO, VIDEO

    return shared_options(QUICK_VIDEO if args.quick else VIDEO, args)


def shared_options(settings: Any, args: argparse.Namespace) -> Any:
    """``settings`` (a spatial or a video demo's) with the options both demos and ``vipnas ablation`` share:
    ``--candidates``, ``--from-scratch``, ``--level``, ``--seed``, ``--threads``."""
    from dataclasses import replace

    if getattr(args, "candidates", None) is not None:
        settings = replace(settings, candidates=args.candidates)
    if args.from_scratch:
        settings = replace(settings, pretrained=False)
    if args.level is not None:
        settings = replace(settings, level=args.level)
    if args.seed is not None:
        settings = replace(settings, seed=args.seed)
    if args.threads is not None:
        if args.threads < 1:
            raise SystemExit(f"vipnas: error: --threads must be >= 1, got {args.threads}")
        settings = replace(settings, threads=args.threads)
    return settings


def _run_video(args: argparse.Namespace) -> int:
    from vipnas.demo.video import run_video_demo

    for flag, given in (
        ("--long", args.long),
        ("--data-root", args.data_root),
        ("--supernet-iters", args.supernet_iters),
    ):
        if given:
            raise SystemExit(f"vipnas demo: error: {flag} applies to the spatial demo, not to --video")
    run_video_demo(args.out or "runs/demo-video", video_settings(args))
    return 0
