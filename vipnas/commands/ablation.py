"""``vipnas ablation NAME``: one of the paper's temporal ablations on SynthPose videos (Table 3, Fig. 6a, Fig. 6b,
Table 4), sharing its stages (videos, supernets, searches) with ``vipnas demo --video`` in the same ``--out``."""

from __future__ import annotations

import argparse

from vipnas.config import SYNTHPOSE_LEVELS, TEMPORAL_ABLATIONS

HELP = "run one temporal ablation (table3, fig6a, fig6b, table4) on SynthPose videos: a table, a JSON and a figure"
EXAMPLES = [
    "vipnas ablation table3                       # T-ViPNAS vs S-ViPNAS at equal average MACs",
    "vipnas ablation fig6a --out runs/demo-video  # fusion vs the same archs without it (reuses demo --video's stages)",
    "vipnas ablation table4 --seed 1 --out runs/demo-video-seed1",
    "vipnas ablation fig6b --quick --out runs/ablation-quick",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vipnas.commands import positive_int

    parser.add_argument("name", choices=TEMPORAL_ABLATIONS, help="the ablation")
    parser.add_argument("--out", default="runs/demo-video", help="the video demo's folder (stages are reused)")
    parser.add_argument("--quick", action="store_true", help="the quick settings of demo --video --quick")
    parser.add_argument("--from-scratch", action="store_true", help="a fresh supernet instead of the shipped one")
    parser.add_argument("--level", choices=SYNTHPOSE_LEVELS, default=None, help="SynthPose difficulty")
    parser.add_argument("--seed", type=int, default=None, help="training and search seed (default 0)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: measured)")
    parser.add_argument("--candidates", type=positive_int, default=None, help="random candidates per main search")


def run(args: argparse.Namespace) -> int:
    import logging

    import torch

    from vipnas.commands.demo import video_settings
    from vipnas.demo.ablations import run_ablation
    from vipnas.demo.video import VideoRun

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    settings = video_settings(args)
    if settings.threads:  # type: ignore[attr-defined]
        torch.set_num_threads(settings.threads)  # type: ignore[attr-defined]
    run_ablation(VideoRun(args.out, settings), args.name)  # type: ignore[arg-type]
    return 0
