"""Supernets: output at an arch equals the extracted static subnet's output; arch state is explicit and
restored by the context manager; invalid archs are rejected; training-mode statistics touch only the slice."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from vipnas.elastic.ops import ElasticModule
from vipnas.models.pose import PoseNetwork
from vipnas.models.supernet import PoseSupernet
from vipnas.space import (
    CPU_EFFICIENT_SPACE,
    MOBILENETV3_SPACE,
    RESNET50_SPACE,
    S_VIPNAS_MBV3_ARCH,
    S_VIPNAS_RES50_ARCH,
    InvalidArchError,
)

INPUT = (64, 64)


@pytest.fixture(scope="module", params=[RESNET50_SPACE, MOBILENETV3_SPACE, CPU_EFFICIENT_SPACE], ids=lambda s: s.name)
def supernet(request, randomized) -> PoseSupernet:
    return randomized(PoseSupernet(request.param, input_size=INPUT), seed=3).eval()


def _archs(space, count: int, seed: int):
    rng = random.Random(seed)
    return [space.largest(), space.smallest()] + [space.sample(rng) for _ in range(count)]


def test_supernet_at_arch_equals_extracted_subnet(supernet: PoseSupernet) -> None:
    x = torch.randn(2, 3, *INPUT, generator=torch.Generator().manual_seed(0))
    official = {"resnet": [S_VIPNAS_RES50_ARCH], "mobilenetv3": [S_VIPNAS_MBV3_ARCH]}.get(supernet.space.family, [])
    for arch in [*official, *_archs(supernet.space, 20, seed=11)]:
        with torch.no_grad():
            with supernet.using(arch):
                expected = supernet(x)
            subnet = supernet.extract_subnet(arch).eval()
            got = subnet(x)
        assert got.shape == (2, 17, INPUT[0] // 4, INPUT[1] // 4)
        assert expected.abs().max() > 1e-3  # randomised weights: the comparison is not between zeros
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))
        assert not any(isinstance(m, ElasticModule) for m in subnet.modules())  # plain torch.nn only
        assert isinstance(subnet, PoseNetwork) and subnet.arch == arch


def test_subnet_parameters_are_copies_not_views(supernet: PoseSupernet) -> None:
    subnet = supernet.extract_subnet(supernet.space.smallest())
    before = {name: value.clone() for name, value in supernet.state_dict().items()}
    with torch.no_grad():
        for p in subnet.parameters():
            p.add_(1.0)
    after = supernet.state_dict()
    assert before.keys() == after.keys() and len(before) > 10
    for name, value in before.items():  # every family: no supernet tensor moved with the subnet's
        assert torch.equal(after[name], value), name
    storages = {p.untyped_storage().data_ptr() for p in supernet.parameters()}
    assert not any(p.untyped_storage().data_ptr() in storages for p in subnet.parameters())


def test_using_restores_previous_arch_even_on_error(supernet: PoseSupernet) -> None:
    space = supernet.space
    start = supernet.arch
    small = space.smallest()
    with supernet.using(small):
        assert supernet.arch == small
    assert supernet.arch == start
    with pytest.raises(RuntimeError, match="boom"), supernet.using(small):
        raise RuntimeError("boom")
    assert supernet.arch == start


def test_activate_rejects_archs_outside_the_space(supernet: PoseSupernet) -> None:
    other = S_VIPNAS_MBV3_ARCH if supernet.space.family == "resnet" else S_VIPNAS_RES50_ARCH
    with pytest.raises(InvalidArchError):
        supernet.activate(other)


def test_features_and_depth() -> None:
    net = PoseSupernet(RESNET50_SPACE, input_size=INPUT).eval()
    arch = RESNET50_SPACE.smallest()
    with net.using(arch), torch.no_grad():
        features = net.forward_features(torch.zeros(1, 3, *INPUT))
        assert [stage.depth for stage in net.backbone.stages] == [3, 4, 6, 3]
    assert [stage.depth for stage in net.backbone.stages] == [4, 6, 8, 4]  # restored to the largest
    assert [f.shape[1] for f in features] == [64, 128, 256, 512]
    assert [INPUT[0] // f.shape[2] for f in features] == [4, 8, 16, 32]
    static = net.extract_subnet(arch)
    assert [len(stage) for stage in static.backbone.stages] == [3, 4, 6, 3]
    assert static.feature_stages == (0, 1, 2, 3)
    assert [info.channels for info in static.backbone.feature_info] == [64, 128, 256, 512]


def test_training_step_updates_only_active_slice_statistics() -> None:
    net = PoseSupernet(MOBILENETV3_SPACE, input_size=INPUT).train()
    arch = MOBILENETV3_SPACE.smallest()
    bn = net.backbone.stages[1][0].middle.bn  # middle width 72 of max 144 at the smallest arch
    before = bn.running_mean.clone()
    net.activate(arch)
    out = net(torch.randn(2, 3, *INPUT))
    out.square().mean().backward()
    assert not torch.equal(bn.running_mean[:72], before[:72])
    assert torch.equal(bn.running_mean[72:], before[72:])
    grad = net.backbone.stages[1][0].middle.conv.weight.grad
    assert grad[:72].abs().sum() > 0 and grad[72:].abs().sum() == 0  # unused filters get no gradient
    inactive_block = net.backbone.stages[1][3]  # depth 2: the 4th block is skipped
    assert all(p.grad is None for p in inactive_block.parameters())


def test_supernet_holds_only_what_its_space_needs() -> None:
    net = PoseSupernet(RESNET50_SPACE, input_size=INPUT)
    conv2 = net.backbone.stages[0][0].conv2
    # stage 1: widths 64/80 with at least 16 groups -> at most 5 input channels per group need storing
    assert tuple(conv2.weight.shape) == (80, 5, 5, 5)
    assert isinstance(net.backbone.stem.pool, nn.MaxPool2d)
