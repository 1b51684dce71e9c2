"""``vipnas synth``: generate SynthPose, the procedural image and video pose benchmark."""

from __future__ import annotations

import argparse
import os
import platform
import time

from vipnas.config import SYNTHPOSE_LEVELS

HELP = "generate SynthPose: seeded synthetic pose images (COCO format) and videos (PoseTrack18 format)"
EXAMPLES = [
    "vipnas synth --out data/synthpose --images 1000",
    "vipnas synth --out data/synthpose-medium --images 1000 --level medium --test-fraction 0.2",
    "vipnas synth --out data/synthpose-hard --images 1000 --level hard  # SynthPose as first written",
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
    parser.add_argument(
        "--test-fraction", type=float, default=0.0, help="share in a held-out test split (default 0: none)"
    )
    parser.add_argument(
        "--level",
        choices=SYNTHPOSE_LEVELS,
        default="easy",
        help="difficulty: easy (default: 1-2 large people, no still occluders; videos with occlusion events), "
        "medium, hard (crowds, occluders, distractors: SynthPose as first written)",
    )
    parser.add_argument("--label-every", type=int, default=1, help="annotate every n-th video frame (default 1)")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all CPUs)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from vipnas.commands import writable_folder
    from vipnas.data import synthpose

    writable_folder(args.out)
    start = time.perf_counter()
    layout = synthpose.generate(
        args.out,
        images=args.images,
        videos=args.videos,
        frames=args.frames,
        seed=args.seed,
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        level=args.level,
        label_every=args.label_every,
        workers=args.workers,
        progress=not args.quiet,
    )
    elapsed = time.perf_counter() - start
    workers = args.workers or os.cpu_count()
    machine = platform.machine()
    print(f"SynthPose ({args.level}) written to {layout.root} in {elapsed:.1f} s ({workers} workers, {machine})")
    if args.images:
        splits = ("train", "val", "test") if args.test_fraction else ("train", "val")
        print(f"  images: {', '.join(str(layout.annotations(split)) for split in splits)}")
    if args.videos:
        print(f"  videos: {layout.video_annotations('train')}/, {layout.video_annotations('val')}/ and merged files")
    return 0
