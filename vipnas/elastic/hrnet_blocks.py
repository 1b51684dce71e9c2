"""Elastic twins of the HRNet blocks of :mod:`vipnas.nn.hrnet`: the BasicBlock, the Bottleneck, the transition
between stages and the fuse layers of a module.

Each is built at the capacity its search space needs (widths, kernel, input channels per group, whether attention
is ever on) and names its children exactly like its static twin, so that
:func:`vipnas.elastic.blocks.subnet_state_dict` of the active slice loads into :func:`vipnas.nn.hrnet.build_hrnet`
with ``strict=True``. What the active arch leaves out (an SE block switched off, a transition that is the identity,
the fuse outputs of a stage's last module) is skipped by ``active_children`` and by ``forward`` alike.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vipnas.elastic.blocks import ElasticConvNormAct, ElasticSqueezeExcite
from vipnas.elastic.ops import ElasticBatchNorm2d, ElasticConv2d
from vipnas.space.hrnet import BOTTLENECK_EXPANSION, BranchArch

__all__ = ["ElasticBasicBlock", "ElasticHRBottleneck", "ElasticHRFuse", "ElasticHRTransition"]


def _elastic_conv(max_in: int, max_out: int, kernel_size: int, max_in_per_group: int | None = None) -> ElasticConv2d:
    return ElasticConv2d(max_in, max_out, kernel_size, max_in_per_group=max_in_per_group)


def _check_attention(attention: bool, module: nn.Module | None) -> None:
    if attention and module is None:
        raise ValueError("this block was built without an SE block (its space never switches attention on)")


class ElasticBasicBlock(nn.Module):
    """Elastic twin of :class:`vipnas.nn.hrnet.BasicBlock`: width, kernel size, groups and SE attention.

    Args:
        max_channels: the branch's largest width.
        max_kernel_size: the largest kernel of both convolutions (smaller ones are centre crops).
        max_in_per_group: input channels per group the convolutions store (the largest ``width / groups``).
        attention: whether the block holds an SE block (some arch of the space switches it on).
    """

    def __init__(self, *, max_channels: int, max_kernel_size: int, max_in_per_group: int, attention: bool) -> None:
        super().__init__()
        self.conv1 = _elastic_conv(max_channels, max_channels, max_kernel_size, max_in_per_group)
        self.bn1 = ElasticBatchNorm2d(max_channels)
        self.conv2 = _elastic_conv(max_channels, max_channels, max_kernel_size, max_in_per_group)
        self.bn2 = ElasticBatchNorm2d(max_channels)
        self.attention = ElasticSqueezeExcite(max_channels) if attention else None
        self.relu = nn.ReLU(inplace=True)
        self.use_attention = attention

    def activate(self, branch: BranchArch) -> None:
        """Run the slice of ``branch`` (width, kernel size, groups, attention)."""
        _check_attention(branch.attention, self.attention)
        for conv, norm in ((self.conv1, self.bn1), (self.conv2, self.bn2)):
            conv.activate(branch.width, branch.width, branch.kernel_size, branch.groups)
            norm.activate(branch.width)
        if self.attention is not None:
            self.attention.activate(branch.width)
        self.use_attention = branch.attention

    def active_children(self) -> Iterator[tuple[str, nn.Module]]:
        for name, child in self.named_children():
            if name != "attention" or self.use_attention:
                yield name, child

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, C, H, W)."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.use_attention:
            out = self.attention(out)
        return self.relu(out + x)


class ElasticHRBottleneck(nn.Module):
    """Elastic twin of :class:`vipnas.nn.hrnet.BottleneckBlock` (stride 1, x4 expansion, SE attention).

    Args:
        max_in_channels: largest input width (the stem's for the first block, else ``4 * max_width``).
        max_width: largest middle width.
        max_kernel_size: largest kernel of the middle convolution.
        max_in_per_group: input channels per group the middle convolution stores.
        attention: whether the block holds an SE block.
        projection: whether the block has a 1x1 conv + BN shortcut (the first block of the stage).
    """

    def __init__(
        self,
        *,
        max_in_channels: int,
        max_width: int,
        max_kernel_size: int,
        max_in_per_group: int,
        attention: bool,
        projection: bool,
    ) -> None:
        super().__init__()
        max_out = BOTTLENECK_EXPANSION * max_width
        self.conv1 = _elastic_conv(max_in_channels, max_width, 1)
        self.bn1 = ElasticBatchNorm2d(max_width)
        self.conv2 = _elastic_conv(max_width, max_width, max_kernel_size, max_in_per_group)
        self.bn2 = ElasticBatchNorm2d(max_width)
        self.conv3 = _elastic_conv(max_width, max_out, 1)
        self.bn3 = ElasticBatchNorm2d(max_out)
        self.attention = ElasticSqueezeExcite(max_out) if attention else None
        shortcut = nn.Sequential(_elastic_conv(max_in_channels, max_out, 1), ElasticBatchNorm2d(max_out))
        self.downsample = shortcut if projection else None
        self.relu = nn.ReLU(inplace=True)
        self.use_attention = attention

    def activate(self, in_channels: int, branch: BranchArch) -> None:
        """Run ``in_channels`` -> ``4 * branch.width`` with the middle convolution of ``branch``."""
        _check_attention(branch.attention, self.attention)
        width, out = branch.width, BOTTLENECK_EXPANSION * branch.width
        if self.downsample is None and in_channels != out:
            raise ValueError(f"a Bottleneck without projection keeps its width: input {in_channels} != output {out}")
        self.conv1.activate(in_channels, width)
        self.bn1.activate(width)
        self.conv2.activate(width, width, branch.kernel_size, branch.groups)
        self.bn2.activate(width)
        self.conv3.activate(width, out)
        self.bn3.activate(out)
        if self.attention is not None:
            self.attention.activate(out)
        if self.downsample is not None:
            self.downsample[0].activate(in_channels, out)
            self.downsample[1].activate(out)
        self.use_attention = branch.attention

    def active_children(self) -> Iterator[tuple[str, nn.Module]]:
        for name, child in self.named_children():
            if name != "attention" or self.use_attention:
                yield name, child

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, H, W) -> (N, 4 * width, H, W)."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.use_attention:
            out = self.attention(out)
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ElasticHRTransition(nn.Module):
    """Elastic twin of an :class:`vipnas.nn.hrnet.HRStage`'s ``transition`` list (children ``"0"``, ``"1"``, ...).

    Entry i < last adapts existing branch i: a 3x3 conv + BN + ReLU where the active widths differ, the identity
    where they are equal (the static network then holds an ``nn.Identity`` without tensors, so the entry is
    skipped). The last entry makes the new branch from the lowest-resolution one, 3x3 stride 2.

    Args:
        previous: per existing branch, the widths the previous stage may output.
        widths: per branch of this stage (one more), the widths it may have.
    """

    def __init__(self, previous: Sequence[Sequence[int]], widths: Sequence[Sequence[int]]) -> None:
        super().__init__()
        assert len(widths) == len(previous) + 1, "HRNetArch guarantees one new branch per stage"
        for index, (before, after) in enumerate(zip(previous, widths, strict=False)):
            # a conv exists unless every arch of the space keeps this branch's width (then it is always the identity)
            always_equal = len(set(before)) == 1 and set(before) == set(after)
            layer = nn.Identity() if always_equal else ElasticConvNormAct(max(before), max(after), 3)
            self.add_module(str(index), layer)
        self.add_module(str(len(previous)), ElasticConvNormAct(max(previous[-1]), max(widths[-1]), 3, stride=2))
        self.count = len(widths)
        # per existing branch: whether the active arch changes its width (set by activate)
        self.adapts = [not isinstance(self[index], nn.Identity) for index in range(len(previous))]

    def __getitem__(self, index: int) -> nn.Module:
        return getattr(self, str(index))

    def activate(self, previous: Sequence[int], widths: Sequence[int]) -> None:
        """Adapt the active ``previous`` branch widths to this stage's active ``widths``."""
        adapts = []
        for index, (before, after) in enumerate(zip(previous, widths, strict=False)):
            layer = self[index]
            if before == after:
                adapts.append(False)
            elif isinstance(layer, ElasticConvNormAct):
                layer.activate(before, after, 3)
                adapts.append(True)
            else:
                raise ValueError(f"transition {index}: this supernet keeps width {before}, the arch asks for {after}")
        self[len(previous)].activate(previous[-1], widths[-1], 3)
        self.adapts = adapts

    def active_children(self) -> Iterator[tuple[str, nn.Module]]:
        for index, adapts in enumerate(self.adapts):
            if adapts:
                yield str(index), self[index]
        yield str(self.count - 1), self[self.count - 1]

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The previous stage's branches -> this stage's inputs (one more, at half the lowest resolution)."""
        outputs = [self[i](x) if adapts else x for i, (x, adapts) in enumerate(zip(features, self.adapts, strict=True))]
        outputs.append(self[self.count - 1](features[-1]))
        return outputs


class ElasticHRFuse(nn.Module):
    """Elastic twin of an :class:`vipnas.nn.hrnet.HRModule`'s ``fuse`` (children ``"i"``, each an ``nn.ModuleList``
    over inputs j): output i sums every branch j brought to branch i's resolution and width.

    j > i: 1x1 conv + BN, then nearest upsampling to branch i's size; j < i: ``i - j`` 3x3 stride-2 conv + BN (ReLU
    between; the intermediate ones keep branch j's width); j == i: the identity. The first ``outputs`` run; the
    ReLU after the sum belongs to the module, as in the static one.

    Args:
        max_widths: each branch's largest width.
        max_outputs: how many outputs the supernet's module may have to produce.
    """

    def __init__(self, max_widths: Sequence[int], max_outputs: int) -> None:
        super().__init__()
        for i in range(max_outputs):
            self.add_module(str(i), nn.ModuleList(self._layer(max_widths, i, j) for j in range(len(max_widths))))
        self.max_outputs = max_outputs
        self.outputs = max_outputs

    @staticmethod
    def _layer(widths: Sequence[int], i: int, j: int) -> nn.Module:
        if j == i:
            return nn.Identity()
        if j > i:
            return ElasticConvNormAct(widths[j], widths[i], 1, activation=None)
        chain = [ElasticConvNormAct(widths[j], widths[j], 3, stride=2) for _ in range(i - j - 1)]
        chain.append(ElasticConvNormAct(widths[j], widths[i], 3, stride=2, activation=None))
        return nn.Sequential(*chain)

    def __getitem__(self, index: int) -> nn.ModuleList:
        return getattr(self, str(index))

    def activate(self, widths: Sequence[int], outputs: int) -> None:
        """Fuse branches of the active ``widths`` into the first ``outputs`` of them."""
        if not 1 <= outputs <= self.max_outputs:
            raise ValueError(f"this module fuses into at most {self.max_outputs} branch(es), asked for {outputs}")
        for i in range(outputs):
            for j, layer in enumerate(self[i]):
                if j > i:
                    layer.activate(widths[j], widths[i])
                elif j < i:
                    assert isinstance(layer, nn.Sequential)
                    for step, unit in enumerate(layer):
                        unit.activate(widths[j], widths[i] if step == i - j - 1 else widths[j], 3)
        self.outputs = outputs

    def active_children(self) -> Iterator[tuple[str, nn.Module]]:
        for i in range(self.outputs):
            yield str(i), self[i]

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Branch tensors (N, C_j, H_j, W_j) -> the first ``outputs`` sums (before the module's ReLU)."""
        sums = []
        for i in range(self.outputs):
            total: torch.Tensor | None = None
            for j, layer in enumerate(self[i]):  # summed in MMPose's order j = 0, 1, ...
                term = layer(features[j])
                if j > i:
                    term = F.interpolate(term, size=features[i].shape[-2:], mode="nearest")
                total = term if total is None else total + term
            assert total is not None
            sums.append(total)
        return sums
