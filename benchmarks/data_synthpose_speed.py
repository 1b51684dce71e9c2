"""SynthPose generation speed and dataset statistics.

Generates N still images and about as many video frames with all CPUs, prints the machine, worker count,
wall-clock runtime and what the data looks like (people per image, joint visibility, person heights).

    python benchmarks/data_synthpose_speed.py                # 1,000 images + 1,020 video frames
    python benchmarks/data_synthpose_speed.py --images 200 --videos 4
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from _machine import footer, header  # benchmarks/ is on sys.path when a script there runs

from vipnas.data import synthpose


def statistics(root: Path) -> None:
    layout = synthpose.SynthPoseLayout(root)
    data = json.loads(layout.annotations("train").read_text())
    flags = np.array([a["keypoints"] for a in data["annotations"]]).reshape(-1, 17, 3)[:, :, 2]
    heights = np.array([a["bbox"][3] for a in data["annotations"]])
    per_image = np.bincount([a["image_id"] for a in data["annotations"]])[1:]
    labelled = flags[flags.sum(axis=1) > 0]
    people = f"{per_image.mean():.2f} per image (max {per_image.max()})"
    print(f"train images {len(data['images'])}, persons {len(flags)}, {people}")
    print(
        f"joints of labelled persons: visible {np.mean(labelled == 2):.1%}, occluded {np.mean(labelled == 1):.1%}, "
        f"outside the image {np.mean(labelled == 0):.1%}"
    )
    quantiles = np.percentile(heights, [10, 50, 90])
    print(f"person box height px: 10% {quantiles[0]:.0f}, median {quantiles[1]:.0f}, 90% {quantiles[2]:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--videos", type=int, default=34)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    start = header("SynthPose generation speed")
    print("load average (1, 5, 15 min): " + ", ".join(f"{value:.1f}" for value in os.getloadavg()))
    print(f"workers: {args.workers}")
    with tempfile.TemporaryDirectory() as folder:
        for label, images, videos in (("images", args.images, 0), ("video frames", 0, args.videos)):
            if not images and not videos:
                continue
            root = Path(folder) / label.replace(" ", "_")
            began = time.perf_counter()
            synthpose.generate(
                root, images=images, videos=videos, frames=args.frames, workers=args.workers, progress=False
            )
            seconds = time.perf_counter() - began
            count = images or videos * args.frames
            print(f"{count} {label}: {seconds:.1f} s ({1000 * seconds / count:.1f} ms each, {count / seconds:.0f}/s)")
            if images:
                statistics(root)
    footer(start)


if __name__ == "__main__":
    main()
