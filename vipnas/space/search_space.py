"""Search spaces: the allowed choices per stage, validation, largest/smallest, uniform sampling, mutation and
crossover. Every method that draws randomness takes an explicit :class:`random.Random`.

Group numbers are constrained by the channels they split, so a stage's width, expansion ratio and group number
are enumerated jointly (:class:`WidthChoice`) and sampled uniformly among the *valid* ones; the other choices are
independent. The result is uniform over all valid archs of the space.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from functools import cached_property

from vipnas.space.arch import Arch, HeadArch, StageArch, StemArch
from vipnas.space.family import FAMILY_SPECS, FamilySpec

__all__ = [
    "HeadChoice",
    "HeadSpace",
    "InvalidArchError",
    "SearchSpace",
    "StageSpace",
    "StemSpace",
    "TailChoice",
    "WidthChoice",
]


class InvalidArchError(ValueError):
    """An arch lies outside a search space; the message names the stage, field, value and allowed set."""


def _valid_groups(channels: int, groups: Sequence[int], channels_per_group: Sequence[int]) -> tuple[int, ...]:
    if groups:
        return tuple(g for g in groups if channels % g == 0)
    return tuple(sorted({channels // c for c in channels_per_group if channels % c == 0}))


@dataclass(frozen=True)
class WidthChoice:
    """One valid channel configuration of a stage: ``width`` and ``expand_ratio`` as in :class:`StageArch`, and a
    group number ``groups`` that divides the block's middle channels."""

    width: int
    expand_ratio: int
    groups: int

    def stage(self, depth: int = 1, kernel_size: int = 1, attention: bool = False) -> StageArch:
        """A :class:`StageArch` with these channels (and the given other choices)."""
        return StageArch(depth, self.width, kernel_size, self.groups, attention, self.expand_ratio)


@dataclass(frozen=True)
class HeadChoice:
    """One valid channel configuration of the head: ``width`` filters in ``groups`` groups."""

    width: int
    groups: int


@dataclass(frozen=True)
class TailChoice:
    """The last stage's channels and the head's, chosen together: the head's group number must divide the
    channels the last stage hands it."""

    stage: WidthChoice
    head: HeadChoice


@dataclass(frozen=True)
class StemSpace:
    widths: tuple[int, ...]
    kernel_sizes: tuple[int, ...]


@dataclass(frozen=True)
class StageSpace:
    """Choices of one stage. Give group numbers either absolutely (``groups``, the ResNet space's step of 16)
    or as ``channels_per_group`` (the MobileNetV3 space, where the middle width moves with the expansion ratio
    and Table A1's ranges are middle/16 .. middle)."""

    depths: tuple[int, ...]
    widths: tuple[int, ...]
    kernel_sizes: tuple[int, ...]
    attentions: tuple[bool, ...]
    expand_ratios: tuple[int, ...] = (1,)
    groups: tuple[int, ...] = ()
    channels_per_group: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if bool(self.groups) == bool(self.channels_per_group):
            raise ValueError("a StageSpace needs exactly one of 'groups' or 'channels_per_group'")


@dataclass(frozen=True)
class HeadSpace:
    widths: tuple[int, ...]
    kernel_sizes: tuple[int, ...]
    groups: tuple[int, ...] = ()
    channels_per_group: tuple[int, ...] = ()


