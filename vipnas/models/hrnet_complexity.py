"""Analytic parameters and MACs of an HRNet arch, without building it.

Same convention as :mod:`vipnas.models.complexity`: MACs are the convolutions' multiply-accumulates,
``H_out * W_out * C_out * (C_in / g) * K^2`` (the SE block's two 1x1 convolutions included, at 1x1); parameters
count every weight, bias and BatchNorm scale and shift. Upsampling, additions and activations cost nothing.
:func:`~vipnas.models.complexity.measure_complexity` on :func:`vipnas.nn.hrnet.build_hrnet` is the independent
check (the tests compare both, and HRNet-W32 gives MMPose's 28,536,113 parameters and 7,645,003,776 MACs at
256x192).

The walk follows :mod:`vipnas.nn.hrnet` module for module: branch b runs at the stem's resolution halved b times
by 3x3 stride-2 convolutions (``(size - 1) // 2 + 1`` each, so any input size counts right, not only multiples of
32); a fuse from a lower resolution runs its 1x1 convolution there, before upsampling.
"""

from __future__ import annotations

from vipnas.models.complexity import Complexity
from vipnas.space.blocks import output_size
from vipnas.space.family import se_channels
from vipnas.space.hrnet import BOTTLENECK_EXPANSION, BranchArch, HRNetArch

__all__ = ["hrnet_complexity"]

Size = tuple[int, int]  # (height, width) of a feature map


def _conv(in_channels: int, out_channels: int, kernel_size: int, size: Size, *, groups: int = 1) -> Complexity:
    """A bias-free convolution followed by BatchNorm (as every HRNet convolution but the SE's and the head's)."""
    weights = out_channels * (in_channels // groups) * kernel_size * kernel_size
    return Complexity(weights + 2 * out_channels, weights * size[0] * size[1])


def _squeeze_excite(channels: int) -> Complexity:
    squeeze = se_channels(channels)
    weights = 2 * channels * squeeze  # reduce and expand, both 1x1 on the pooled (1 x 1) map, both with a bias
    return Complexity(weights + squeeze + channels, weights)


def _halve(size: Size) -> Size:
    return output_size(size[0], 3, 2), output_size(size[1], 3, 2)


def _bottleneck(in_channels: int, branch: BranchArch, size: Size, *, projection: bool) -> Complexity:
    width, out = branch.width, BOTTLENECK_EXPANSION * branch.width
    total = _conv(in_channels, width, 1, size) + _conv(width, width, branch.kernel_size, size, groups=branch.groups)
    total += _conv(width, out, 1, size)
    if branch.attention:
        total += _squeeze_excite(out)
    if projection:
        total += _conv(in_channels, out, 1, size)
    return total


def _basic_block(branch: BranchArch, size: Size) -> Complexity:
    conv = _conv(branch.width, branch.width, branch.kernel_size, size, groups=branch.groups)
    return conv + conv + (_squeeze_excite(branch.width) if branch.attention else Complexity(0, 0))


def _fuse(widths: list[int], sizes: list[Size], outputs: int) -> Complexity:
    total = Complexity(0, 0)
    for i in range(outputs):
        for j in range(len(widths)):
            if j > i:  # 1x1 at branch j's resolution, then upsampled
                total += _conv(widths[j], widths[i], 1, sizes[j])
            for step in range(j, i):  # i - j stride-2 steps, the last one to branch i's width
                total += _conv(widths[j], widths[i] if step == i - 1 else widths[j], 3, sizes[step + 1])
    return total


def hrnet_complexity(arch: HRNetArch, *, num_joints: int = 17, input_size: tuple[int, int] = (256, 192)) -> Complexity:
    """Parameters and MACs of the static network of ``arch`` (:func:`vipnas.nn.hrnet.build_hrnet`) for one input
    of ``input_size`` (height, width) pixels.

    Raises:
        TypeError: ``arch`` is not an :class:`HRNetArch`.
    """
    if not isinstance(arch, HRNetArch):
        raise TypeError(f"hrnet_complexity needs an HRNetArch, got {type(arch).__name__}")
    stem = arch.stem_width
    half = _halve((int(input_size[0]), int(input_size[1])))
    sizes = [_halve(half)]  # stride 4: the highest-resolution branch
    total = _conv(3, stem, 3, half) + _conv(stem, stem, 3, sizes[0])
    first = arch.stages[0]
    for number in range(first.depth):
        in_channels = stem if number == 0 else BOTTLENECK_EXPANSION * first.branches[0].width
        total += _bottleneck(in_channels, first.branches[0], sizes[0], projection=number == 0)
    for index in range(1, len(arch.stages)):
        stage = arch.stages[index]
        previous, widths = arch.stage_out_channels(index - 1), [branch.width for branch in stage.branches]
        sizes.append(_halve(sizes[-1]))
        for number, (before, after) in enumerate(zip(previous, widths, strict=False)):
            if before != after:  # the identity otherwise
                total += _conv(before, after, 3, sizes[number])
        total += _conv(previous[-1], widths[-1], 3, sizes[len(previous)])
        last = index == len(arch.stages) - 1
        for module in range(stage.depth):
            for branch, size in zip(stage.branches, sizes, strict=True):
                for _ in range(stage.blocks):
                    total += _basic_block(branch, size)
            outputs = 1 if last and module == stage.depth - 1 else len(widths)
            total += _fuse(widths, sizes, outputs)
    head = arch.out_channels * num_joints
    return total + Complexity(head + num_joints, head * sizes[0][0] * sizes[0][1])
