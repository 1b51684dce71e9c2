"""The HRNet supernet: at any arch it computes what the extracted static network computes; the arch is explicit
state, restored by ``using``; invalid archs are named errors; training touches only the active slice; analytic
complexity equals the hooks' count; F1..F4; checkpoints and ONNX export."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import pytest
import torch

import vipnas
from vipnas.cli import main
from vipnas.elastic.ops import ElasticModule
from vipnas.models.complexity import measure_complexity
from vipnas.models.export import export_onnx, read_onnx_metadata
from vipnas.models.hrnet_complexity import hrnet_complexity
from vipnas.models.hrnet_network import HRNetNetwork, hrnet_space_from_dict, hrnet_space_to_dict
from vipnas.models.hrnet_supernet import HRNetSupernet
from vipnas.nn.hrnet import build_hrnet
from vipnas.space import (
    HRNET_W32_ARCH,
    HRNET_W32_SPACE,
    S_VIPNAS_RES50_ARCH,
    BranchSpace,
    HRNetArch,
    HRNetSearchSpace,
    HRStageSpace,
    InvalidArchError,
    hrnet_feature_points,
)

INPUT = (64, 64)  # the supernets' metadata (multiples of 32)
X_SIZE = (64, 48)  # what the tests feed: heatmaps 16x12, the stride-32 branch 2x2

# A three-stage space with what HRNET_W32_SPACE keeps fixed: kernel sizes {3, 5}, blocks {1, 2}, a branch whose
# transition is always the identity (stage 2 -> 3, branch 2: width 16 only) and groups that store fewer channels.
TINY_SPACE = HRNetSearchSpace(
    name="hrnet_tiny",
    stem_widths=(8, 16),
    stages=(
        HRStageSpace(depths=(1, 2), blocks=(1,), branches=(BranchSpace(widths=(4, 8), groups=(2, 4)),)),
        HRStageSpace(
            depths=(1,),
            blocks=(1, 2),
            branches=(BranchSpace((4, 8), (1, 4)), BranchSpace((16,), (1, 8), kernel_sizes=(3, 5))),
        ),
        HRStageSpace(
            depths=(1, 2),
            branches=(BranchSpace((4, 8), (1,)), BranchSpace((16,), (1, 4)), BranchSpace((8, 16), (1, 8), (3, 5))),
            blocks=(1, 2),
        ),
    ),
)
MMPOSE_HRNET_W32 = (28_536_113, 7_645_003_776)  # parameters, MACs at 256x192 (tests/models/test_hrnet.py)


@pytest.fixture(scope="module", params=[HRNET_W32_SPACE, TINY_SPACE], ids=lambda space: space.name)
def supernet(request, randomized) -> HRNetSupernet:
    return randomized(HRNetSupernet(request.param, input_size=INPUT), seed=3).eval()


def _images(batch: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 3, *X_SIZE, generator=torch.Generator().manual_seed(seed))


def _archs(space: HRNetSearchSpace, count: int, seed: int) -> list[HRNetArch]:
    rng = random.Random(seed)
    official = [HRNET_W32_ARCH] if space == HRNET_W32_SPACE else []
    return [*official, space.largest(), space.smallest(), *(space.sample(rng) for _ in range(count))]


def test_supernet_at_arch_equals_extracted_subnet(supernet: HRNetSupernet) -> None:
    x = _images()
    archs = _archs(supernet.space, 20, seed=11)
    # some archs keep a branch's width from one stage to the next: that transition is the identity
    assert any(
        a.stage_out_channels(k - 1)[i] == b.width
        for a in archs
        for k in range(1, len(a.stages))
        for i, b in enumerate(a.stages[k].branches[:-1])
    )
    assert any(b.attention for a in archs for s in a.stages for b in s.branches)
    assert any(b.groups > 1 for a in archs for s in a.stages for b in s.branches)
    for number, arch in enumerate(archs):
        with torch.no_grad():
            with supernet.using(arch):
                expected = supernet(x)
            subnet = supernet.extract_subnet(arch).eval()
            got = subnet(x)
        assert got.shape == (2, 17, X_SIZE[0] // 4, X_SIZE[1] // 4)
        assert expected.abs().max() > 1e-2  # randomised weights: the comparison is not between zeros
        tolerance = 1e-5 * float(expected.abs().max())
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=tolerance)
        if number < 3:  # the bare nn twin (vipnas.nn.hrnet.build_hrnet) takes the same keys and shapes
            plain = build_hrnet(arch).eval()
            plain.load_state_dict(supernet.subnet_state_dict(arch), strict=True)
            with torch.no_grad():
                torch.testing.assert_close(plain(x), expected, rtol=1e-4, atol=tolerance)
        assert not any(isinstance(m, ElasticModule) for m in subnet.modules())  # plain torch.nn only
        assert isinstance(subnet, HRNetNetwork) and subnet.arch == arch
        assert subnet.metadata.arch == arch.to_dict() and subnet.metadata.input_size == INPUT


def test_subnet_parameters_are_copies_not_views(supernet: HRNetSupernet) -> None:
    subnet = supernet.extract_subnet(supernet.space.smallest())
    before = {name: value.clone() for name, value in supernet.state_dict().items()}
    with torch.no_grad():
        for p in subnet.parameters():
            p.add_(1.0)
    after = supernet.state_dict()
    assert before.keys() == after.keys() and len(before) > 50
    for name, value in before.items():
        assert torch.equal(after[name], value), name
    storages = {p.untyped_storage().data_ptr() for p in supernet.parameters()}
    assert not any(p.untyped_storage().data_ptr() in storages for p in subnet.parameters())


def test_using_restores_previous_arch_even_on_error(supernet: HRNetSupernet) -> None:
    start, small = supernet.arch, supernet.smallest_arch()
    assert start == supernet.largest_arch() != small
    with supernet.using(small) as net:
        assert net is supernet and supernet.arch == small and supernet.backbone.arch == small
    assert supernet.arch == start and supernet.backbone.arch == start
    with pytest.raises(RuntimeError, match="boom"), supernet.using(small):
        raise RuntimeError("boom")
    assert supernet.arch == start
    assert supernet.space.contains(supernet.sample_arch(random.Random(0)))


def _edit_branch(arch: HRNetArch, stage: int, branch: int, **changes: object) -> HRNetArch:
    branches = list(arch.stages[stage].branches)
    branches[branch] = replace(branches[branch], **changes)
    stages = list(arch.stages)
    stages[stage] = replace(stages[stage], branches=tuple(branches))
    return replace(arch, stages=tuple(stages))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda a: _edit_branch(a, 2, 1, width=40), r"arch\.stages\[2\]\.branches\[1\]\.width=40 is outside"),
        (lambda a: _edit_branch(a, 0, 0, groups=32), r"arch\.stages\[0\]\.branches\[0\]\.groups=32 is outside"),
        (lambda a: _edit_branch(a, 1, 1, kernel_size=5), r"arch\.stages\[1\]\.branches\[1\]\.kernel_size=5"),
        (lambda a: replace(a, stem_width=24), r"arch\.stem_width=24 is outside the search space"),
        (
            lambda a: replace(a, stages=(*a.stages[:3], replace(a.stages[3], depth=4))),
            r"arch\.stages\[3\]\.depth=4 is outside the search space; allowed: \[2, 3\]",
        ),
        (lambda a: S_VIPNAS_RES50_ARCH, "expected an HRNetArch for search space hrnet_w32, got Arch"),
    ],
)
def test_activate_rejects_archs_outside_the_space(edit, message: str) -> None:
    net = HRNetSupernet(HRNET_W32_SPACE, input_size=INPUT)
    small = HRNET_W32_SPACE.smallest()
    net.activate(small)
    with pytest.raises(InvalidArchError, match=message):
        net.activate(edit(HRNET_W32_ARCH))
    assert net.arch == small  # validated before anything is configured
    with pytest.raises(InvalidArchError, match=message), net.using(edit(HRNET_W32_ARCH)):
        pass
    assert net.arch == small


def test_training_step_updates_only_the_active_slice(randomized) -> None:
    net = randomized(HRNetSupernet(HRNET_W32_SPACE, input_size=INPUT), seed=5).train()
    arch = _edit_branch(HRNET_W32_SPACE.smallest(), 3, 1, width=32, attention=False)  # branch 2 of 4: 32 of 64
    arch = _edit_branch(arch, 3, 0, attention=True)
    net.activate(arch)
    last = net.backbone.stages[3]
    block = last.hr_modules[0].branches[1][0]
    before = block.bn1.running_mean.clone()
    net(_images()).square().mean().backward()
    assert not torch.equal(block.bn1.running_mean[:32], before[:32])
    assert torch.equal(block.bn1.running_mean[32:], before[32:])
    grad = block.conv1.weight.grad  # (64, 64, 3, 3): the first 32 filters, 2 input slots each (groups 16)
    assert grad[:32].abs().sum() > 0 and grad[32:].abs().sum() == 0
    assert block.attention is not None and all(p.grad is None for p in block.attention.parameters())
    assert last.hr_modules[0].branches[0][0].attention.reduce.weight.grad.abs().sum() > 0
    skipped = [last.hr_modules[2], net.backbone.stages[0][3], net.backbone.stages[2].hr_modules[3]]  # depth 2, 2, 2
    assert all(p.grad is None for module in skipped for p in module.parameters())
    final = last.hr_modules[1]  # the last kept module fuses into branch 1 only
    assert final.fuse.outputs == 1 and all(p.grad is None for p in final.fuse[1].parameters())
    assert last.hr_modules[0].fuse.outputs == 4 and last.hr_modules[2].fuse.max_outputs == 1


def test_analytic_complexity_equals_the_hooks_count() -> None:
    assert (hrnet_complexity(HRNET_W32_ARCH).params, hrnet_complexity(HRNET_W32_ARCH).macs) == MMPOSE_HRNET_W32
    measured = measure_complexity(build_hrnet(HRNET_W32_ARCH), (256, 192))
    assert (measured.params, measured.macs) == MMPOSE_HRNET_W32
    rng = random.Random(2)
    archs = [HRNET_W32_SPACE.largest(), HRNET_W32_SPACE.smallest(), *(HRNET_W32_SPACE.sample(rng) for _ in range(10))]
    archs += _archs(TINY_SPACE, 3, seed=4)
    for number, arch in enumerate(archs):
        joints, size = (14, (50, 37)) if number % 4 == 3 else (17, X_SIZE)  # odd sizes: every halving rounds up
        expected = measure_complexity(build_hrnet(arch, num_joints=joints), size)
        assert hrnet_complexity(arch, num_joints=joints, input_size=size) == expected, arch.describe()
    with pytest.raises(TypeError, match="needs an HRNetArch"):
        hrnet_complexity(S_VIPNAS_RES50_ARCH)  # type: ignore[arg-type]


def test_feature_points_follow_the_active_arch(supernet: HRNetSupernet) -> None:
    arch = supernet.sample_arch(random.Random(11))
    x = _images(1)
    subnet = supernet.extract_subnet(arch).eval()
    with supernet.using(arch), torch.no_grad():
        points = supernet.feature_info
        features = supernet.forward_features(x)
        doubled = supernet(x, after={1: lambda t: 2 * t})
        assert torch.equal(supernet.head(features[-1]), supernet(x))
    assert points == hrnet_feature_points(arch) == subnet.feature_info
    assert [p.name for p in points] == [f"F{k + 1}" for k in range(len(arch.stages))]
    assert [tuple(f.shape) for f in features] == [(1, p.channels, 16, 12) for p in points]
    with torch.no_grad():
        for mine, theirs in zip(features, subnet.forward_features(x), strict=True):
            torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-5 * float(theirs.abs().max()))
        theirs = subnet(x, after={1: lambda t: 2 * t})
        torch.testing.assert_close(theirs, doubled, rtol=1e-4, atol=1e-5 * float(theirs.abs().max()))
    with pytest.raises(ValueError, match=r"stage\(s\) \[7\] do not exist"):
        supernet(x, after={7: lambda t: t})
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        supernet(torch.zeros(1, 1, *X_SIZE))


def test_checkpoint_round_trip(tmp_path, randomized, capsys) -> None:
    assert hrnet_space_from_dict(hrnet_space_to_dict(HRNET_W32_SPACE)) == HRNET_W32_SPACE
    supernet = randomized(HRNetSupernet(TINY_SPACE, input_size=INPUT, num_joints=14, dataset="CROWDPOSE")).eval()
    vipnas.save_model(supernet, tmp_path / "supernet.pth")
    loaded = vipnas.load_model(tmp_path / "supernet.pth")
    assert isinstance(loaded, HRNetSupernet) and loaded.space == TINY_SPACE and loaded.metadata == supernet.metadata
    arch = TINY_SPACE.sample(random.Random(1))
    x = _images(1)
    vipnas.save_model(loaded.extract_subnet(arch, name="tiny"), tmp_path / "subnet.pth")
    reloaded = vipnas.load_model(tmp_path / "subnet.pth")
    assert isinstance(reloaded, HRNetNetwork) and not reloaded.training
    assert reloaded.arch == arch and reloaded.metadata.name == "tiny" and reloaded.metadata.num_joints == 14
    with torch.no_grad(), supernet.using(arch):
        torch.testing.assert_close(reloaded(x), supernet(x))
    (tmp_path / "arch.json").write_text(json.dumps({"arch": arch.to_dict()}))  # a wrapped arch, as search writes
    assert vipnas.create_model(str(tmp_path / "arch.json"), input_size=INPUT).arch == arch
    assert vipnas.create_model(arch.to_dict(), input_size=INPUT).arch == arch
    assert main(["info", str(tmp_path / "supernet.pth"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["space"] == "hrnet_tiny"
    with pytest.raises(ValueError, match=r"space\.stages\[0\]: expected the fields"):
        hrnet_space_from_dict({**hrnet_space_to_dict(TINY_SPACE), "stages": [{"depths": [1]}]})


def test_info_prints_hrnet_figures(capsys) -> None:
    assert main(["info", "hrnet_w32", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["params"], result["macs"]) == MMPOSE_HRNET_W32 and result["arch"]["family"] == "hrnet"
    assert main(["info", "hrnet_w32_supernet"]) == 0
    text = capsys.readouterr().out
    assert "supernet of search space 'hrnet_w32'" in text and "largest : 29,385,137 parameters" in text


def test_onnx_export_of_extracted_subnets(tmp_path, randomized) -> None:
    supernet = randomized(HRNetSupernet(HRNET_W32_SPACE, input_size=INPUT), seed=7)
    for number, arch in enumerate([HRNET_W32_ARCH, HRNET_W32_SPACE.sample(random.Random(8))]):
        subnet = supernet.extract_subnet(arch).eval()
        path = tmp_path / f"hrnet{number}.onnx"
        difference = export_onnx(subnet, path)  # raises when ONNX Runtime differs from torch
        assert difference is not None
        assert read_onnx_metadata(path)["arch"] == arch.to_dict()