@dataclass(frozen=True)
class SearchSpace:
    """A family's search space.

    Attributes:
        name: registry name, e.g. ``resnet50``.
        family: the network family (``resnet``, ``mobilenetv3`` or ``cpu_efficient``).
        stem: stem choices.
        stages: per-stage choices.
        head: head choices.
    """

    name: str
    family: str
    stem: StemSpace
    stages: tuple[StageSpace, ...]
    head: HeadSpace

    @property
    def spec(self) -> FamilySpec:
        return FAMILY_SPECS[self.family]

    # ------------------------------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict:
        """JSON-ready description (so a supernet checkpoint can rebuild a custom space)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SearchSpace:
        def tuples(part: dict) -> dict:
            return {key: tuple(value) if isinstance(value, list) else value for key, value in part.items()}

        try:
            return cls(
                name=data["name"],
                family=data["family"],
                stem=StemSpace(**tuples(data["stem"])),
                stages=tuple(StageSpace(**tuples(stage)) for stage in data["stages"]),
                head=HeadSpace(**tuples(data["head"])),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"malformed search space description: {error}") from None

    # ----------------------------------------------------------------------------------------------- choices
    @cached_property
    def width_choices(self) -> tuple[tuple[WidthChoice, ...], ...]:
        """Per stage, every valid :class:`WidthChoice`."""
        result = []
        for stage in self.stages:
            choices = []
            for width, ratio in itertools.product(stage.widths, stage.expand_ratios):
                middle = self.spec.middle_channels(StageArch(1, width, 1, 1, False, ratio))
                for g in _valid_groups(middle, stage.groups, stage.channels_per_group):
                    choices.append(WidthChoice(width, ratio, g))
            if not choices:
                raise ValueError(f"search space {self.name}: a stage admits no valid group number: {stage}")
            result.append(tuple(choices))
        return tuple(result)

    def head_choices(self, in_channels: int) -> tuple[HeadChoice, ...]:
        """Every valid head configuration fed by ``in_channels`` channels: a deconvolution's group number must
        divide both its input and its output channels (an upsampling head's only its width: its 1x1 convolution
        takes the input to the width first)."""
        deconv = self.spec.head_kind == "deconv"
        return tuple(
            HeadChoice(w, g)
            for w in self.head.widths
            for g in _valid_groups(w, self.head.groups, self.head.channels_per_group)
            if not deconv or in_channels % g == 0
        )

    @cached_property
    def tail_choices(self) -> tuple[TailChoice, ...]:
        """Every valid (last stage, head) combination: they are coupled through the channels the last stage hands
        to the head."""
        combos = []
        for choice in self.width_choices[-1]:
            out = self.spec.output_channels(choice.stage())
            combos += [TailChoice(choice, head) for head in self.head_choices(out)]
        if not combos:
            raise ValueError(f"search space {self.name}: no head group number divides the last stage's output")
        return tuple(combos)

    def envelope(self) -> Arch:
        """The capacity of the supernet as an arch: per stage the most blocks, channels, the largest kernel and
        attention where any arch has it, dense convolutions (groups 1); not itself in the space. A supernet
        builds each max-size block from the walk of this arch (:func:`vipnas.space.blocks.arch_blocks`)."""
        stages = []
        for choice in self.stages:
            ratio = max(choice.expand_ratios)
            stages.append(
                StageArch(
                    max(choice.depths),
                    max(choice.widths),
                    max(choice.kernel_sizes),
                    1,
                    True in choice.attentions,
                    ratio,
                )
            )
        return Arch(
            self.family,
            StemArch(max(self.stem.widths), max(self.stem.kernel_sizes)),
            tuple(stages),
            HeadArch(max(self.head.widths), max(self.head.kernel_sizes), 1),
        )

    def max_middle_per_group(self, stage_index: int) -> int:
        """Largest middle channels per group of a stage over its width choices: the second dimension its
        middle convolution's shared weight has to store."""
        return max(self.spec.middle_channels(c.stage()) // c.groups for c in self.width_choices[stage_index])

    def max_head_per_group(self) -> int:
        """Largest filters per group of the head over its choices: the deconvolution weights' stored slots."""
        return max(tail.head.width // tail.head.groups for tail in self.tail_choices)

    def size(self) -> int:
        """Number of distinct archs in the space."""
        total = len(self.stem.widths) * len(self.stem.kernel_sizes) * len(self.head.kernel_sizes)
        total *= len(self.tail_choices)
        for index, (stage, widths) in enumerate(zip(self.stages, self.width_choices, strict=True)):
            total *= len(stage.depths) * len(stage.kernel_sizes) * len(stage.attentions)
            total *= len(widths) if index < len(self.stages) - 1 else 1
        return total

    # ---------------------------------------------------------------------------------------------- validate
    def validate(self, arch: Arch) -> Arch:
        """Return ``arch`` if it belongs to this space.

        Raises:
            InvalidArchError: naming the stage, field, value and the allowed choices.
        """
        if arch.family != self.family:
            raise InvalidArchError(
                f"arch family {arch.family!r} does not match search space {self.name!r} ({self.family})"
            )
        if len(arch.stages) != len(self.stages):
            raise InvalidArchError(
                f"arch has {len(arch.stages)} stages; search space {self.name} has {len(self.stages)}"
            )
        _check("stem", "width", arch.stem.width, self.stem.widths)
        _check("stem", "kernel_size", arch.stem.kernel_size, self.stem.kernel_sizes)
        for i, (stage, choice) in enumerate(zip(arch.stages, self.stages, strict=True)):
            where = f"stage {i + 1}"
            _check(where, "depth", stage.depth, choice.depths)
            _check(where, "width", stage.width, choice.widths)
            _check(where, "kernel_size", stage.kernel_size, choice.kernel_sizes)
            _check(where, "attention", stage.attention, choice.attentions)
            _check(where, "expand_ratio", stage.expand_ratio, choice.expand_ratios)
            middle = self.spec.middle_channels(stage)
            allowed = _valid_groups(middle, choice.groups, choice.channels_per_group)
            if stage.groups not in allowed:
                raise InvalidArchError(
                    f"{where}: groups={stage.groups} is not allowed for {middle} middle channels "
                    f"(it must divide them); allowed: {list(allowed)}"
                )
        _check("head", "width", arch.head.width, self.head.widths)
        _check("head", "kernel_size", arch.head.kernel_size, self.head.kernel_sizes)
        in_channels = self.spec.output_channels(arch.stages[-1])
        allowed = [head.groups for head in self.head_choices(in_channels) if head.width == arch.head.width]
        if arch.head.groups not in allowed:
            raise InvalidArchError(
                f"head: groups={arch.head.groups} is not allowed for width {arch.head.width} fed by {in_channels} "
                f"channels (it must divide both); allowed: {allowed}"
            )
        return arch

    def contains(self, arch: Arch) -> bool:
        try:
            self.validate(arch)
        except InvalidArchError:
            return False
        return True

    # ---------------------------------------------------------------------------------------- extreme archs
    def largest(self) -> Arch:
        """The arch with every dimension at its maximum (widest, fewest groups, attention on)."""
        return self._extreme(max)

    def smallest(self) -> Arch:
        """The arch with every dimension at its minimum (narrowest, most groups, attention off)."""
        return self._extreme(min)

    def _extreme(self, pick) -> Arch:
        # "larger" means more channels (width x ratio), then fewer groups
        size = lambda c: (c.width * c.expand_ratio, -c.groups)  # noqa: E731
        stages = []
        for choice, widths in zip(self.stages[:-1], self.width_choices[:-1], strict=True):
            stages.append(
                pick(widths, key=size).stage(pick(choice.depths), pick(choice.kernel_sizes), pick(choice.attentions))
            )
        tail = pick(self.tail_choices, key=lambda c: (size(c.stage), c.head.width, -c.head.groups))
        last = self.stages[-1]
        stages.append(tail.stage.stage(pick(last.depths), pick(last.kernel_sizes), pick(last.attentions)))
        return Arch(
            self.family,
            StemArch(pick(self.stem.widths), pick(self.stem.kernel_sizes)),
            tuple(stages),
            HeadArch(tail.head.width, pick(self.head.kernel_sizes), tail.head.groups),
        )

    # -------------------------------------------------------------------------------------------- sampling
    def sample(self, rng: random.Random) -> Arch:
        """A uniformly random valid arch."""
        stem = StemArch(rng.choice(self.stem.widths), rng.choice(self.stem.kernel_sizes))
        stages = [self._sample_stage(i, rng.choice(self.width_choices[i]), rng) for i in range(len(self.stages) - 1)]
        tail = rng.choice(self.tail_choices)
        stages.append(self._sample_stage(len(self.stages) - 1, tail.stage, rng))
        head = HeadArch(tail.head.width, rng.choice(self.head.kernel_sizes), tail.head.groups)
        return Arch(self.family, stem, tuple(stages), head)

    def _sample_stage(self, index: int, width: WidthChoice, rng: random.Random) -> StageArch:
        choice = self.stages[index]
        # the draw order (depth, kernel, attention) is part of what a seed means: kept as first written
        depth = rng.choice(choice.depths)
        kernel = rng.choice(choice.kernel_sizes)
        return width.stage(depth, kernel, rng.choice(choice.attentions))

    def mutate(self, arch: Arch, rng: random.Random, probability: float = 0.1) -> Arch:
        """Resample each choice with ``probability`` (width, expansion and groups of a stage move together so
        the result stays valid). The input is validated first."""
        self.validate(arch)
        stem = arch.stem
        if rng.random() < probability:
            stem = replace(stem, width=rng.choice(self.stem.widths))
        if rng.random() < probability:
            stem = replace(stem, kernel_size=rng.choice(self.stem.kernel_sizes))
        stages = []
        for i, stage in enumerate(arch.stages):
            choice = self.stages[i]
            if rng.random() < probability:
                stage = replace(stage, depth=rng.choice(choice.depths))
            if rng.random() < probability:
                stage = replace(stage, kernel_size=rng.choice(choice.kernel_sizes))
            if rng.random() < probability:
                stage = replace(stage, attention=rng.choice(choice.attentions))
            if rng.random() < probability:
                width = rng.choice(self.width_choices[i])
                stage = replace(stage, width=width.width, expand_ratio=width.expand_ratio, groups=width.groups)
            stages.append(stage)
        head = arch.head
        heads = self.head_choices(self.spec.output_channels(stages[-1]))
        if rng.random() < probability or HeadChoice(head.width, head.groups) not in heads:
            # also when the last stage's new width no longer admits the head's group number
            chosen = rng.choice(heads)
            head = replace(head, width=chosen.width, groups=chosen.groups)
        if rng.random() < probability:
            head = replace(head, kernel_size=rng.choice(self.head.kernel_sizes))
        return Arch(self.family, stem, tuple(stages), head)

    def crossover(self, first: Arch, second: Arch, rng: random.Random) -> Arch:
        """Uniform crossover at stage granularity: the stem and each stage come whole from one parent; the last
        stage and the head (coupled by the head's group number) come together from one parent. Every group
        constraint therefore stays satisfied."""
        self.validate(first)
        self.validate(second)
        pick = lambda a, b: a if rng.random() < 0.5 else b  # noqa: E731
        stages = [pick(a, b) for a, b in zip(first.stages[:-1], second.stages[:-1], strict=True)]
        tail = pick(first, second)
        return Arch(self.family, pick(first.stem, second.stem), (*stages, tail.stages[-1]), tail.head)


def _check(where: str, name: str, value: object, allowed: Sequence[object]) -> None:
    if value not in allowed:
        raise InvalidArchError(f"{where}: {name}={value!r} is outside the search space; allowed: {list(allowed)}")
