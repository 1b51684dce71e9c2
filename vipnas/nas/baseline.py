"""Hand-shrunk baselines: the arch a person would get by scaling every dimension of a search space uniformly
(the width/depth-multiplier recipe of MobileNets), fitted to a MACs budget. The demo compares the searched arch
with the hand-shrunk arch of the same MACs, both taken from the same supernet.

The block-walk families only (ResNet, MobileNetV3, CPU-efficient): an HRNet space has no hand-shrinking recipe
here (HRNet's own is its W18/W32/W48 widths), and asking for one is an :class:`UnsupportedSpaceError`."""

from __future__ import annotations

import functools
from dataclasses import replace

from vipnas.models.complexity import arch_complexity
from vipnas.space.arch import Arch, HeadArch, StageArch, StemArch
from vipnas.space.hrnet import HRNetSearchSpace
from vipnas.space.search_space import SearchSpace

__all__ = ["UnsupportedSpaceError", "hand_shrunk_arch", "uniform_arch"]


class UnsupportedSpaceError(ValueError):
    """The hand-shrunk baseline is not defined for this kind of search space (HRNet's)."""


def _check_space(space: object) -> None:
    if isinstance(space, HRNetSearchSpace):
        raise UnsupportedSpaceError(
            f"the hand-shrunk baseline covers the ResNet, MobileNetV3 and CPU-efficient spaces, not the HRNet space "
            f"{space.name!r}; compare an HRNet search with HRNet-W32 (vipnas info hrnet_w32) instead"
        )
    if not isinstance(space, SearchSpace):
        raise UnsupportedSpaceError(f"the hand-shrunk baseline needs a SearchSpace, got {type(space).__name__}")


# MobileNetV3-Large puts SE blocks in its stages of 40, 112 and 160 channels (the 3rd, 5th and 6th here)
_MOBILENET_SE_STAGES = (2, 4, 5)


def _pick(choices: tuple, fraction: float):
    ordered = sorted(choices)
    return ordered[round(fraction * (len(ordered) - 1))]


def uniform_arch(space: SearchSpace, depth: float, width: float) -> Arch:
    """Every stage at the same relative position of its choices: ``depth`` in [0, 1] for depths, ``width`` in
    [0, 1] for widths, expansion ratios and kernel sizes. Group numbers follow the family's hand-designed
    convention: depthwise middle convolutions for the mobile families (the most groups), the fewest groups for
    ResNet; attention as MobileNetV3-Large places SE (stages 3, 5, 6), none for the CPU-efficient family (its point
    is the fewest non-convolution ops) and no GC block for ResNet.

    Raises:
        UnsupportedSpaceError: (a ValueError) ``space`` is an HRNet space.
    """
    _check_space(space)
    stages = []
    for index, (choice, widths) in enumerate(zip(space.stages, space.width_choices, strict=True)):
        target_width, target_ratio = _pick(choice.widths, width), _pick(choice.expand_ratios, width)
        options = [c.groups for c in widths if c.width == target_width and c.expand_ratio == target_ratio]
        groups = min(options) if space.family == "resnet" else max(options)
        attention = space.family == "mobilenetv3" and index in _MOBILENET_SE_STAGES and True in choice.attentions
        stages.append(
            StageArch(
                _pick(choice.depths, depth),
                target_width,
                _pick(choice.kernel_sizes, width),
                groups,
                attention or not any(not a for a in choice.attentions),
                target_ratio,
            )
        )
    in_channels = space.spec.output_channels(stages[-1])
    heads = space.head_choices(in_channels)
    head_width = _pick(tuple({head.width for head in heads}), width)
    head_groups = max(head.groups for head in heads if head.width == head_width)
    return space.validate(
        Arch(
            space.family,
            StemArch(_pick(space.stem.widths, width), _pick(space.stem.kernel_sizes, width)),
            tuple(stages),
            HeadArch(head_width, _pick(space.head.kernel_sizes, width), head_groups),
        )
    )


def _uniform_archs(space: SearchSpace, steps: int) -> list[Arch]:
    """The distinct uniform archs of a ``steps`` x ``steps`` grid."""
    grid = (uniform_arch(space, i / (steps - 1), j / (steps - 1)) for i in range(steps) for j in range(steps))
    return list(dict.fromkeys(grid))


def _blends(space: SearchSpace, upper: Arch, lower: Arch, *, reverse: bool = False) -> list[Arch]:
    """Archs between two uniform archs, taking the stem, then each stage's depth, then its other dimensions, then
    the head from ``lower`` one after another (``reverse``: from the head back to the stem): uniform scaling
    interpolated stage by stage, as a person refines a width multiplier when it is too coarse. Invalid blends (a
    head that does not fit its input) are skipped."""
    parts: list[tuple[str, int]] = [("stem", -1)]
    for index in range(len(upper.stages)):
        parts += [("depth", index), ("stage", index)]
    parts.append(("head", -1))
    out, current = [], upper
    for kind, index in reversed(parts) if reverse else parts:
        stages = list(current.stages)
        if kind == "stem":
            current = Arch(current.family, lower.stem, current.stages, current.head)
        elif kind == "depth":
            stages[index] = replace(stages[index], depth=lower.stages[index].depth)
            current = Arch(current.family, current.stem, tuple(stages), current.head)
        elif kind == "stage":
            stages[index] = replace(lower.stages[index], depth=stages[index].depth)
            current = Arch(current.family, current.stem, tuple(stages), current.head)
        else:
            current = Arch(current.family, current.stem, current.stages, lower.head)
        try:
            out.append(space.validate(current))
        except ValueError:
            continue
    return out


def hand_shrunk_arch(
    space: SearchSpace,
    target_macs: float,
    *,
    input_size: tuple[int, int],
    num_joints: int = 17,
    steps: int = 21,
    tolerance: float = 0.03,
) -> Arch:
    """The hand-designed arch of about ``target_macs``: uniform scaling of every dimension (:func:`uniform_arch`
    over a ``steps`` x ``steps`` grid of depth and width positions), refined stage by stage between the two uniform
    archs around the target (a small space has few distinct uniform archs: 4 in ``mobilenetv3_tiny``).

    Returns the arch with the most MACs within ``target_macs`` × (1 + ``tolerance``), so that it is compared at
    equal cost (±``tolerance``) where the space allows; the smallest uniform arch when none fits.

    Raises:
        UnsupportedSpaceError: (a ValueError) ``space`` is an HRNet space.
    """
    _check_space(space)

    @functools.cache
    def macs(arch: Arch) -> float:  # each distinct arch is counted once
        return arch_complexity(arch, num_joints=num_joints, input_size=input_size).macs

    uniform = sorted(_uniform_archs(space, steps), key=macs)
    candidates = list(uniform)
    above = [arch for arch in uniform if macs(arch) > target_macs]
    below = [arch for arch in uniform if macs(arch) <= target_macs]
    if above and below:
        candidates += _blends(space, above[0], below[-1]) + _blends(space, above[0], below[-1], reverse=True)
    fitting = [arch for arch in candidates if macs(arch) <= target_macs * (1 + tolerance)]
    if not fitting:
        return uniform[0]
    return max(fitting, key=macs)
