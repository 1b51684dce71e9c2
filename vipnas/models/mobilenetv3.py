"""Static MobileNetV3-family backbone: S-ViPNAS-MobileNetV3 and MobileNetV3 sub-networks.

Structure follows MMPose's ``ViPNAS_MobileNetV3`` and its ``InvertedResidual``: an optional 1x1 expansion
(absent when the expansion ratio is 1), the searched KxK grouped middle convolution, the optional SE block on
the middle features (so "at the end of the block" in the paper means before the projection), a linear 1x1
projection, and an identity shortcut when stride is 1 and the width is unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from vipnas.models.layers import SqueezeExcite, StagedBackbone, conv_norm_act, make_stem
from vipnas.space.arch import Arch
from vipnas.space.family import MOBILENETV3, se_channels

__all__ = ["MobileBlock", "MobileNetV3Backbone"]


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


class MobileNetV3Backbone(StagedBackbone):
    """Stem (3x3 stride-2 conv, BN, h-swish) and six mobile-block stages.

    ``forward`` returns the list of the six stage outputs; F1..F4 are stages 2, 3, 5, 6 (strides 4, 8, 16, 32).
    """

    def __init__(self, arch: Arch) -> None:
        super().__init__()
        if arch.family != "mobilenetv3":
            raise ValueError(f"MobileNetV3Backbone needs a 'mobilenetv3' arch, got family {arch.family!r}")
        self.arch = arch
        spec = MOBILENETV3
        self.stem = make_stem(
            arch.stem.width, arch.stem.kernel_size, stride=spec.stem_stride, activation=spec.stem_activation, pool=False
        )
        stages = []
        in_channels = arch.stem.width
        for stage, stride, activation in zip(arch.stages, spec.stage_strides, spec.stage_activations, strict=True):
            blocks = []
            for index in range(stage.depth):
                blocks.append(
                    MobileBlock(
                        in_channels=in_channels,
                        out_channels=stage.width,
                        middle_channels=spec.middle_channels(stage),
                        kernel_size=stage.kernel_size,
                        groups=stage.groups,
                        stride=stride if index == 0 else 1,
                        attention=stage.attention,
                        activation=activation,
                        expansion=stage.expand_ratio != 1,
                    )
                )
                in_channels = stage.width
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        self.out_channels = in_channels

    @property
    def feature_info(self) -> list[dict[str, int]]:
        """Channels and stride of each stage output."""
        info, stride = [], MOBILENETV3.stem_stride
        for stage, s in zip(self.arch.stages, MOBILENETV3.stage_strides, strict=True):
            stride *= s
            info.append({"channels": stage.width, "stride": stride})
        return info
