"""The blocks of the static networks, and :func:`build_block`: the module of one block spec.

* :class:`Bottleneck` follows MMPose's ``ViPNAS_ResNet`` (pytorch style: the stride sits on the middle convolution;
  the GC block acts on the residual branch before the addition). One documented difference: the first block of
  every stage always has a projection shortcut (1x1 conv + BN), also when its input and output shapes happen to
  match, because the supernet's first block owns one for the widths where they differ and the extracted
  sub-network must compute exactly what the supernet computed. The official S-ViPNAS-Res50 and ResNet-50 have a
  projection in every first block anyway, so they are unchanged.
* :class:`MobileBlock` follows MMPose's ``ViPNAS_MobileNetV3`` ``InvertedResidual``: an optional 1x1 expansion
  (absent when the expansion ratio is 1), the searched KxK grouped middle convolution, the optional SE block on the
  middle features (so "at the end of the block" in the paper means before the projection), a linear 1x1
  projection, and an identity shortcut when stride is 1 and the width is unchanged.
* :class:`DeconvHead` is SimpleBaseline's deconvolution head (ViPNAS makes its group number searchable): stride-2
  transposed convolutions (no bias) each followed by BN and ReLU, then a 1x1 convolution with bias to K heatmaps.
  Children are named as in MMPose's ``ViPNASHead``: ``deconv_layers`` (deconv, BN, ReLU triples) and
  ``final_layer``.
* :class:`UpsampleHead` (the CPU-efficient family) replaces each deconvolution by :class:`UpsampleLayer`: 1x1
  conv, nearest x2 upsampling, KxK depthwise or grouped conv, which deployment runtimes run near their peak.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from vipnas.nn.fusion import Fusion
from vipnas.nn.layers import GlobalContext, SqueezeExcite, conv_norm_act, deconv_padding, make_stem
from vipnas.space.blocks import BlockSpec
from vipnas.space.family import gc_planes, se_channels

__all__ = ["Bottleneck", "DeconvHead", "MobileBlock", "UpsampleHead", "UpsampleLayer", "build_block", "build_head"]


class Bottleneck(nn.Module):
    """1x1 -> KxK (grouped, strided) -> 1x1, BN after each, optional GC attention, residual add, ReLU."""

    def __init__(
        self,
        *,
        in_channels: int,
        width: int,
        out_channels: int,
        kernel_size: int,
        groups: int,
        stride: int,
        attention: bool,
        projection: bool,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, kernel_size, stride, kernel_size // 2, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.attention = GlobalContext(out_channels, gc_planes(out_channels)) if attention else None
        self.downsample = (
            nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels))
            if projection
            else None
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.attention is not None:
            out = self.attention(out)
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class MobileBlock(nn.Module):
    """Inverted residual block with searched kernel size, group number, expansion and SE attention."""

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int,
        middle_channels: int,
        kernel_size: int,
        groups: int,
        stride: int,
        attention: bool,
        activation: str,
        expansion: bool,
    ) -> None:
        super().__init__()
        self.shortcut = stride == 1 and in_channels == out_channels
        if not expansion and middle_channels != in_channels:
            raise ValueError(
                f"a block without expansion needs middle == input channels, got {middle_channels} != {in_channels}"
            )
        # expansion ratio 1 means no expansion convolution (MMPose with_expand_conv=False)
        self.expand = conv_norm_act(in_channels, middle_channels, 1, activation=activation) if expansion else None
        self.middle = conv_norm_act(
            middle_channels, middle_channels, kernel_size, stride=stride, groups=groups, activation=activation
        )
        self.attention = SqueezeExcite(middle_channels, se_channels(middle_channels)) if attention else None
        self.project = conv_norm_act(middle_channels, out_channels, 1, activation=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x if self.expand is None else self.expand(x)
        out = self.middle(out)
        if self.attention is not None:
            out = self.attention(out)
        out = self.project(out)
        return x + out if self.shortcut else out


class DeconvHead(nn.Module):
    """Deconvolution head: ``deconvs`` (each a deconv, BN, ReLU ``Sequential``, flattened into ``deconv_layers``
    as MMPose names them) and the heatmap convolution ``final``."""

    def __init__(self, deconvs: Sequence[nn.Module], final: nn.Module) -> None:
        super().__init__()
        self.deconv_layers = nn.Sequential(*(layer for deconv in deconvs for layer in deconv))
        self.final_layer = final

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H/32, W/32) features -> (N, K, H/4, W/4) heatmaps."""
        return self.final_layer(self.deconv_layers(x))


