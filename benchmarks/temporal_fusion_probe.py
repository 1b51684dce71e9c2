"""How much the propagated heatmaps can give in a video demo's T-supernet (validation videos, non-key mAP):
the previous heatmaps warped into the current crop used as the prediction ("copy"), the key network on every
frame, and the largest T-ViPNet at every fusion point and op; plus the fusion projections' mean |weight|.

    python benchmarks/temporal_fusion_probe.py --run runs/demo-video-seed0
"""

from __future__ import annotations

import argparse

import torch
from _machine import footer, header


class Copy(torch.nn.Module):
    """A 'network' that predicts the warped previous heatmaps."""

    def forward(self, crops: torch.Tensor, heatmaps: torch.Tensor) -> torch.Tensor:
        return heatmaps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="runs/demo-video-seed0")
    args = parser.parse_args()
    start = header("what fusion can use: copy, key every frame, largest T-ViPNet per fusion point and op")

    from vipnas.demo.video import VIDEO, VideoRun
    from vipnas.nas.temporal import SingleFrame
    from vipnas.space.temporal import FUSION_OPS, FUSION_POINTS, FrameChoice

    run = VideoRun(args.run, VIDEO)
    supernet = run.temporal_supernet
    for name, parameter in supernet.named_parameters():
        if "project" in name and parameter.dim() > 1:
            print(f"{name}: mean |w| {float(parameter.detach().abs().mean()):.4f}")
    evaluator = run.clips("val")
    length = run.settings.length
    print(f"copy of the warped previous heatmaps: {evaluator.evaluate_networks([Copy()] * length)['Total']:.2f}")
    key = run.key_network
    print(f"key on every frame: {evaluator.evaluate_networks([SingleFrame(key)] * length)['Total']:.2f}")
    space = run.temporal_space()
    for point in FUSION_POINTS:
        for op in FUSION_OPS:
            arch = space.uniform(FrameChoice(space.frame_space.largest(), point, op))
            print(f"largest T-ViPNets, F{point} {op}: {evaluator(arch)['Total']:.2f}")
    footer(start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
