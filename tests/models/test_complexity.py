"""Analytic parameter/MAC counts equal hook-based counts on built networks; the official counts are exact."""

from __future__ import annotations

import random

import pytest

from vipnas.models.complexity import Complexity, arch_complexity, measure_complexity
from vipnas.models.pose import build_static
from vipnas.models.registry import create_model
from vipnas.space import CPU_EFFICIENT_SPACE, CPU_EFFICIENT_TINY_SPACE, MOBILENETV3_SPACE, RESNET50_SPACE

# (parameters, MACs at 1x3x256x192) measured on MMPose's own modules -- ViPNAS_ResNet(50) + ViPNASHead(608, 17),
# ViPNAS_MobileNetV3() + ViPNASHead(160, 17, deconv (160,)*3, groups (160,)*3), ResNet(50) + HeatmapHead(2048, 17)
# -- by `python benchmarks/mmpose_equivalence.py` in a side virtualenv with mmpose 1.3.2, mmcv-lite 2.2.0,
# mmengine 0.10.7, torch 2.13.0+cpu, on 2026-12-01 (docs/mmpose_equivalence.md).  MACs: forward hooks on MMPose's
# nn.Conv2d / nn.ConvTranspose2d plus C*H*W per mmcv ContextBlock (attention pooling); torch's FlopCounterMode
# gives the same totals.  That script reads this constant and fails when it differs from its measurement.
MMPOSE_COUNTS = {
    "s_vipnas_res50": (7_286_772, 1_464_409_440),
    "s_vipnas_mbv3": (5_895_725, 734_151_936),
    "sbl_res50": (33_999_697, 5_426_380_800),
}


@pytest.mark.parametrize("name", sorted(MMPOSE_COUNTS))
def test_named_model_counts_match_mmpose(name: str) -> None:
    params, macs = MMPOSE_COUNTS[name]
    model = create_model(name)
    assert sum(p.numel() for p in model.parameters()) == params
    analytic = arch_complexity(model.arch)
    assert analytic == Complexity(params, macs)
    assert measure_complexity(model) == Complexity(params, macs)


@pytest.mark.parametrize(
    "space", [RESNET50_SPACE, MOBILENETV3_SPACE, CPU_EFFICIENT_SPACE, CPU_EFFICIENT_TINY_SPACE], ids=lambda s: s.name
)
def test_analytic_counts_equal_hook_counts_for_random_archs(space) -> None:
    rng = random.Random(4)
    for arch in [space.smallest(), *(space.sample(rng) for _ in range(6))]:
        for input_size, joints in (((64, 64), 17), ((96, 64), 14)):
            model = build_static(arch, num_joints=joints, input_size=input_size)
            assert measure_complexity(model, input_size) == arch_complexity(
                arch, num_joints=joints, input_size=input_size
            )


def test_macs_scale_with_input_area() -> None:
    arch = RESNET50_SPACE.smallest()
    small = arch_complexity(arch, input_size=(128, 96)).macs
    large = arch_complexity(arch, input_size=(256, 192)).macs
    assert abs(large / small - 4.0) < 0.05