class UpsampleLayer(nn.Module):
    """One layer of the upsampling head: 1x1 conv to ``width`` channels (at the input resolution, where it is 4x
    cheaper), nearest-neighbour x2 upsampling, then a KxK convolution in ``groups`` groups (depthwise when
    ``groups == width``), each convolution followed by BN and ReLU. Children ``reduce``, ``upsample``, ``spatial``."""

    def __init__(self, *, in_channels: int, width: int, kernel_size: int, groups: int) -> None:
        super().__init__()
        self.reduce = conv_norm_act(in_channels, width, 1)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.spatial = conv_norm_act(width, width, kernel_size, groups=groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, width, 2H, 2W)."""
        return self.spatial(self.upsample(self.reduce(x)))


class UpsampleHead(nn.Module):
    """The CPU-efficient family's head: :class:`UpsampleLayer` s (children ``layers``) and the heatmap convolution
    ``final_layer`` (the name :class:`DeconvHead` and MMPose use, so that initialisation treats it alike)."""

    def __init__(self, layers: Sequence[nn.Module], final: nn.Module) -> None:
        super().__init__()
        self.layers = nn.Sequential(*layers)
        self.final_layer = final

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H/32, W/32) features -> (N, K, H/4, W/4) heatmaps."""
        return self.final_layer(self.layers(x))


def build_head(blocks: Sequence[BlockSpec]) -> nn.Module:
    """The head of a walk's head specs (its stride-2 layers, then the final 1x1)."""
    *layers, final = blocks
    modules = [build_block(block) for block in layers]
    if all(block.kind == "upsample" for block in layers):
        return UpsampleHead(modules, build_block(final))
    return DeconvHead(modules, build_block(final))


def build_block(block: BlockSpec) -> nn.Module:
    """A freshly initialised module computing ``block`` alone (what the static networks are made of, and what the
    latency table times)."""
    if block.kind == "stem":
        return make_stem(
            block.out_channels, block.kernel_size, stride=block.stride, activation=block.activation, pool=block.pool
        )
    if block.kind == "bottleneck":
        return Bottleneck(
            in_channels=block.in_channels, width=block.middle_channels, out_channels=block.out_channels,
            kernel_size=block.kernel_size, groups=block.groups, stride=block.stride, attention=block.attention,
            projection=block.projection,
        )  # fmt: skip
    if block.kind == "mobile":
        return MobileBlock(
            in_channels=block.in_channels, out_channels=block.out_channels, middle_channels=block.middle_channels,
            kernel_size=block.kernel_size, groups=block.groups, stride=block.stride, attention=block.attention,
            activation=block.activation, expansion=block.expansion,
        )  # fmt: skip
    if block.kind == "deconv":
        padding, output_padding = deconv_padding(block.kernel_size)
        return nn.Sequential(
            nn.ConvTranspose2d(
                block.in_channels, block.out_channels, block.kernel_size, block.stride, padding, output_padding,
                groups=block.groups, bias=False,
            ),
            nn.BatchNorm2d(block.out_channels),
            nn.ReLU(inplace=True),
        )  # fmt: skip
    if block.kind == "upsample":
        return UpsampleLayer(
            in_channels=block.in_channels, width=block.out_channels, kernel_size=block.kernel_size, groups=block.groups
        )
    if block.kind == "final":
        return nn.Conv2d(block.in_channels, block.out_channels, kernel_size=1)
    if block.kind == "fusion":
        return Fusion(block.in_channels, block.out_channels, block.op)
    raise ValueError(f"unknown block kind {block.kind!r}")
