"""``vipnas synth``: generate SynthPose, the procedural image and video pose benchmark."""

from __future__ import annotations

import argparse
import os
import platform
import time

HELP = "generate SynthPose: seeded synthetic pose images (COCO format) and videos (PoseTrack18 format)"
EXAMPLES = [
    "vipnas synth --out data/synthpose --images 1000",
    "vipnas synth --out data/synthpose --images 200 --videos 10 --frames 30 --seed 1",
    "vipnas synth --out /tmp/tiny --images 16 --videos 2 --frames 8 --workers 1",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument("--images", type=int, default=1000, help="still images, train + val (default 1000)")
    parser.add_argument("--videos", type=int, default=0, help="videos, train + val (default 0)")
    parser.add_argument("--frames", type=int, default=30, help="frames per video (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives identical files")
    parser.add_argument("--val-fraction", type=float, default=0.2, help="share of images/videos in val (0.2)")
    parser.add_argument("--label-every", type=int, default=1, help="annotate every n-th video frame (default 1)")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all CPUs)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from vipnas.data import synthpose

    start = time.perf_counter()
    layout = synthpose.generate(
        args.out,
        images=args.images,
        videos=args.videos,
        frames=args.frames,
        seed=args.seed,
        val_fraction=args.val_fraction,
        label_every=args.label_every,
        workers=args.workers,
        progress=not args.quiet,
    )
    elapsed = time.perf_counter() - start
    workers = args.workers or os.cpu_count()
    print(f"SynthPose written to {layout.root} in {elapsed:.1f} s ({workers} workers, {platform.machine()})")
    if args.images:
        print(f"  images: {layout.annotations('train')}, {layout.annotations('val')}")
    if args.videos:
        print(f"  videos: {layout.video_annotations('train')}/, {layout.video_annotations('val')}/ and merged files")
    return 0
