"""Analytic parameter/MAC counts equal hook-based counts on built networks; the official counts are exact."""

from __future__ import annotations

import random

import pytest

from vipnas.models.complexity import arch_complexity, measure_complexity
from vipnas.models.pose import build_static
from vipnas.models.registry import create_model
from vipnas.space import MOBILENETV3_SPACE, RESNET50_SPACE


@pytest.mark.parametrize(
    ("name", "params", "giga_macs"),
    [("s_vipnas_res50", 7_286_772, 1.4644), ("s_vipnas_mbv3", 5_895_725, 0.7342), ("sbl_res50", 33_999_697, 5.43)],
)
def test_named_model_counts_match_mmpose(name: str, params: int, giga_macs: float) -> None:
    model = create_model(name)
    assert sum(p.numel() for p in model.parameters()) == params
    analytic = arch_complexity(model.arch)
    assert analytic.params == params
    assert round(analytic.macs / 1e9, 4 if giga_macs < 5 else 2) == giga_macs
    assert measure_complexity(model) == analytic


@pytest.mark.parametrize("space", [RESNET50_SPACE, MOBILENETV3_SPACE], ids=lambda s: s.name)
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
