"""Hand-shrunk baselines: the arch a person would get by scaling every dimension of a search space uniformly
(the width/depth-multiplier recipe of MobileNets), fitted to a MACs budget. The demo compares the searched arch
with the hand-shrunk arch of the same MACs, both taken from the same supernet."""

from __future__ import annotations

from vipnas.models.complexity import arch_complexity
from vipnas.space.arch import Arch, HeadArch, StageArch, StemArch
from vipnas.space.search_space import SearchSpace

__all__ = ["hand_shrunk_arch", "uniform_arch"]

# MobileNetV3-Large puts SE blocks in its stages of 40, 112 and 160 channels (the 3rd, 5th and 6th here)
_MOBILENET_SE_STAGES = (2, 4, 5)


def _pick(choices: tuple, fraction: float):
    ordered = sorted(choices)
    return ordered[round(fraction * (len(ordered) - 1))]


def uniform_arch(space: SearchSpace, depth: float, width: float) -> Arch:
    """Every stage at the same relative position of its choices: ``depth`` in [0, 1] for depths, ``width`` in
    [0, 1] for widths, expansion ratios and kernel sizes. Group numbers follow the family's hand-designed
    convention: depthwise middle convolutions for MobileNetV3 (the most groups), the fewest groups for ResNet;
    attention as MobileNetV3-Large places SE (stages 3, 5, 6) and no GC block for ResNet."""
    stages = []
    for index, (choice, triples) in enumerate(zip(space.stages, space.stage_triples, strict=True)):
        target_width, target_ratio = _pick(choice.widths, width), _pick(choice.expand_ratios, width)
        options = [t for t in triples if t[0] == target_width and t[1] == target_ratio]
        groups = max(t[2] for t in options) if space.family == "mobilenetv3" else min(t[2] for t in options)
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
    pairs = space.head_pairs(in_channels)
    head_width = _pick(tuple({w for w, _ in pairs}), width)
    head_groups = max(g for w, g in pairs if w == head_width)
    return space.validate(
        Arch(
            space.family,
            StemArch(_pick(space.stem.widths, width), _pick(space.stem.kernel_sizes, width)),
            tuple(stages),
            HeadArch(head_width, _pick(space.head.kernel_sizes, width), head_groups),
        )
    )


def hand_shrunk_arch(
    space: SearchSpace, max_macs: float, *, input_size: tuple[int, int], num_joints: int = 17, steps: int = 21
) -> Arch:
    """The uniform arch (:func:`uniform_arch` over a ``steps`` x ``steps`` grid of depth and width positions) with
    the most MACs not above ``max_macs``; the smallest uniform arch when none fits."""
    best, best_macs = None, -1
    fallback, fallback_macs = None, float("inf")
    for i in range(steps):
        for j in range(steps):
            arch = uniform_arch(space, i / (steps - 1), j / (steps - 1))
            macs = arch_complexity(arch, num_joints=num_joints, input_size=input_size).macs
            if best_macs < macs <= max_macs:
                best, best_macs = arch, macs
            if macs < fallback_macs:
                fallback, fallback_macs = arch, macs
    return best if best is not None else fallback  # type: ignore[return-value]
