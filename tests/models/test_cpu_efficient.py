"""The CPU-efficient family (issue 15): what its space admits, the upsampling head's structure and cost, and that
its networks export to ONNX and compute the same there."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
import torch
from torch import nn

from vipnas.models.complexity import arch_complexity, block_complexity, measure_complexity
from vipnas.models.pose import build_static
from vipnas.models.registry import create_model
from vipnas.nn.blocks import UpsampleHead
from vipnas.space import (
    CPU_EFFICIENT_REALTIME_SPACE,
    CPU_EFFICIENT_SPACE,
    CPU_EFFICIENT_TINY_SPACE,
    InvalidArchError,
    arch_blocks,
)
from vipnas.space.blocks import check_buildable
from vipnas.space.family import CPU_EFFICIENT

INPUT = (64, 64)


@pytest.mark.parametrize(
    "space", [CPU_EFFICIENT_SPACE, CPU_EFFICIENT_REALTIME_SPACE, CPU_EFFICIENT_TINY_SPACE], ids=lambda s: s.name
)
def test_every_middle_conv_is_depthwise_or_has_at_least_8_channels_per_group(space) -> None:
    rng = random.Random(0)
    for _ in range(300):
        arch = space.sample(rng)
        for stage in arch.stages:
            per_group = stage.width * stage.expand_ratio // stage.groups
            assert per_group == 1 or per_group >= 8, stage
        assert arch.head.width // arch.head.groups in (1, 8, 16)
        blocks = arch_blocks(arch, input_size=INPUT)
        assert {b.activation for b in blocks if b.kind in ("stem", "mobile")} == {"relu"}
        assert [b.kind for b in blocks[-4:]] == ["upsample"] * 3 + ["final"]


def test_upsampling_head_structure_and_cost_by_hand() -> None:
    arch = CPU_EFFICIENT_SPACE.sample(random.Random(3))
    model = build_static(arch, input_size=(256, 192)).eval()
    assert isinstance(model.head, UpsampleHead)
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in model.modules())
    layer = model.head.layers[0]
    width, k, g = arch.head.width, arch.head.kernel_size, arch.head.groups
    cin = arch.stages[-1].width
    assert layer.reduce.conv.weight.shape == (width, cin, 1, 1)
    assert layer.spatial.conv.weight.shape == (width, width // g, k, k)
    with torch.no_grad():
        features = model.backbone(torch.zeros(1, 3, 256, 192))[-1]
        assert features.shape[2:] == (8, 6)
        assert layer(features).shape == (1, width, 16, 12)
    # written out: per layer the 1x1 at (h, w) and the KxK at (2h, 2w); the final 1x1 with bias at 64x48
    by_hand = 0
    for h, w, c in ((8, 6, cin), (16, 12, width), (32, 24, width)):
        by_hand += c * width * h * w + width * (width // g) * k * k * (2 * h) * (2 * w)
    by_hand += width * 17 * 64 * 48
    head_blocks = [b for b in arch_blocks(arch, input_size=(256, 192)) if b.kind in ("upsample", "final")]
    assert sum(block_complexity(b).macs for b in head_blocks) == by_hand
    assert measure_complexity(model.head, (8, 6), channels=cin).macs == by_hand
    assert arch_complexity(arch, input_size=(256, 192)) == measure_complexity(model, (256, 192))


def test_space_refuses_what_runs_slowly_with_named_errors() -> None:
    arch = CPU_EFFICIENT_SPACE.largest()
    stages = list(arch.stages)
    middle = stages[2].width * stages[2].expand_ratio
    stages[2] = replace(stages[2], groups=middle // 2)  # 2 channels per group: the slow grouped convolution
    with pytest.raises(InvalidArchError, match=r"stage 3: groups=.* not allowed"):
        CPU_EFFICIENT_SPACE.validate(replace(arch, stages=tuple(stages)))
    with pytest.raises(InvalidArchError, match=r"head: kernel_size=4"):
        CPU_EFFICIENT_SPACE.validate(replace(arch, head=replace(arch.head, kernel_size=4)))
    with pytest.raises(ValueError, match=r"head.kernel_size=4 must be odd"):
        check_buildable(replace(arch, head=replace(arch.head, kernel_size=4)))
    with pytest.raises(ValueError, match=r"head.groups=7 must divide its"):
        check_buildable(replace(arch, head=replace(arch.head, groups=7)))
    assert CPU_EFFICIENT.head_kind == "upsample"


def test_head_groups_need_not_divide_the_last_stage_width() -> None:
    # the 1x1 reduce takes any input width to the head's, so only the width constrains the KxK conv's groups
    space = CPU_EFFICIENT_SPACE
    assert {c.groups for c in space.head_choices(96)} == {c.groups for c in space.head_choices(97)}


def test_supernet_exports_to_onnx_equal_to_torch(tmp_path, randomized) -> None:
    ort = pytest.importorskip("onnxruntime")
    from vipnas.models.export import export_onnx

    supernet = randomized(create_model("cpu_efficient_tiny_supernet", input_size=INPUT), seed=5).eval()
    arch = CPU_EFFICIENT_TINY_SPACE.sample(random.Random(9))
    subnet = supernet.extract_subnet(arch).eval()
    path = tmp_path / "net.onnx"
    difference = export_onnx(subnet, path)
    x = torch.randn(2, 3, *INPUT, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = subnet(x).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    assert abs(expected).max() > 1e-3
    assert abs(got - expected).max() <= 1e-4 * abs(expected).max() and difference is not None


def test_realtime_space_is_a_sub_space_of_the_cpu_efficient_space() -> None:
    # every choice of the real-time space is one of the full space's, so its archs (and a supernet's subnets) are
    # archs of the full space; it is narrower (fewer archs, a smaller largest) and its supernet builds from the name
    full, realtime = CPU_EFFICIENT_SPACE, CPU_EFFICIENT_REALTIME_SPACE
    assert realtime.family == full.family and len(realtime.stages) == len(full.stages)
    for fields in ("widths", "depths", "kernel_sizes", "expand_ratios", "attentions", "channels_per_group"):
        for small, big in zip(realtime.stages, full.stages, strict=True):
            assert set(getattr(small, fields)) <= set(getattr(big, fields)), fields
    for fields in ("widths", "kernel_sizes", "channels_per_group"):
        assert set(getattr(realtime.head, fields)) <= set(getattr(full.head, fields))
    rng = random.Random(1)
    assert all(full.contains(realtime.sample(rng)) for _ in range(200))
    assert full.contains(realtime.largest()) and full.contains(realtime.smallest())
    assert realtime.size() < full.size()
    largest = arch_complexity(realtime.largest(), input_size=(256, 192)).macs
    assert largest < arch_complexity(full.largest(), input_size=(256, 192)).macs / 2
    supernet = create_model("cpu_efficient_realtime_supernet", input_size=INPUT)
    assert supernet.space == realtime


def test_deconvolution_variant_has_the_same_backbone_and_a_deconvolution_head() -> None:
    # family cpu_efficient_deconv: the CPU-efficient blocks with MobileNetV3's head, to compare the two heads on one
    # backbone; the backbones' parameters match name for name, the heads differ as the families say
    import math

    from vipnas.nn.blocks import DeconvHead
    from vipnas.space.arch import Arch

    arch = CPU_EFFICIENT_SPACE.sample(random.Random(3))
    groups = math.gcd(arch.stages[-1].width, arch.head.width)
    variant = replace(arch, family="cpu_efficient_deconv", head=replace(arch.head, kernel_size=4, groups=groups))
    assert Arch.from_dict(variant.to_dict()) == variant
    assert not CPU_EFFICIENT_SPACE.contains(variant)  # not a member of the searched space
    upsampling, deconvolving = build_static(arch, input_size=INPUT), build_static(variant, input_size=INPUT)
    shapes = {k: v.shape for k, v in upsampling.backbone.state_dict().items()}
    assert shapes == {k: v.shape for k, v in deconvolving.backbone.state_dict().items()}
    assert isinstance(deconvolving.head, DeconvHead)
    deconvs = [m for m in deconvolving.head.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(d.kernel_size, d.stride, d.groups) for d in deconvs] == [((4, 4), (2, 2), groups)] * 3
    assert arch_complexity(variant, input_size=INPUT) == measure_complexity(deconvolving, INPUT)
    with torch.no_grad():
        assert deconvolving.eval()(torch.zeros(1, 3, *INPUT)).shape == (1, 17, INPUT[0] // 4, INPUT[1] // 4)
    with pytest.raises(ValueError, match=r"head.kernel_size=5 must be one of \[2, 3, 4\]"):
        check_buildable(replace(variant, head=replace(variant.head, kernel_size=5)))
