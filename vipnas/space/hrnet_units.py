"""An HRNet as latency-table units: the one walk of an :class:`~vipnas.space.hrnet.HRNetArch` into the pieces that
are timed alone, and the enumeration of every distinct piece of a whole :class:`~vipnas.space.hrnet.HRNetSearchSpace`.

An HRNet is not a chain of :class:`~vipnas.space.blocks.BlockSpec` blocks (its stages run parallel branches that
meet in fuse layers), so it gets its own units, each a module of the static network (:mod:`vipnas.nn.hrnet`) with
fixed inputs, in execution order:

* ``hr_stem``: both stride-2 3x3 convolutions (3 -> ``stem_width``) on the network input;
* ``hr_bottleneck``: one stage-1 Bottleneck (input channels, middle width, kernel, groups, SE, projection);
* ``hr_transition``: one transition convolution of a stage (3x3 + BN + ReLU; stride 1 where an existing branch
  changes width, stride 2 for the new branch, from the lowest-resolution one);
* ``hr_branch``: one branch's stack of ``blocks`` BasicBlocks inside one module (width, kernel, groups, SE, blocks;
  at the branch's resolution). Equal branches of different stages (same width, choices and resolution) share one
  entry;
* ``hr_fuse``: one module's fuse layer: every input branch (``widths``, highest resolution first) brought to each
  of ``outputs`` output branches and summed, then ReLU; ``outputs`` is 1 for the network's last module (MMPose's
  ``multiscale_output=False``), the branch count otherwise. Its inputs are all the module's branches;
* ``hr_head``: the 1x1 convolution to the heatmaps.

The units partition the network: built alone (:func:`vipnas.nn.hrnet_units.build_hrnet_unit`) and hook-counted,
their MACs and parameters sum to the whole network's (tests/nas/test_hrnet_latency.py). The full HRNet-W32 space
has 1,100 distinct units (4 stems, 200 Bottlenecks, 100 transitions, 200 branch stacks, 592 fuse layers, 4 heads;
equal transitions and branch stacks of different stages are one unit), about as many as the ResNet-50 (1,052) and
MobileNetV3 (1,178) spaces' block tables; :data:`~vipnas.space.hrnet.HRNET_W32_TINY_SPACE` has 126.

Resolutions follow the network: the stem gives ``output_size(output_size(s, 3, 2), 3, 2)``, and branch ``b`` is
branch ``b - 1`` through one more 3x3 stride-2 convolution. Torch-free: this is data about an arch.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import astuple, dataclass, field, fields

from vipnas.space.blocks import output_size
from vipnas.space.hrnet import BOTTLENECK_EXPANSION, BranchArch, HRNetArch, HRNetSearchSpace

__all__ = ["HRNET_UNIT_KINDS", "HRNetUnit", "branch_sizes", "hrnet_space_units", "hrnet_units"]

HRNET_UNIT_KINDS = ("hr_stem", "hr_bottleneck", "hr_transition", "hr_branch", "hr_fuse", "hr_head")
Size = tuple[int, int]  # (height, width) of a feature map


def _halve(size: Size) -> Size:
    return output_size(size[0], 3, 2), output_size(size[1], 3, 2)


def branch_sizes(size: Size, count: int) -> list[Size]:
    """Resolutions of ``count`` branches whose first (highest-resolution) branch is ``size``."""
    sizes = [size]
    for _ in range(count - 1):
        sizes.append(_halve(sizes[-1]))
    return sizes


@dataclass(frozen=True)
class HRNetUnit:
    """One timed piece of an HRNet at its place (kinds: :data:`HRNET_UNIT_KINDS`, see the module docstring).

    Fields a kind does not use are 0 (or empty). ``in_height`` / ``in_width`` are the input resolution in pixels
    (of the highest-resolution input for ``hr_fuse``). ``stage`` and ``index`` (stage index; Bottleneck, branch or
    module index) say where it sits and take no part in equality or in the latency key.
    """

    kind: str
    in_channels: int
    out_channels: int
    in_height: int
    in_width: int
    kernel_size: int = 1
    groups: int = 1
    stride: int = 1
    middle_channels: int = 0
    attention: bool = False
    projection: bool = False
    blocks: int = 0
    widths: tuple[int, ...] = ()
    outputs: int = 0
    stage: int = field(default=-1, compare=False)
    index: int = field(default=0, compare=False)

    def input_shapes(self) -> tuple[tuple[int, int, int], ...]:
        """(channels, height, width) of each input: one per branch for ``hr_fuse``, one for the other kinds."""
        if self.kind == "hr_fuse":
            sizes = branch_sizes((self.in_height, self.in_width), len(self.widths))
            return tuple((width, *size) for width, size in zip(self.widths, sizes, strict=True))
        return ((self.in_channels, self.in_height, self.in_width),)

    def key(self) -> str:
        """A stable text key of the unit's configuration (not its place), e.g. ``kind=hr_fuse|...|widths=8-16|...``;
        no :class:`~vipnas.space.blocks.BlockSpec` key starts with an ``hr_`` kind, so both share one table."""
        parts = []
        for f, value in zip(fields(self), astuple(self), strict=True):
            if f.compare:
                parts.append(f"{f.name}={'-'.join(map(str, value)) if isinstance(value, tuple) else value}")
        return "|".join(parts)


# ------------------------------------------------------------------------------------ one constructor per kind
def _stem(width: int, input_size: Size) -> HRNetUnit:
    return HRNetUnit("hr_stem", 3, width, input_size[0], input_size[1], 3, stride=4, stage=-1)


def _bottleneck(in_channels: int, branch: BranchArch, size: Size, index: int) -> HRNetUnit:
    return HRNetUnit(
        "hr_bottleneck", in_channels, BOTTLENECK_EXPANSION * branch.width, size[0], size[1], branch.kernel_size,
        branch.groups, middle_channels=branch.width, attention=branch.attention, projection=index == 0, stage=0,
        index=index,
    )  # fmt: skip


def _transition(in_channels: int, out_channels: int, size: Size, stride: int, stage: int, index: int) -> HRNetUnit:
    return HRNetUnit("hr_transition", in_channels, out_channels, size[0], size[1], 3, stride=stride, stage=stage,
                     index=index)  # fmt: skip


def _branch(branch: BranchArch, blocks: int, size: Size, stage: int, index: int) -> HRNetUnit:
    return HRNetUnit(
        "hr_branch", branch.width, branch.width, size[0], size[1], branch.kernel_size, branch.groups,
        attention=branch.attention, blocks=blocks, stage=stage, index=index,
    )  # fmt: skip


def _fuse(widths: tuple[int, ...], outputs: int, size: Size, stage: int, index: int) -> HRNetUnit:
    return HRNetUnit("hr_fuse", 0, 0, size[0], size[1], widths=widths, outputs=outputs, stage=stage, index=index)


def _head(in_channels: int, num_joints: int, size: Size, stage: int) -> HRNetUnit:
    return HRNetUnit("hr_head", in_channels, num_joints, size[0], size[1], stage=stage)


# ------------------------------------------------------------------------------------------------ the walk
def hrnet_units(arch: HRNetArch, *, num_joints: int = 17, input_size: tuple[int, int] = (256, 192)) -> list[HRNetUnit]:
    """The units of the static network of ``arch`` in execution order (a unit appears once per occurrence: the
    branch stacks and fuse layer of every module, every Bottleneck).

    Raises:
        TypeError: ``arch`` is not an :class:`HRNetArch`.
    """
    if not isinstance(arch, HRNetArch):
        raise TypeError(f"hrnet_units needs an HRNetArch, got {type(arch).__name__}")
    size = (int(input_size[0]), int(input_size[1]))
    units = [_stem(arch.stem_width, size)]
    sizes = [_halve(_halve(size))]  # stride 4: the highest-resolution branch
    first = arch.stages[0]
    for index in range(first.depth):
        in_channels = arch.stem_width if index == 0 else BOTTLENECK_EXPANSION * first.branches[0].width
        units.append(_bottleneck(in_channels, first.branches[0], sizes[0], index))
    last_stage = len(arch.stages) - 1
    for stage_index in range(1, len(arch.stages)):
        stage = arch.stages[stage_index]
        previous = arch.stage_out_channels(stage_index - 1)
        widths = tuple(branch.width for branch in stage.branches)
        sizes.append(_halve(sizes[-1]))
        for number, (before, after) in enumerate(zip(previous, widths, strict=False)):
            if before != after:  # the identity otherwise
                units.append(_transition(before, after, sizes[number], 1, stage_index, number))
        new = len(previous)
        units.append(_transition(previous[-1], widths[-1], sizes[new - 1], 2, stage_index, new))
        for module in range(stage.depth):
            for number, branch in enumerate(stage.branches):
                units.append(_branch(branch, stage.blocks, sizes[number], stage_index, number))
            outputs = 1 if stage_index == last_stage and module == stage.depth - 1 else len(widths)
            units.append(_fuse(widths, outputs, sizes[0], stage_index, module))
    units.append(_head(arch.out_channels, num_joints, sizes[0], len(arch.stages)))
    return units


def hrnet_space_units(
    space: HRNetSearchSpace, *, num_joints: int = 17, input_size: tuple[int, int] = (256, 192)
) -> list[HRNetUnit]:
    """Every distinct unit that some arch of ``space`` contains, in network order, from the same constructors as
    :func:`hrnet_units` (what a latency table of the space times).

    Raises:
        TypeError: ``space`` is not an :class:`HRNetSearchSpace`.
    """
    if not isinstance(space, HRNetSearchSpace):
        raise TypeError(f"hrnet_space_units needs an HRNetSearchSpace, got {type(space).__name__}")
    size = (int(input_size[0]), int(input_size[1]))
    found: dict[HRNetUnit, None] = {}

    def add(units: Iterable[HRNetUnit]) -> None:
        for unit in units:
            found[unit] = None

    add(_stem(width, size) for width in space.stem_widths)
    sizes = [_halve(_halve(size))]

    def branches(stage_index: int, number: int) -> list[BranchArch]:
        """Every choice of one branch (width and groups jointly valid, every kernel and attention)."""
        options = space.stages[stage_index].branches[number]
        return [
            BranchArch(width, kernel, groups, attention)
            for width, groups in space.width_choices[stage_index][number]
            for kernel in options.kernel_sizes
            for attention in options.attentions
        ]

    def widths(stage_index: int, number: int) -> list[int]:
        return sorted({width for width, _ in space.width_choices[stage_index][number]})

    first = space.stages[0]
    for branch in branches(0, 0):
        add(_bottleneck(stem, branch, sizes[0], 0) for stem in space.stem_widths)
        if max(first.depths) > 1:
            add([_bottleneck(BOTTLENECK_EXPANSION * branch.width, branch, sizes[0], 1)])
    outputs_of = [[BOTTLENECK_EXPANSION * width for width in widths(0, 0)]]  # per branch: its possible widths
    last_stage = len(space.stages) - 1
    for stage_index in range(1, len(space.stages)):
        stage = space.stages[stage_index]
        count = len(stage.branches)
        sizes.append(_halve(sizes[-1]))
        current = [widths(stage_index, number) for number in range(count)]
        for number, (before, after) in enumerate(zip(outputs_of, current[:-1], strict=True)):
            add(_transition(b, a, sizes[number], 1, stage_index, number) for b in before for a in after if b != a)
        add(_transition(b, a, sizes[count - 2], 2, stage_index, count - 1) for b in outputs_of[-1] for a in current[-1])
        for number in range(count):
            add(
                _branch(branch, blocks, sizes[number], stage_index, number)
                for branch in branches(stage_index, number)
                for blocks in stage.blocks
            )
        outputs = {1} if stage_index == last_stage else {count}
        if stage_index == last_stage and max(stage.depths) > 1:  # modules before the last fuse into every branch
            outputs.add(count)
        for combination in itertools.product(*current):
            add(_fuse(combination, out, sizes[0], stage_index, 0) for out in sorted(outputs, reverse=True))
        outputs_of = current
    add(_head(width, num_joints, sizes[0], len(space.stages)) for width in outputs_of[0])
    return list(found)
