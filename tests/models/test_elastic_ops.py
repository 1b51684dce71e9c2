"""Every elastic op at its maximum equals the plain torch op with the same weights; slices follow the paper's
conventions (first filters, centred kernels, first I/g inputs); invalid configurations are named errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vipnas.elastic.blocks import ElasticGlobalContext, ElasticSqueezeExcite, subnet_state_dict
from vipnas.elastic.ops import ElasticBatchNorm2d, ElasticConv2d, ElasticConvTranspose2d, ElasticLayerNorm
from vipnas.nn.layers import GlobalContext, SqueezeExcite
from vipnas.space.family import gc_planes, se_channels


def _copy(static: nn.Module, elastic: nn.Module) -> None:
    static.load_state_dict({k: v for k, v in elastic.state_dict().items()}, strict=True)


@pytest.mark.parametrize("groups", [1, 4])
@pytest.mark.parametrize("bias", [False, True])
def test_conv_at_max_equals_torch(groups: int, bias: bool) -> None:
    torch.manual_seed(0)
    elastic = ElasticConv2d(16, 24, 5, stride=2, bias=bias, max_in_per_group=16 // groups)
    elastic.activate(16, 24, 5, groups)
    plain = nn.Conv2d(16, 24, 5, 2, 2, groups=groups, bias=bias)
    _copy(plain, elastic)
    x = torch.randn(2, 16, 11, 9)
    torch.testing.assert_close(elastic(x), plain(x), rtol=0, atol=0)


def test_conv_slices_first_filters_centre_kernel_and_first_inputs_per_group() -> None:
    torch.manual_seed(1)
    elastic = ElasticConv2d(16, 32, 7, max_in_per_group=8)
    elastic.activate(12, 20, 3, 4)  # 4 groups over 12 inputs: 3 input slots per filter
    weight = elastic.weight.detach()
    expected = weight[:20, :3, 2:5, 2:5]  # first 20 filters, first 12/4 inputs, centre 3x3 of 7x7
    torch.testing.assert_close(elastic.active_weight().detach(), expected)
    x = torch.randn(1, 12, 8, 8)
    torch.testing.assert_close(elastic(x), F.conv2d(x, expected, None, 1, 1, 1, 4))
    static = elastic.to_static()
    assert type(static) is nn.Conv2d and static.groups == 4 and static.kernel_size == (3, 3)
    torch.testing.assert_close(static(x), elastic(x))


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ((16, 32, 4, 1), "kernel size 4"),  # not a centred crop of 7 (parity)
        ((16, 32, 9, 1), "kernel size 9"),
        ((12, 32, 3, 5), "group number 5"),  # 5 does not divide 12
        ((16, 32, 3, 1), "per group"),  # dense needs 16 inputs per group, weight holds 8
        ((17, 32, 3, 1), "exceeds the max"),
    ],
)
def test_conv_rejects_invalid_configuration(config: tuple[int, int, int, int], message: str) -> None:
    elastic = ElasticConv2d(16, 32, 7, max_in_per_group=8)
    with pytest.raises(ValueError, match=message):
        elastic.activate(*config)


def test_conv_checks_input_channels() -> None:
    elastic = ElasticConv2d(8, 8, 3)
    elastic.activate(6, 8, 3)
    with pytest.raises(RuntimeError, match="configured for 6 input channels but received 8"):
        elastic(torch.randn(1, 8, 4, 4))


@pytest.mark.parametrize("groups", [1, 8])
def test_deconv_at_max_equals_torch(groups: int) -> None:
    torch.manual_seed(2)
    elastic = ElasticConvTranspose2d(16, 32, 4, max_out_per_group=32 // groups)
    elastic.activate(16, 32, 4, groups)
    plain = nn.ConvTranspose2d(16, 32, 4, 2, 1, 0, groups=groups, bias=False)
    _copy(plain, elastic)
    x = torch.randn(2, 16, 6, 5)
    torch.testing.assert_close(elastic(x), plain(x), rtol=0, atol=0)
    assert elastic(x).shape[-2:] == (12, 10)


def test_deconv_kernel_two_is_the_centre_of_four_and_doubles_resolution() -> None:
    torch.manual_seed(3)
    elastic = ElasticConvTranspose2d(8, 16, 4)
    elastic.activate(8, 12, 2, 4)
    expected = elastic.weight.detach()[:8, :3, 1:3, 1:3]
    torch.testing.assert_close(elastic.active_weight().detach(), expected)
    x = torch.randn(1, 8, 5, 7)
    out = elastic(x)
    assert out.shape == (1, 12, 10, 14)
    torch.testing.assert_close(out, F.conv_transpose2d(x, expected, None, 2, 0, 0, 4))
    torch.testing.assert_close(elastic.to_static()(x), out)
    with pytest.raises(ValueError, match="kernel size 3"):
        elastic.activate(8, 12, 3, 1)


@pytest.mark.parametrize("training", [False, True])
def test_batchnorm_at_max_equals_torch_and_slices_share_statistics(training: bool) -> None:
    torch.manual_seed(4)
    elastic = ElasticBatchNorm2d(8)
    plain = nn.BatchNorm2d(8)
    with torch.no_grad():
        for module in (elastic, plain):
            module.weight.copy_(torch.linspace(0.5, 1.5, 8))
            module.bias.copy_(torch.linspace(-1, 1, 8))
    elastic.train(training)
    plain.train(training)
    x = torch.randn(4, 8, 3, 3) * 2 + 1
    torch.testing.assert_close(elastic(x), plain(x))
    torch.testing.assert_close(elastic.running_mean, plain.running_mean)
    torch.testing.assert_close(elastic.running_var, plain.running_var)
    if training:  # a 5-channel slice updates only the first 5 running statistics, in place
        before = elastic.running_mean.clone()
        elastic.activate(5)
        elastic(x[:, :5])
        assert not torch.equal(elastic.running_mean[:5], before[:5])
        assert torch.equal(elastic.running_mean[5:], before[5:])


def test_batchnorm_cumulative_momentum_gives_exact_average() -> None:
    elastic = ElasticBatchNorm2d(4, momentum=None)
    elastic.train()
    batches = [torch.randn(8, 4, 2, 2) + i for i in range(3)]
    for batch in batches:
        elastic(batch)
    means = torch.stack([b.mean(dim=(0, 2, 3)) for b in batches]).mean(0)
    torch.testing.assert_close(elastic.running_mean, means)


def test_layernorm_at_max_equals_torch() -> None:
    elastic = ElasticLayerNorm(6)
    plain = nn.LayerNorm([6, 1, 1])
    with torch.no_grad():
        elastic.weight.normal_()
        elastic.bias.normal_()
    _copy(plain, elastic)
    x = torch.randn(3, 6, 1, 1)
    torch.testing.assert_close(elastic(x), plain(x))


def test_global_context_at_max_and_at_a_slice_equals_static() -> None:
    torch.manual_seed(5)
    elastic = ElasticGlobalContext(64)
    with torch.no_grad():
        for p in elastic.parameters():
            p.normal_(0, 0.3)
    for channels in (64, 48):
        elastic.activate(channels)
        static = GlobalContext(channels, gc_planes(channels))
        static.load_state_dict(subnet_state_dict(elastic), strict=True)
        x = torch.randn(2, channels, 5, 4)
        torch.testing.assert_close(elastic(x), static(x))
        assert not torch.allclose(static(x), x)  # the block does something


def test_squeeze_excite_at_a_slice_equals_static() -> None:
    torch.manual_seed(6)
    elastic = ElasticSqueezeExcite(96)
    with torch.no_grad():
        for p in elastic.parameters():
            p.normal_(0, 0.3)
    for channels in (96, 72):
        elastic.activate(channels)
        static = SqueezeExcite(channels, se_channels(channels))
        static.load_state_dict(subnet_state_dict(elastic), strict=True)
        x = torch.randn(2, channels, 5, 4)
        torch.testing.assert_close(elastic(x), static(x))
