"""HRNet archs as data, the HRNet-W32 search space, the static HRNet builder and the MMPose key mapping."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace

import pytest
import torch

from vipnas.models.complexity import measure_complexity
from vipnas.models.hrnet_mmpose import hrnet_from_mmpose_keys, hrnet_to_mmpose_keys
from vipnas.nn.hrnet import build_hrnet, hrnet_feature_points
from vipnas.space.hrnet import (
    HRNET_W32_ARCH,
    HRNET_W32_SPACE,
    BranchArch,
    HRNetArch,
    HRStageArch,
)
from vipnas.space.search_space import InvalidArchError

# Measured on MMPose's own modules: HRNet(extra=<td-hm_hrnet-w32_8xb64-210e_coco-256x192.py>) +
# HeatmapHead(in_channels=32, out_channels=17, deconv_out_channels=None), mmpose 1.3.2, mmcv-lite 2.2.0,
# mmengine 0.10.7, torch 2.13.0+cpu, by `/tmp/mmvenv/bin/python benchmarks/hrnet_equivalence.py` (which reads these
# constants and fails when they differ from its measurement). MACs: forward hooks on every nn.Conv2d of MMPose's
# model for one 1x3x256x192 input, output.numel() * in_channels/groups * kh*kw; torch's FlopCounterMode gives the
# same total. (The often quoted 28,536,273 parameters / "7.10 GFLOPs" are not what these modules have.)
MMPOSE_HRNET_W32_PARAMS = 28_536_113
MMPOSE_HRNET_W32_MACS = 7_645_003_776


@pytest.fixture(scope="module")
def hrnet_w32() -> torch.nn.Module:
    return build_hrnet(HRNET_W32_ARCH)


# ----------------------------------------------------------------------------------------------- archs as data
def test_json_round_trip_and_hash() -> None:
    rng = random.Random(0)
    for arch in [HRNET_W32_ARCH, *(HRNET_W32_SPACE.sample(rng) for _ in range(50))]:
        again = HRNetArch.from_json(arch.to_json())
        assert again == arch and hash(again) == hash(arch)
        assert HRNetArch.from_dict(json.loads(json.dumps(arch.to_dict()))) == arch
    assert HRNET_W32_ARCH.to_dict()["family"] == "hrnet"
    assert {HRNET_W32_ARCH: 1}[HRNetArch.from_json(HRNET_W32_ARCH.to_json())] == 1  # usable as a cache key


def test_lists_become_tuples_so_archs_hash() -> None:
    arch = HRNetArch(64, [HRStageArch(4, [BranchArch(64)], blocks=1), HRStageArch(1, [BranchArch(32), BranchArch(64)])])
    assert isinstance(arch.stages, tuple) and isinstance(arch.stages[1].branches, tuple)
    hash(arch)


def _w32_dict() -> dict:
    return HRNET_W32_ARCH.to_dict()


def _set(path: str, value: object) -> Callable[[dict], None]:
    """An edit of an arch dict: set the field at ``path`` (dot-separated keys and list indices) to ``value``."""

    def edit(data: dict) -> None:
        *parents, last = path.split(".")
        for part in parents:
            data = data[int(part)] if part.isdigit() else data[part]
        data[last] = value

    return edit


def _pop(path: str) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        *parents, last = path.split(".")
        for part in parents:
            data = data[int(part)] if part.isdigit() else data[part]
        if isinstance(data, list):
            data.pop(int(last))
        else:
            data.pop(last)

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_set("stages.2.branches.1.width", "x"), "arch.stages[2].branches[1].width: expected an integer, got 'x'"),
        (_set("stages.1.branches.0.attention", "yes"), "arch.stages[1].branches[0].attention: expected true/false"),
        (_set("stages.3.depth", 2.0), "arch.stages[3].depth: expected an integer, got 2.0"),
        (_pop("stages.3.depth"), "arch.stages[3]: missing field(s) ['depth']"),
        (_set("stages.0.branches.0.expand", 4), "arch.stages[0].branches[0]: unknown field(s) ['expand']"),
        (_set("family", "resnet"), "arch.family: expected 'hrnet', got 'resnet'"),
        (_set("stages", []), "arch.stages: expected a non-empty list"),
        (_set("stages.0.blocks", 4), "arch.stages[0].blocks: stage 1 is a chain of `depth` Bottlenecks"),
        (_pop("stages.2.branches.2"), "arch.stages[2].branches: stage 3 of an HRNet has 3 branch(es), got 2"),
        (_set("stages.2.branches.1.groups", 3), "arch.stages[2].branches[1].groups: 3 does not divide"),
        (_set("stages.1.branches.1.kernel_size", 4), "arch.stages[1].branches[1].kernel_size: expected an odd"),
        (_set("stem_width", 0), "arch.stem_width: expected a positive integer, got 0"),
    ],
)
def test_from_dict_errors_name_the_field(edit, message: str) -> None:
    data = _w32_dict()
    edit(data)
    with pytest.raises(ValueError) as error:
        HRNetArch.from_dict(data)
    assert message in str(error.value)


def test_errors_use_the_callers_source_name() -> None:
    data = _w32_dict()
    data["stages"][1]["branches"][0]["groups"] = 5
    with pytest.raises(ValueError, match=r"^my\.json\.stages\[1\]\.branches\[0\]\.groups: 5 does not divide"):
        HRNetArch.from_dict(data, source="my.json")
    with pytest.raises(ValueError, match=r"my\.json: not valid JSON"):
        HRNetArch.from_json("{", source="my.json")


def test_constructor_checks_the_structure() -> None:
    with pytest.raises(ValueError, match=r"arch\.stages\[1\]\.branches: stage 2 of an HRNet has 2 branch"):
        HRNetArch(64, (HRStageArch(4, (BranchArch(64),), blocks=1), HRStageArch(1, (BranchArch(32),))))


def test_describe_names_every_stage_and_branch() -> None:
    text = HRNET_W32_ARCH.describe()
    assert "stage1 4 Bottleneck blocks (output 256)" in text
    assert "stage4 3 modules x 4 BasicBlocks" in text
    assert text.count("    branch") == 1 + 2 + 3 + 4
    assert "width  256" in text


# ------------------------------------------------------------------------------------------------ search space
def test_hrnet_w32_lies_in_the_space() -> None:
    assert HRNET_W32_SPACE.validate(HRNET_W32_ARCH) is HRNET_W32_ARCH
    assert HRNET_W32_SPACE.contains(HRNET_W32_ARCH)
    # HRNet-W32 is the largest arch without attention
    largest = HRNET_W32_SPACE.largest()
    plain = replace(
        largest,
        stages=tuple(
            replace(stage, branches=tuple(replace(b, attention=False) for b in stage.branches))
            for stage in largest.stages
        ),
    )
    assert plain == HRNET_W32_ARCH


def test_space_ranges_follow_table_a3() -> None:
    space = HRNET_W32_SPACE
    assert space.stem_widths == (16, 32, 48, 64)
    assert [stage.depths for stage in space.stages] == [(2, 3, 4), (1,), (2, 3, 4), (2, 3)]
    last = space.stages[3].branches
    assert [(min(b.widths), max(b.widths)) for b in last] == [(8, 32), (16, 64), (32, 128), (64, 256)]
    assert [max(b.groups) for b in last] == [32, 64, 128, 256] and space.stages[0].branches[0].groups[-1] == 16
    assert all(b.kernel_sizes == (3,) and b.attentions == (False, True) for s in space.stages for b in s.branches)
    smallest = space.smallest()
    assert smallest.stem_width == 16 and smallest.stages[3].branches[3] == BranchArch(64, 3, 64, False)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda a: replace(a, stem_width=40),
            "arch.stem_width=40 is outside the search space; allowed: [16, 32, 48, 64]",
        ),
        (
            lambda a: _edit_branch(a, 2, 1, width=40),
            "arch.stages[2].branches[1].width=40 is outside the search space; allowed: [16, 32, 48, 64]",
        ),
        (
            lambda a: _edit_branch(a, 2, 1, width=48, groups=3),
            "arch.stages[2].branches[1].groups=3 is outside the search space; "
            "allowed (group numbers dividing width 48): [1, 2, 4, 8, 16]",
        ),
        (lambda a: _edit_branch(a, 1, 0, kernel_size=5), "arch.stages[1].branches[0].kernel_size=5 is outside"),
        (lambda a: _edit_stage(a, 3, depth=4), "arch.stages[3].depth=4 is outside the search space; allowed: [2, 3]"),
        (lambda a: _edit_stage(a, 2, blocks=2), "arch.stages[2].blocks=2 is outside the search space; allowed: [4]"),
        (lambda a: replace(a, stages=a.stages[:3]), "arch.stages: 3 stages; search space hrnet_w32 has 4"),
    ],
)
def test_validate_names_field_and_allowed_set(edit, message: str) -> None:
    arch = edit(HRNET_W32_ARCH)
    with pytest.raises(InvalidArchError) as error:
        HRNET_W32_SPACE.validate(arch)
    assert isinstance(error.value, ValueError)
    assert message in str(error.value)
    assert not HRNET_W32_SPACE.contains(arch)


def _edit_stage(arch: HRNetArch, stage: int, **changes: int) -> HRNetArch:
    stages = list(arch.stages)
    stages[stage] = replace(stages[stage], **changes)
    return replace(arch, stages=tuple(stages))


def _edit_branch(arch: HRNetArch, stage: int, branch: int, **changes: int) -> HRNetArch:
    branches = list(arch.stages[stage].branches)
    branches[branch] = replace(branches[branch], **changes)
    return _edit_stage(arch, stage, branches=tuple(branches))  # type: ignore[arg-type]


def test_sampled_mutated_and_crossed_archs_validate() -> None:
    rng = random.Random(1)
    space = HRNET_W32_SPACE
    for _ in range(200):
        first, second = space.sample(rng), space.sample(rng)
        space.validate(first)
        space.validate(space.mutate(first, rng, probability=0.5))
        child = space.crossover(first, second, rng)
        space.validate(child)
        for index, stage in enumerate(child.stages):
            for number, branch in enumerate(stage.branches):
                assert branch in (first.stages[index].branches[number], second.stages[index].branches[number])
    space.validate(space.largest())
    space.validate(space.smallest())


def test_sampling_is_deterministic_and_diverse() -> None:
    first = [HRNET_W32_SPACE.sample(random.Random(7)) for _ in range(3)]
    assert first == [HRNET_W32_SPACE.sample(random.Random(7)) for _ in range(3)]
    assert len({HRNET_W32_SPACE.sample(random.Random(seed)) for seed in range(20)}) == 20


def test_mutation_probability_bounds() -> None:
    rng = random.Random(3)
    arch = HRNET_W32_SPACE.sample(rng)
    assert HRNET_W32_SPACE.mutate(arch, rng, probability=0.0) == arch
    changed = sum(HRNET_W32_SPACE.mutate(arch, rng, probability=1.0) != arch for _ in range(10))
    assert changed == 10
    with pytest.raises(ValueError, match=r"mutation probability must lie in \[0, 1\], got 1.5"):
        HRNET_W32_SPACE.mutate(arch, rng, probability=1.5)
    with pytest.raises(InvalidArchError):
        HRNET_W32_SPACE.mutate(replace(arch, stem_width=8), rng)


# ------------------------------------------------------------------------------------------------- the network
def test_sampled_archs_build_forward_and_backward() -> None:
    torch.manual_seed(0)
    rng = random.Random(5)
    archs = [HRNET_W32_SPACE.smallest(), *(HRNET_W32_SPACE.sample(rng) for _ in range(5))]
    assert any(b.attention for a in archs for s in a.stages for b in s.branches)
    assert any(b.groups > 1 for a in archs for s in a.stages for b in s.branches)
    for arch in archs:
        model = build_hrnet(arch).train()
        x = torch.randn(1, 3, 64, 48)
        out = model(x)
        assert out.shape == (1, 17, 16, 12)
        assert torch.isfinite(out).all()
        out.square().mean().backward()
        missing = [name for name, p in model.named_parameters() if p.grad is None]
        assert not missing, f"parameters without gradient: {missing[:3]}"
        assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_searched_choices_reach_the_convolutions() -> None:
    arch = _edit_branch(HRNET_W32_SPACE.smallest(), 3, 0, kernel_size=5, groups=4, attention=True)
    arch = _edit_branch(arch, 0, 0, groups=2)
    model = build_hrnet(arch, num_joints=14)
    block = model.backbone.stages[3].hr_modules[0].branches[0][0]
    assert block.conv1.weight.shape == (8, 2, 5, 5) and block.conv2.groups == 4 and block.attention is not None
    assert model.backbone.stages[0][0].conv2.groups == 2
    assert model(torch.zeros(2, 3, 64, 48)).shape == (2, 14, 16, 12)


def test_feature_points_are_the_highest_resolution_outputs() -> None:
    arch = HRNET_W32_SPACE.sample(random.Random(11))
    model = build_hrnet(arch).eval()
    x = torch.randn(1, 3, 64, 48)
    points = hrnet_feature_points(arch)
    assert [p.name for p in points] == ["F1", "F2", "F3", "F4"] and model.feature_info == points
    with torch.no_grad():
        features = model.forward_features(x)
        assert [tuple(f.shape) for f in features] == [(1, p.channels, 16, 12) for p in points]
        assert points[0].channels == 4 * arch.stages[0].branches[0].width
        assert torch.equal(model.head(features[-1]), model(x))
        # a module after a stage changes everything downstream (the temporal fusion point)
        doubled = model(x, after={1: lambda t: 2 * t})
        assert not torch.allclose(doubled, model(x))
    with pytest.raises(ValueError, match=r"stage\(s\) \[7\] do not exist"):
        model(x, after={7: lambda t: t})


def test_build_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match="needs an HRNetArch"):
        build_hrnet(HRNET_W32_ARCH.to_dict())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_joints must be a positive integer, got 0"):
        build_hrnet(HRNET_W32_ARCH, num_joints=0)
    with pytest.raises(ValueError, match=r"expected a batch of RGB images shaped \(N, 3, H, W\)"):
        build_hrnet(HRNET_W32_SPACE.smallest())(torch.zeros(1, 1, 64, 48))


def test_hrnet_w32_parameters_and_macs_match_mmpose(hrnet_w32: torch.nn.Module) -> None:
    assert sum(p.numel() for p in hrnet_w32.parameters()) == MMPOSE_HRNET_W32_PARAMS
    counted = measure_complexity(hrnet_w32, (256, 192))
    assert (counted.params, counted.macs) == (MMPOSE_HRNET_W32_PARAMS, MMPOSE_HRNET_W32_MACS)


# ------------------------------------------------------------------------------------------ MMPose key mapping
def test_key_mapping_round_trips(hrnet_w32: torch.nn.Module) -> None:
    state = hrnet_w32.state_dict()
    mmpose = hrnet_to_mmpose_keys(state)
    assert len(mmpose) == len(state) == 1754
    for key in (
        "backbone.conv1.weight",
        "backbone.bn2.running_var",
        "backbone.layer1.0.downsample.1.weight",
        "backbone.layer1.3.conv3.weight",
        "backbone.transition1.0.0.weight",  # existing branch, width 256 -> 32
        "backbone.transition1.1.0.0.weight",  # new branch
        "backbone.transition3.3.0.1.num_batches_tracked",
        "backbone.stage2.0.branches.1.3.bn2.bias",
        "backbone.stage3.3.fuse_layers.2.0.1.0.weight",  # 2-step chain 32 -> 32 -> 128
        "backbone.stage4.2.fuse_layers.0.3.1.running_mean",
        "head.final_layer.bias",
    ):
        assert key in mmpose, key
    assert not any(".stage4.2.fuse_layers.1." in key for key in mmpose)  # last module: highest resolution only
    assert mmpose["backbone.transition1.1.0.0.weight"].shape == (64, 256, 3, 3)
    back = hrnet_from_mmpose_keys(mmpose)
    assert list(back) == list(state)
    assert all(back[key] is state[key] for key in state)


def test_key_mapping_reads_other_mmpose_forms_and_rejects_unknown_keys() -> None:
    tensor = torch.zeros(1)
    converted = hrnet_from_mmpose_keys(
        {
            "module.backbone.conv1.weight": tensor,
            "keypoint_head.final_layer.weight": tensor,
            "data_preprocessor.mean": tensor,
        }
    )
    assert set(converted) == {"backbone.stem.0.conv.weight", "head.final_layer.weight"}
    with pytest.raises(ValueError, match=r"'backbone.transition1.1.0.weight' is no HRNet transition tensor"):
        hrnet_from_mmpose_keys({"backbone.transition1.1.0.weight": tensor})
    with pytest.raises(ValueError, match=r"from MMPose: key 'backbone.stage2.0.foo.weight' has no counterpart"):
        hrnet_from_mmpose_keys({"backbone.stage2.0.foo.weight": tensor})
    attention = build_hrnet(_edit_branch(HRNET_W32_SPACE.smallest(), 1, 0, attention=True)).state_dict()
    with pytest.raises(ValueError, match=r"to MMPose: key 'backbone.stages.1.hr_modules.0.branches.0.0.attention"):
        hrnet_to_mmpose_keys(attention)


def test_space_module_does_not_import_torch() -> None:
    code = "import sys, vipnas.space.hrnet; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
