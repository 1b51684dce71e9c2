"""Elastic blocks, attention modules, stages and the elastic deconvolution head.

Every container here names its children exactly like its static twin in :mod:`vipnas.models`, so the
supernet's active slice, collected by :func:`subnet_state_dict`, loads into the static network built from the
same arch with ``strict=True``: key names and shapes are checked, not assumed.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from vipnas.elastic.ops import (
    ElasticBatchNorm2d,
    ElasticConv2d,
    ElasticConvTranspose2d,
    ElasticLayerNorm,
    ElasticModule,
)
from vipnas.models.layers import HardSigmoid, global_context, make_activation
from vipnas.space.family import gc_planes, se_channels

__all__ = [
    "ElasticBottleneck",
    "ElasticConvNormAct",
    "ElasticDeconvHead",
    "ElasticGlobalContext",
    "ElasticMobileBlock",
    "ElasticSqueezeExcite",
    "ElasticStage",
    "subnet_state_dict",
]


def subnet_state_dict(module: nn.Module, prefix: str = "") -> dict[str, torch.Tensor]:
    """Collect the active slices of every elastic op under ``module``, skipping inactive blocks and attention.

    Containers may define ``active_children()`` to say which children the current arch uses.
    """
    if isinstance(module, ElasticModule):
        return {prefix + key: value for key, value in module.active_state_dict().items()}
    children: Iterator[tuple[str, nn.Module]]
    children = module.active_children() if hasattr(module, "active_children") else module.named_children()
    state: dict[str, torch.Tensor] = {}
    for name, child in children:
        state.update(subnet_state_dict(child, f"{prefix}{name}."))
    return state


class ElasticConvNormAct(nn.Module):
    """Elastic conv -> elastic BN -> activation; children ``conv``, ``bn``, ``act`` like ``conv_norm_act``."""

    def __init__(
        self,
        max_in_channels: int,
        max_out_channels: int,
        max_kernel_size: int = 1,
        *,
        stride: int = 1,
        activation: str | None = "relu",
        max_in_per_group: int | None = None,
    ) -> None:
        super().__init__()
        self.conv = ElasticConv2d(
            max_in_channels, max_out_channels, max_kernel_size, stride=stride, max_in_per_group=max_in_per_group
        )
        self.bn = ElasticBatchNorm2d(max_out_channels)
        self.act = make_activation(activation)

    def set_active(self, in_channels: int, out_channels: int, kernel_size: int | None = None, groups: int = 1) -> None:
        self.conv.set_active(in_channels, out_channels, kernel_size, groups)
        self.bn.set_active(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class ElasticGlobalContext(nn.Module):
    """GC block whose channels (and hence transform width ``gc_planes(C)``) follow the active width."""

    def __init__(self, max_channels: int) -> None:
        super().__init__()
        max_planes = max(gc_planes(c) for c in range(1, max_channels + 1))
        self.mask = ElasticConv2d(max_channels, 1, 1, bias=True)
        self.transform = nn.Sequential(
            ElasticConv2d(max_channels, max_planes, 1, bias=True),
            ElasticLayerNorm(max_planes),
            nn.ReLU(inplace=True),
            ElasticConv2d(max_planes, max_channels, 1, bias=True),
        )

    def set_active(self, channels: int) -> None:
        planes = gc_planes(channels)
        self.mask.set_active(channels, 1)
        self.transform[0].set_active(channels, planes)
        self.transform[1].set_active(planes)
        self.transform[3].set_active(planes, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.transform(global_context(x, self.mask(x)))


class ElasticSqueezeExcite(nn.Module):
    """SE block whose channels (and squeeze width ``int(C / 4)``) follow the active width."""

    def __init__(self, max_channels: int) -> None:
        super().__init__()
        max_squeeze = se_channels(max_channels)
        self.reduce = ElasticConv2d(max_channels, max_squeeze, 1, bias=True)
        self.expand = ElasticConv2d(max_squeeze, max_channels, 1, bias=True)
        self.gate = HardSigmoid()

    def set_active(self, channels: int) -> None:
        squeeze = se_channels(channels)
        self.reduce.set_active(channels, squeeze)
        self.expand.set_active(squeeze, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean(dim=(2, 3), keepdim=True)  # (N, C, 1, 1)
        return x * self.gate(self.expand(torch.relu(self.reduce(scale))))


class ElasticBottleneck(nn.Module):
    """Elastic twin of :class:`vipnas.models.resnet.Bottleneck` (width, kernel, groups, GC attention)."""

    def __init__(
        self,
        *,
        max_in_channels: int,
        max_width: int,
        expand_ratio: int,
        max_kernel_size: int,
        max_width_per_group: int,
        stride: int,
        attention: bool,
        projection: bool,
    ) -> None:
        super().__init__()
        max_out = max_width * expand_ratio
        self.expand_ratio = expand_ratio
        self.conv1 = ElasticConv2d(max_in_channels, max_width, 1)
        self.bn1 = ElasticBatchNorm2d(max_width)
        self.conv2 = ElasticConv2d(
            max_width, max_width, max_kernel_size, stride=stride, max_in_per_group=max_width_per_group
        )
        self.bn2 = ElasticBatchNorm2d(max_width)
        self.conv3 = ElasticConv2d(max_width, max_out, 1)
        self.bn3 = ElasticBatchNorm2d(max_out)
        self.attention = ElasticGlobalContext(max_out) if attention else None
        self.downsample = (
            nn.Sequential(ElasticConv2d(max_in_channels, max_out, 1, stride=stride), ElasticBatchNorm2d(max_out))
            if projection
            else None
        )
        self.relu = nn.ReLU(inplace=True)
        self.use_attention = attention

    def set_config(self, *, in_channels: int, width: int, kernel_size: int, groups: int, attention: bool) -> None:
        out = width * self.expand_ratio
        if self.downsample is None and in_channels != out:
            raise ValueError(f"a block without projection needs input == output channels, got {in_channels} != {out}")
        if attention and self.attention is None:
            raise ValueError("this block has no attention module to switch on")
        self.conv1.set_active(in_channels, width)
        self.bn1.set_active(width)
        self.conv2.set_active(width, width, kernel_size, groups)
        self.bn2.set_active(width)
        self.conv3.set_active(width, out)
        self.bn3.set_active(out)
        if self.attention is not None:
            self.attention.set_active(out)
        if self.downsample is not None:
            self.downsample[0].set_active(in_channels, out)
            self.downsample[1].set_active(out)
        self.use_attention = attention

    def active_children(self) -> Iterator[tuple[str, nn.Module]]:
        for name, child in self.named_children():
            if name != "attention" or self.use_attention:
                yield name, child

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.use_attention:
            out = self.attention(out)
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ElasticMobileBlock(nn.Module):
    """Elastic twin of :class:`vipnas.models.mobilenetv3.MobileBlock` (expansion ratio, kernel, groups, SE)."""

    def __init__(
        self,
        *,
        max_in_channels: int,
        max_out_channels: int,
        max_middle_channels: int,
        max_kernel_size: int,
        max_middle_per_group: int,
        stride: int,
        attention: bool,
        activation: str,
        expansion: bool,
    ) -> None:
        super().__init__()
        self.stride = stride
        self.expand = (
            ElasticConvNormAct(max_in_channels, max_middle_channels, 1, activation=activation) if expansion else None
        )
        self.middle = ElasticConvNormAct(
            max_middle_channels,
            max_middle_channels,
            max_kernel_size,
            stride=stride,
            activation=activation,
            max_in_per_group=max_middle_per_group,
        )
        self.attention = ElasticSqueezeExcite(max_middle_channels) if attention else None
        self.project = ElasticConvNormAct(max_middle_channels, max_out_channels, 1, activation=None)
        self.use_attention = attention
        self.shortcut = stride == 1 and max_in_channels == max_out_channels

    def set_config(
        self,
        *,
        in_channels: int,
        out_channels: int,
        middle_channels: int,
        kernel_size: int,
        groups: int,
        attention: bool,
    ) -> None:
        if self.expand is None and middle_channels != in_channels:
            raise ValueError(
                f"a block without expansion needs middle == input channels, got {middle_channels} != {in_channels}"
            )
        if attention and self.attention is None:
            raise ValueError("this block has no attention module to switch on")
        if self.expand is not None:
            self.expand.set_active(in_channels, middle_channels)
        self.middle.set_active(middle_channels, middle_channels, kernel_size, groups)
        if self.attention is not None:
            self.attention.set_active(middle_channels)
        self.project.set_active(middle_channels, out_channels)
        self.use_attention = attention
        self.shortcut = self.stride == 1 and in_channels == out_channels

    def active_children(self) -> Iterator[tuple[str, nn.Module]]:
        for name, child in self.named_children():
            if name != "attention" or self.use_attention:
                yield name, child

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x if self.expand is None else self.expand(x)
        out = self.middle(out)
        if self.use_attention:
            out = self.attention(out)
        out = self.project(out)
        return x + out if self.shortcut else out


class ElasticStage(nn.Module):
    """A stage of up to ``len(blocks)`` blocks of which the first ``depth`` run (elastic depth, Fig. A1).

    Blocks are children ``"0"``, ``"1"``, ... like the static stage's ``nn.Sequential``."""

    def __init__(self, blocks: list[nn.Module]) -> None:
        super().__init__()
        for index, block in enumerate(blocks):
            self.add_module(str(index), block)
        self.max_depth = len(blocks)
        self.depth = self.max_depth

    def __getitem__(self, index: int) -> nn.Module:
        return getattr(self, str(index))

    def set_depth(self, depth: int) -> None:
        if not 1 <= depth <= self.max_depth:
            raise ValueError(f"stage depth {depth} is outside 1..{self.max_depth}")
        self.depth = depth

    def active_blocks(self) -> list[nn.Module]:
        return [self[i] for i in range(self.depth)]

    def active_children(self) -> Iterator[tuple[str, nn.Module]]:
        for index in range(self.depth):
            yield str(index), self[index]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.active_blocks():
            x = block(x)
        return x


class ElasticDeconvHead(nn.Module):
    """Elastic twin of :class:`vipnas.models.head.DeconvHead` (width, deconv kernel, group number)."""

    def __init__(
        self,
        *,
        max_in_channels: int,
        max_width: int,
        max_kernel_size: int,
        max_width_per_group: int,
        num_joints: int,
        num_layers: int = 3,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = max_in_channels
        for _ in range(num_layers):
            layers += [
                ElasticConvTranspose2d(in_channels, max_width, max_kernel_size, max_out_per_group=max_width_per_group),
                ElasticBatchNorm2d(max_width),
                nn.ReLU(inplace=True),
            ]
            in_channels = max_width
        self.deconv_layers = nn.Sequential(*layers)
        self.final_layer = ElasticConv2d(max_width, num_joints, 1, bias=True)
        self.num_layers = num_layers
        self.num_joints = num_joints

    def set_config(self, *, in_channels: int, width: int, kernel_size: int, groups: int) -> None:
        for index in range(self.num_layers):
            self.deconv_layers[3 * index].set_active(in_channels, width, kernel_size, groups)
            self.deconv_layers[3 * index + 1].set_active(width)
            in_channels = width
        self.final_layer.set_active(width, self.num_joints)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_layer(self.deconv_layers(x))
