"""Elastic blocks, attention modules, stages and the elastic heads (deconvolution, upsampling).

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
from vipnas.nn.layers import HardSigmoid, global_context, make_activation
from vipnas.space.blocks import BlockSpec
from vipnas.space.family import gc_planes, se_channels

__all__ = [
    "ElasticBottleneck",
    "ElasticConvNormAct",
    "ElasticDeconvHead",
    "ElasticGlobalContext",
    "ElasticMobileBlock",
    "ElasticSqueezeExcite",
    "ElasticStage",
    "ElasticStem",
    "ElasticUpsampleHead",
    "ElasticUpsampleLayer",
    "elastic_block",
    "elastic_head",
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

    def activate(self, in_channels: int, out_channels: int, kernel_size: int | None = None, groups: int = 1) -> None:
        self.conv.activate(in_channels, out_channels, kernel_size, groups)
        self.bn.activate(out_channels)

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

    def activate(self, channels: int) -> None:
        planes = gc_planes(channels)
        self.mask.activate(channels, 1)
        self.transform[0].activate(channels, planes)
        self.transform[1].activate(planes)
        self.transform[3].activate(planes, channels)

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

    def activate(self, channels: int) -> None:
        squeeze = se_channels(channels)
        self.reduce.activate(channels, squeeze)
        self.expand.activate(squeeze, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean(dim=(2, 3), keepdim=True)  # (N, C, 1, 1)
        return x * self.gate(self.expand(torch.relu(self.reduce(scale))))


class ElasticBottleneck(nn.Module):
    """Elastic twin of :class:`vipnas.nn.blocks.Bottleneck` (width, kernel, groups, GC attention)."""

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

    def activate(self, block: BlockSpec) -> None:
        """Run the slice of ``block`` (a ``bottleneck`` spec from the walk of an arch)."""
        in_channels, width, out = block.in_channels, block.middle_channels, block.out_channels
        kernel_size, groups, attention = block.kernel_size, block.groups, block.attention
        if out != width * self.expand_ratio:
            raise ValueError(f"block output {out} is not its width {width} x the stage's ratio {self.expand_ratio}")
        if self.downsample is None and in_channels != out:
            raise ValueError(f"a block without projection needs input == output channels, got {in_channels} != {out}")
        if attention and self.attention is None:
            raise ValueError("this block has no attention module to switch on")
        self.conv1.activate(in_channels, width)
        self.bn1.activate(width)
        self.conv2.activate(width, width, kernel_size, groups)
        self.bn2.activate(width)
        self.conv3.activate(width, out)
        self.bn3.activate(out)
        if self.attention is not None:
            self.attention.activate(out)
        if self.downsample is not None:
            self.downsample[0].activate(in_channels, out)
            self.downsample[1].activate(out)
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
    """Elastic twin of :class:`vipnas.nn.blocks.MobileBlock` (expansion ratio, kernel, groups, SE)."""

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

    def activate(self, block: BlockSpec) -> None:
        """Run the slice of ``block`` (a ``mobile`` spec from the walk of an arch)."""
        in_channels, out_channels, middle_channels = block.in_channels, block.out_channels, block.middle_channels
        kernel_size, groups, attention = block.kernel_size, block.groups, block.attention
        if self.expand is None and middle_channels != in_channels:
            raise ValueError(
                f"a block without expansion needs middle == input channels, got {middle_channels} != {in_channels}"
            )
        if attention and self.attention is None:
            raise ValueError("this block has no attention module to switch on")
        if self.expand is not None:
            self.expand.activate(in_channels, middle_channels)
        self.middle.activate(middle_channels, middle_channels, kernel_size, groups)
        if self.attention is not None:
            self.attention.activate(middle_channels)
        self.project.activate(middle_channels, out_channels)
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

    def activate(self, depth: int) -> None:
        """Run the first ``depth`` blocks."""
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


class ElasticStem(nn.Module):
    """Elastic twin of :func:`vipnas.nn.layers.make_stem` (width, kernel size), children ``conv``, ``bn``, ``act``
    (, ``pool``), built at the capacity of the ``stem`` spec ``block``."""

    def __init__(self, block: BlockSpec) -> None:
        super().__init__()
        self.conv = ElasticConv2d(3, block.out_channels, block.kernel_size, stride=block.stride)
        self.bn = ElasticBatchNorm2d(block.out_channels)
        self.act = make_activation(block.activation)
        if block.pool:
            self.pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def activate(self, block: BlockSpec) -> None:
        self.conv.activate(3, block.out_channels, block.kernel_size)
        self.bn.activate(block.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.bn(self.conv(x)))
        return self.pool(x) if hasattr(self, "pool") else x


class ElasticDeconvHead(nn.Module):
    """Elastic twin of :class:`vipnas.nn.blocks.DeconvHead` (width, deconv kernel, group number), built at the
    capacity of the head specs ``blocks`` (deconvolutions, then the final 1x1) with ``max_out_per_group`` filter
    slots per group."""

    def __init__(self, blocks: list[BlockSpec], max_out_per_group: int) -> None:
        super().__init__()
        *deconvs, final = blocks
        layers: list[nn.Module] = []
        for block in deconvs:
            layers += [
                ElasticConvTranspose2d(
                    block.in_channels, block.out_channels, block.kernel_size, max_out_per_group=max_out_per_group
                ),
                ElasticBatchNorm2d(block.out_channels),
                nn.ReLU(inplace=True),
            ]
        self.deconv_layers = nn.Sequential(*layers)
        self.final_layer = ElasticConv2d(final.in_channels, final.out_channels, 1, bias=True)
        self.num_layers = len(deconvs)

    def activate(self, blocks: list[BlockSpec]) -> None:
        """Run the slice of the head specs ``blocks`` of an arch's walk."""
        *deconvs, final = blocks
        if len(deconvs) != self.num_layers:
            raise ValueError(f"the head has {self.num_layers} deconvolutions, the arch {len(deconvs)}")
        for index, block in enumerate(deconvs):
            self.deconv_layers[3 * index].activate(
                block.in_channels, block.out_channels, block.kernel_size, block.groups
            )
            self.deconv_layers[3 * index + 1].activate(block.out_channels)
        self.final_layer.activate(final.in_channels, final.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_layer(self.deconv_layers(x))


class ElasticUpsampleLayer(nn.Module):
    """Elastic twin of :class:`vipnas.nn.blocks.UpsampleLayer` (input channels, width, kernel, group number)."""

    def __init__(self, block: BlockSpec, max_width_per_group: int) -> None:
        super().__init__()
        self.reduce = ElasticConvNormAct(block.in_channels, block.out_channels, 1)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.spatial = ElasticConvNormAct(
            block.out_channels, block.out_channels, block.kernel_size, max_in_per_group=max_width_per_group
        )

    def activate(self, block: BlockSpec) -> None:
        self.reduce.activate(block.in_channels, block.out_channels)
        self.spatial.activate(block.out_channels, block.out_channels, block.kernel_size, block.groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.spatial(self.upsample(self.reduce(x)))


class ElasticUpsampleHead(nn.Module):
    """Elastic twin of :class:`vipnas.nn.blocks.UpsampleHead`, built at the capacity of the head specs ``blocks``
    (upsampling layers, then the final 1x1) with ``max_width_per_group`` input slots per group of each KxK conv."""

    def __init__(self, blocks: list[BlockSpec], max_width_per_group: int) -> None:
        super().__init__()
        *layers, final = blocks
        self.layers = nn.Sequential(*(ElasticUpsampleLayer(block, max_width_per_group) for block in layers))
        self.final_layer = ElasticConv2d(final.in_channels, final.out_channels, 1, bias=True)

    def activate(self, blocks: list[BlockSpec]) -> None:
        """Run the slice of the head specs ``blocks`` of an arch's walk."""
        *layers, final = blocks
        if len(layers) != len(self.layers):
            raise ValueError(f"the head has {len(self.layers)} upsampling layers, the arch {len(layers)}")
        for module, block in zip(self.layers, layers, strict=True):
            module.activate(block)
        self.final_layer.activate(final.in_channels, final.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_layer(self.layers(x))


def elastic_head(blocks: list[BlockSpec], max_per_group: int) -> nn.Module:
    """The max-size elastic head of a space's envelope walk (``blocks``: its stride-2 layers, then the final 1x1),
    each layer storing ``max_per_group`` filter (deconv) or input (upsampling conv) slots per group."""
    if blocks[0].kind == "upsample":
        return ElasticUpsampleHead(blocks, max_per_group)
    return ElasticDeconvHead(blocks, max_per_group)


def elastic_block(block: BlockSpec, max_middle_per_group: int) -> nn.Module:
    """The max-size elastic block at the capacity of ``block`` (a spec from the walk of a space's envelope), whose
    middle convolution stores ``max_middle_per_group`` input slots per group."""
    if block.kind == "bottleneck":
        return ElasticBottleneck(
            max_in_channels=block.in_channels, max_width=block.middle_channels,
            expand_ratio=block.out_channels // block.middle_channels, max_kernel_size=block.kernel_size,
            max_width_per_group=max_middle_per_group, stride=block.stride, attention=block.attention,
            projection=block.projection,
        )  # fmt: skip
    if block.kind == "mobile":
        return ElasticMobileBlock(
            max_in_channels=block.in_channels, max_out_channels=block.out_channels,
            max_middle_channels=block.middle_channels, max_kernel_size=block.kernel_size,
            max_middle_per_group=max_middle_per_group, stride=block.stride, attention=block.attention,
            activation=block.activation, expansion=block.expansion,
        )  # fmt: skip
    raise ValueError(f"no elastic block for kind {block.kind!r}")
