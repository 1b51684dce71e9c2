"""Static ResNet-family backbone: S-ViPNAS-Res50, SimpleBaseline's ResNet-50 and ResNet sub-networks.

Structure follows MMPose's ``ViPNAS_ResNet`` (pytorch style: the stride sits on the middle convolution; the
GC block acts on the residual branch before the addition). One documented difference: the first block of
every stage always has a projection shortcut (1x1 conv + BN), also when its input and output shapes happen to
match, because the supernet's first block owns one for the widths where they differ and the extracted
sub-network must compute exactly what the supernet computed. The official S-ViPNAS-Res50 and ResNet-50 have a
projection in every first block anyway, so they are unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from vipnas.models.layers import GlobalContext, StagedBackbone, make_stem
from vipnas.space.arch import Arch
from vipnas.space.family import RESNET, gc_planes

__all__ = ["Bottleneck", "ResNetBackbone"]


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


class ResNetBackbone(StagedBackbone):
    """Stem (KxK conv stride 2, BN, ReLU, 3x3 max pool stride 2) and four Bottleneck stages.

    ``forward`` returns the list of stage outputs (F1..F4, strides 4, 8, 16, 32).
    """

    def __init__(self, arch: Arch) -> None:
        super().__init__()
        if arch.family != "resnet":
            raise ValueError(f"ResNetBackbone needs a 'resnet' arch, got family {arch.family!r}")
        self.arch = arch
        self.stem = make_stem(
            arch.stem.width, arch.stem.kernel_size, stride=RESNET.stem_stride, activation="relu", pool=RESNET.stem_pool
        )
        stages = []
        in_channels = arch.stem.width
        for stage, stride in zip(arch.stages, RESNET.stage_strides, strict=True):
            out_channels = RESNET.output_channels(stage)
            blocks = []
            for index in range(stage.depth):
                blocks.append(
                    Bottleneck(
                        in_channels=in_channels,
                        width=stage.width,
                        out_channels=out_channels,
                        kernel_size=stage.kernel_size,
                        groups=stage.groups,
                        stride=stride if index == 0 else 1,
                        attention=stage.attention,
                        projection=index == 0,
                    )
                )
                in_channels = out_channels
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        self.out_channels = in_channels

    @property
    def feature_info(self) -> list[dict[str, int]]:
        """Channels and stride of each stage output."""
        strides = (4, 8, 16, 32)
        return [
            {"channels": RESNET.output_channels(s), "stride": st}
            for s, st in zip(self.arch.stages, strides, strict=True)
        ]
