"""Does the fusion gain grow with propagation training? A T-supernet of ``--steps`` steps from a video demo's key
network, against that demo's own (250 steps): its T-ViPNAS arch and the largest frames (F2, add) on the test videos,
each with fusion and with the same weights' spatial networks alone (no fusion).

    python benchmarks/temporal_fusion_training.py --run runs/demo-video-seed0 --steps 1000 --threads 2

The demo's settings are ``vipnas.demo.video.VIDEO`` (the run folder must have been made with them); the longer
run trains in ``--work`` (resumable).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from _machine import footer, header


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="runs/demo-video-seed0")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", default="runs/temporal-fusion-training")
    args = parser.parse_args()
    start = header(f"fusion gain after {args.steps} propagation steps vs the demo's")

    from vipnas.demo.video import VIDEO, VideoRun, temporal_config
    from vipnas.engine.trainer import train
    from vipnas.models.checkpoint import load_model
    from vipnas.nas.temporal import SingleFrame, clip_evaluator
    from vipnas.space.temporal import FrameChoice, TemporalArch

    run = VideoRun(args.run, VIDEO)
    config = temporal_config(VIDEO, run.videos, run.key, args.steps)
    config = replace(config, runtime=replace(config.runtime, threads=args.threads))
    last = Path(args.work) / "checkpoints" / "last.pth"
    if not last.is_file():
        train(config, work_dir=args.work, resume_from="auto")
    best = TemporalArch.from_dict(
        json.loads((Path(args.run) / "ablations" / "table3.json").read_text())["best_temporal_arch"]
    )
    space = run.temporal_space()
    largest = space.uniform(FrameChoice(space.frame_space.largest(), 2, "add"))
    test_config = temporal_config(VIDEO, run.videos, run.key, 1)
    for steps, path in ((VIDEO.train_iters, run.temporal), (args.steps, last)):
        evaluator = clip_evaluator(load_model(path).eval(), run.key_network, test_config, run.paths("test"))
        for label, arch in (("T-ViPNAS arch", best), ("largest frames, F2 add", largest)):
            networks = evaluator.networks(arch)
            fused = evaluator.evaluate_networks(networks)
            plain = evaluator.evaluate_networks([SingleFrame(n.network) for n in networks])
            print(f"{steps:5d} steps, {label:24s}: mAP all {fused['Total_all']:.2f} (non-key {fused['Total']:.2f}) "
                  f"with fusion, {plain['Total_all']:.2f} ({plain['Total']:.2f}) without", flush=True)  # fmt: skip
    footer(start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
