"""HRNet architectures as data, and the ViPNAS HRNet-W32 search space (paper §A.2, Table A3).

An HRNet (Sun et al. 2019, as MMPose's ``HRNet`` builds it) is a stem of two 3x3 stride-2 convolutions, a first
stage of Bottleneck blocks at stride 4, and then stages of parallel branches, each stage adding one branch at half
the resolution of the last. A multi-branch stage is ``depth`` *modules* in a row; a module runs ``blocks``
BasicBlocks on every branch and then fuses the branches (every output branch sums all input branches brought to
its resolution and width). Between stages a *transition* adapts the branches: a 3x3 conv + BN + ReLU where a
branch's width changes, and a 3x3 stride-2 conv + BN + ReLU from the lowest-resolution branch for the new branch.

:class:`HRNetArch` fixes every choice:

* ``stem_width``: output channels of both stem convolutions.
* ``stages[0]``: the Bottleneck stage, a chain of ``depth`` Bottleneck blocks (expansion 4) on one branch;
  ``branches[0].width`` is the Bottleneck's middle width, so the stage outputs ``4 * width`` channels. Its
  ``blocks`` must be 1 (each of its ``depth`` "modules" is one Bottleneck; allowing ``blocks`` > 1 there would
  give two archs for one network).
* ``stages[k]``, k >= 1: ``k + 1`` branches at strides 4, 8, ..., ``depth`` modules of ``blocks`` BasicBlocks per
  branch. Per branch: ``width``, ``kernel_size`` and ``groups`` of both 3x3 convolutions of the BasicBlock (and of
  the Bottleneck's middle convolution in stage 0), and ``attention``: an SE block (squeeze ratio 4,
  :func:`vipnas.space.family.se_channels`) at the end of the residual branch, before the addition.

Transitions and fuse layers are not searched: they follow from the branch widths (3x3 kernels, groups 1).

**Depth below the maximum.** When a stage keeps ``depth`` of its supernet's ``D`` modules, the *first* ``depth``
modules are kept (as elastic depth keeps the first blocks, §A.1); every kept module keeps its own fuse layer; the
stage's last kept module is the one whose output goes on to the next stage (or to the head). In the static network
the last module of the last stage fuses into the highest-resolution branch only (MMPose's
``multiscale_output=False``), every other module into all branches; a supernet extracting a shallower stage takes
the output-0 fuse of the last kept module for the last stage.

**The space, from Table A3.** Table A3's Depth column counts BasicBlocks per branch over the whole stage
(stage 2: [4, 4], stage 3: [8, 16], stage 4: [8, 12]; HRNet-W32 has 1 x 4, 4 x 4 and 3 x 4). We search the
number of modules with 4 blocks each, so the ranges become 1, {2, 3, 4} and {2, 3} modules; stage 1's [2, 4] is
the Bottleneck count {2, 3, 4}. The table gives no steps for HRNet (§A.2 gives the ResNet-50 steps only); we
choose: widths in quarters of the maximum (stem and stage 1: 16..64 step 16; branches 1-4: 8..32 step 8,
16..64 step 16, 32..128 step 32, 64..256 step 64); group numbers the powers of two from 1 to the table's maximum
(stage 1: 1..16; branch b: 1..its maximum width, i.e. up to depthwise), of which those that divide the branch's
width are valid; kernel size 3 only (Table A3: [3, 3]); attention off or on. HRNet-W32 (stem 64, Bottleneck width
64, widths 32/64/128/256, 4/1/4/3, groups 1, no attention) lies in the space: every one of its choices is a
maximum (largest widths and depths) or a minimum (groups 1, no attention) of the table.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, ClassVar

from vipnas.space.blocks import FeatureInfo
from vipnas.space.search_space import InvalidArchError

__all__ = [
    "BOTTLENECK_EXPANSION",
    "HRNET_W32_ARCH",
    "HRNET_W32_SPACE",
    "HRNET_W32_TINY_SPACE",
    "BranchArch",
    "BranchSpace",
    "HRNetArch",
    "HRNetSearchSpace",
    "HRStageArch",
    "HRStageSpace",
    "hrnet_feature_points",
]

BOTTLENECK_EXPANSION = 4  # output channels / middle width of the stage-1 Bottleneck (MMPose get_expansion)
STEM_STRIDE = 4  # two stride-2 convolutions; every stage's first branch stays at stride 4


@dataclass(frozen=True)
class BranchArch:
    """One parallel branch of a stage (all its blocks, in every module of the stage, share these choices).

    Attributes:
        width: channels of the branch (stage 0: the Bottleneck's middle width; it outputs 4x as many).
        kernel_size: kernel of both BasicBlock convolutions (stage 0: of the Bottleneck's middle convolution).
        groups: group number of the same convolutions; must divide ``width``.
        attention: whether every block of the branch ends with an SE block.
    """

    width: int
    kernel_size: int = 3
    groups: int = 1
    attention: bool = False


@dataclass(frozen=True)
class HRStageArch:
    """One stage.

    Attributes:
        depth: number of modules (stage 0: number of Bottleneck blocks).
        branches: one :class:`BranchArch` per resolution, highest first (stage k has k + 1).
        blocks: BasicBlocks per branch in each module (stage 0: must be 1).
    """

    depth: int
    branches: tuple[BranchArch, ...]
    blocks: int = 4

    def __post_init__(self) -> None:
        if not isinstance(self.branches, tuple):
            object.__setattr__(self, "branches", tuple(self.branches))


@dataclass(frozen=True)
class HRNetArch:
    """A complete HRNet: the stem width and the stages (stage 0 the Bottleneck stage). Frozen and hashable.

    Raises:
        ValueError: on construction, when the structure is not an HRNet (naming the field, e.g.
            ``arch.stages[2].branches``), see the module docstring.
    """

    stem_width: int
    stages: tuple[HRStageArch, ...]
    family: ClassVar[str] = "hrnet"  # written to JSON: tells an HRNet arch file from a ResNet/MobileNetV3 one

    def __post_init__(self) -> None:
        if not isinstance(self.stages, tuple):
            object.__setattr__(self, "stages", tuple(self.stages))
        _check_structure(self.stem_width, self.stages, "arch")

    @property
    def out_channels(self) -> int:
        """Channels the head receives: the highest-resolution branch of the last stage."""
        return self.stages[-1].branches[0].width

    def stage_out_channels(self, index: int) -> tuple[int, ...]:
        """Channels of each branch that stage ``index`` outputs (stage 0: ``4 * width``)."""
        stage = self.stages[index]
        if index == 0:
            return (BOTTLENECK_EXPANSION * stage.branches[0].width,)
        return tuple(branch.width for branch in stage.branches)

    # ------------------------------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: ``{"family": "hrnet", "stem_width", "stages": [{"depth", "blocks", "branches"}]}``."""
        return {
            "family": self.family,
            "stem_width": self.stem_width,
            "stages": [
                {
                    "depth": stage.depth,
                    "blocks": stage.blocks,
                    "branches": [
                        {
                            "width": branch.width,
                            "kernel_size": branch.kernel_size,
                            "groups": branch.groups,
                            "attention": branch.attention,
                        }
                        for branch in stage.branches
                    ],
                }
                for stage in self.stages
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "arch") -> HRNetArch:
        """Parse a dict written by :meth:`to_dict`.

        Raises:
            ValueError: a field is missing, unknown, of the wrong type or breaks the HRNet structure; the message
                names it, e.g. ``arch.stages[2].branches[1].width: expected an integer, got 'x'``.
        """
        _check_keys(data, source, required=("stem_width", "stages"), optional=("family",))
        if "family" in data and data["family"] != "hrnet":
            raise ValueError(f"{source}.family: expected 'hrnet', got {data['family']!r}")
        stem_width = _integer(data["stem_width"], f"{source}.stem_width")
        raw_stages = data["stages"]
        if not isinstance(raw_stages, list | tuple) or not raw_stages:
            raise ValueError(f"{source}.stages: expected a non-empty list, got {raw_stages!r}")
        stages = []
        for index, raw_stage in enumerate(raw_stages):
            where = f"{source}.stages[{index}]"
            _check_keys(raw_stage, where, required=("depth", "branches"), optional=("blocks",))
            raw_branches = raw_stage["branches"]
            if not isinstance(raw_branches, list | tuple) or not raw_branches:
                raise ValueError(f"{where}.branches: expected a non-empty list, got {raw_branches!r}")
            branches = []
            for number, raw_branch in enumerate(raw_branches):
                place = f"{where}.branches[{number}]"
                _check_keys(raw_branch, place, required=("width",), optional=("kernel_size", "groups", "attention"))
                branches.append(
                    BranchArch(
                        width=_integer(raw_branch["width"], f"{place}.width"),
                        kernel_size=_integer(raw_branch.get("kernel_size", 3), f"{place}.kernel_size"),
                        groups=_integer(raw_branch.get("groups", 1), f"{place}.groups"),
                        attention=_boolean(raw_branch.get("attention", False), f"{place}.attention"),
                    )
                )
            stages.append(
                HRStageArch(
                    depth=_integer(raw_stage["depth"], f"{where}.depth"),
                    branches=tuple(branches),
                    blocks=_integer(raw_stage.get("blocks", 4), f"{where}.blocks"),
                )
            )
        _check_structure(stem_width, stages, source)  # under the caller's name; __post_init__ would say "arch"
        return cls(stem_width=stem_width, stages=tuple(stages))

    @classmethod
    def from_json(cls, text: str, *, source: str = "arch") -> HRNetArch:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{source}: not valid JSON ({error})") from None
        return cls.from_dict(data, source=source)

    def describe(self) -> str:
        """Multi-line human-readable table of the arch."""
        lines = [f"hrnet  stem width {self.stem_width}"]
        for index, stage in enumerate(self.stages):
            if index == 0:
                lines.append(f"  stage1 {stage.depth} Bottleneck blocks (output {self.stage_out_channels(0)[0]})")
            else:
                modules = "module" if stage.depth == 1 else "modules"
                lines.append(f"  stage{index + 1} {stage.depth} {modules} x {stage.blocks} BasicBlocks per branch")
            for number, branch in enumerate(stage.branches):
                lines.append(
                    f"    branch{number + 1} stride {STEM_STRIDE * 2**number:2d}  width {branch.width:4d}"
                    f"  kernel {branch.kernel_size}  groups {branch.groups:4d}"
                    f"  attention {'yes' if branch.attention else 'no'}"
                )
        return "\n".join(lines)


def _check_keys(data: Any, source: str, *, required: Sequence[str], optional: Sequence[str]) -> None:
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected an object, got {data!r}")
    missing = [key for key in required if key not in data]
    if missing:
        raise ValueError(f"{source}: missing field(s) {missing}")
    unknown = sorted(set(data) - set(required) - set(optional))
    if unknown:
        raise ValueError(f"{source}: unknown field(s) {unknown}; expected {sorted([*required, *optional])}")


def _integer(value: Any, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{source}: expected an integer, got {value!r}")
    return value


def _boolean(value: Any, source: str) -> bool:
    if value not in (True, False, 0, 1) or not isinstance(value, bool | int):
        raise ValueError(f"{source}: expected true/false, got {value!r}")
    return bool(value)


def _check_structure(stem_width: Any, stages: Sequence[Any], source: str) -> None:
    """Raise a ValueError naming the field unless these describe an HRNet (independent of any search space)."""
    _positive(stem_width, f"{source}.stem_width")
    if len(stages) < 2:
        raise ValueError(
            f"{source}.stages: an HRNet has a Bottleneck stage and at least one multi-branch stage, "
            f"got {len(stages)} stage(s)"
        )
    for index, stage in enumerate(stages):
        where = f"{source}.stages[{index}]"
        if not isinstance(stage, HRStageArch):
            raise ValueError(f"{where}: expected an HRStageArch, got {type(stage).__name__}")
        _positive(stage.depth, f"{where}.depth")
        _positive(stage.blocks, f"{where}.blocks")
        if index == 0 and stage.blocks != 1:
            raise ValueError(
                f"{where}.blocks: stage 1 is a chain of `depth` Bottlenecks; expected 1, got {stage.blocks}"
            )
        if len(stage.branches) != index + 1:
            raise ValueError(
                f"{where}.branches: stage {index + 1} of an HRNet has {index + 1} branch(es), got {len(stage.branches)}"
            )
        for number, branch in enumerate(stage.branches):
            place = f"{where}.branches[{number}]"
            if not isinstance(branch, BranchArch):
                raise ValueError(f"{place}: expected a BranchArch, got {type(branch).__name__}")
            _positive(branch.width, f"{place}.width")
            _positive(branch.kernel_size, f"{place}.kernel_size")
            if branch.kernel_size % 2 == 0:
                raise ValueError(f"{place}.kernel_size: expected an odd kernel size, got {branch.kernel_size}")
            _positive(branch.groups, f"{place}.groups")
            if branch.width % branch.groups:
                raise ValueError(f"{place}.groups: {branch.groups} does not divide the width {branch.width}")
            if not isinstance(branch.attention, bool):
                raise ValueError(f"{place}.attention: expected true/false, got {branch.attention!r}")


def _positive(value: Any, source: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{source}: expected a positive integer, got {value!r}")


def hrnet_feature_points(arch: HRNetArch) -> list[FeatureInfo]:
    """F1..F4 of an HRNet: the highest-resolution branch output of each stage (stage 0 included), all at stride 4.

    These are what :meth:`vipnas.nn.hrnet.HRNetPose.forward_features` returns, in order; the temporal fusion
    point of a T-ViPNet is one of them.
    """
    return [
        FeatureInfo(f"F{index + 1}", index, arch.stage_out_channels(index)[0], STEM_STRIDE)
        for index in range(len(arch.stages))
    ]


# MMPose td-hm_hrnet-w32_8xb64-210e_coco-256x192.py: stage1 1 module of 4 Bottlenecks (64 -> 256), stage2-4
# 1/4/3 modules of 4 BasicBlocks per branch, widths (32, 64), (32, 64, 128), (32, 64, 128, 256); stem 64.
HRNET_W32_ARCH = HRNetArch(
    stem_width=64,
    stages=(
        HRStageArch(depth=4, branches=(BranchArch(64),), blocks=1),
        HRStageArch(depth=1, branches=(BranchArch(32), BranchArch(64))),
        HRStageArch(depth=4, branches=(BranchArch(32), BranchArch(64), BranchArch(128))),
        HRStageArch(depth=3, branches=(BranchArch(32), BranchArch(64), BranchArch(128), BranchArch(256))),
    ),
)


# ---------------------------------------------------------------------------------------------- search space
@dataclass(frozen=True)
class BranchSpace:
    """Choices of one branch. ``groups`` are absolute group numbers; for a given width only those dividing it
    are valid (width and groups are therefore enumerated jointly, see :attr:`HRNetSearchSpace.width_choices`)."""

    widths: tuple[int, ...]
    groups: tuple[int, ...]
    kernel_sizes: tuple[int, ...] = (3,)
    attentions: tuple[bool, ...] = (False, True)


@dataclass(frozen=True)
class HRStageSpace:
    """Choices of one stage: module counts (stage 0: Bottleneck counts), blocks per module, and per branch."""

    depths: tuple[int, ...]
    branches: tuple[BranchSpace, ...]
    blocks: tuple[int, ...] = (4,)


@dataclass(frozen=True)
class HRNetSearchSpace:
    """An HRNet search space: validation, extremes, uniform sampling, mutation and crossover.

    Every method that draws randomness takes an explicit :class:`random.Random`. Sampling is uniform over the valid
    archs: per branch a (width, groups) pair is drawn among the valid ones, every other choice independently.

    Attributes:
        name: registry name, e.g. ``hrnet_w32``.
        stem_widths: choices of the stem width.
        stages: per-stage choices (stage 0 the Bottleneck stage).
    """

    name: str
    stem_widths: tuple[int, ...]
    stages: tuple[HRStageSpace, ...]

    @cached_property
    def width_choices(self) -> tuple[tuple[tuple[tuple[int, int], ...], ...], ...]:
        """Per stage and branch, every valid ``(width, groups)`` pair."""
        result = []
        for index, stage in enumerate(self.stages):
            per_branch = []
            for number, branch in enumerate(stage.branches):
                pairs = tuple((w, g) for w, g in itertools.product(branch.widths, branch.groups) if w % g == 0)
                if not pairs:
                    raise ValueError(
                        f"search space {self.name}: stage {index + 1} branch {number + 1} admits no "
                        f"group number dividing any width"
                    )
                per_branch.append(pairs)
            result.append(tuple(per_branch))
        return tuple(result)

    def size(self) -> int:
        """Number of distinct archs in the space."""
        total = len(self.stem_widths)
        for stage, pairs in zip(self.stages, self.width_choices, strict=True):
            total *= len(stage.depths) * len(stage.blocks)
            for branch, valid in zip(stage.branches, pairs, strict=True):
                total *= len(valid) * len(branch.kernel_sizes) * len(branch.attentions)
        return total

    # ---------------------------------------------------------------------------------------------- validate
    def validate(self, arch: HRNetArch) -> HRNetArch:
        """Return ``arch`` if it belongs to this space.

        Raises:
            InvalidArchError: (a ValueError) naming the field, e.g. ``arch.stages[2].branches[1].width``, the value
                and the allowed set.
        """
        if not isinstance(arch, HRNetArch):
            raise InvalidArchError(f"expected an HRNetArch for search space {self.name}, got {type(arch).__name__}")
        if len(arch.stages) != len(self.stages):
            raise InvalidArchError(
                f"arch.stages: {len(arch.stages)} stages; search space {self.name} has {len(self.stages)}"
            )
        _allowed("arch.stem_width", arch.stem_width, self.stem_widths)
        for index, (stage, choice) in enumerate(zip(arch.stages, self.stages, strict=True)):
            where = f"arch.stages[{index}]"
            _allowed(f"{where}.depth", stage.depth, choice.depths)
            _allowed(f"{where}.blocks", stage.blocks, choice.blocks)
            for number, (branch, options) in enumerate(zip(stage.branches, choice.branches, strict=True)):
                place = f"{where}.branches[{number}]"
                _allowed(f"{place}.width", branch.width, options.widths)
                valid = [g for g in options.groups if branch.width % g == 0]
                _allowed(f"{place}.groups", branch.groups, valid, f" (group numbers dividing width {branch.width})")
                _allowed(f"{place}.kernel_size", branch.kernel_size, options.kernel_sizes)
                _allowed(f"{place}.attention", branch.attention, options.attentions)
        return arch

    def contains(self, arch: HRNetArch) -> bool:
        try:
            self.validate(arch)
        except InvalidArchError:
            return False
        return True

    # ---------------------------------------------------------------------------------------- extreme archs
    def largest(self) -> HRNetArch:
        """Every dimension at its maximum: widest, deepest, groups 1, largest kernel, attention on."""
        return self._extreme(max)

    def smallest(self) -> HRNetArch:
        """Every dimension at its minimum: narrowest, shallowest, most groups, smallest kernel, attention off."""
        return self._extreme(min)

    def _extreme(self, pick: Any) -> HRNetArch:
        stages = []
        for stage, pairs in zip(self.stages, self.width_choices, strict=True):
            branches = []
            for options, valid in zip(stage.branches, pairs, strict=True):
                # "larger" means more channels, then fewer groups
                width, groups = pick(valid, key=lambda pair: (pair[0], -pair[1]))
                branches.append(BranchArch(width, pick(options.kernel_sizes), groups, pick(options.attentions)))
            stages.append(HRStageArch(pick(stage.depths), tuple(branches), pick(stage.blocks)))
        return HRNetArch(pick(self.stem_widths), tuple(stages))

    # -------------------------------------------------------------------------------------------- sampling
    def sample(self, rng: random.Random) -> HRNetArch:
        """A uniformly random valid arch."""
        stem_width = rng.choice(self.stem_widths)
        stages = []
        for stage, pairs in zip(self.stages, self.width_choices, strict=True):
            depth = rng.choice(stage.depths)
            blocks = rng.choice(stage.blocks)
            branches = tuple(
                self._sample_branch(options, valid, rng) for options, valid in zip(stage.branches, pairs, strict=True)
            )
            stages.append(HRStageArch(depth, branches, blocks))
        return HRNetArch(stem_width, tuple(stages))

    @staticmethod
    def _sample_branch(options: BranchSpace, valid: Sequence[tuple[int, int]], rng: random.Random) -> BranchArch:
        width, groups = rng.choice(valid)
        return BranchArch(width, rng.choice(options.kernel_sizes), groups, rng.choice(options.attentions))

    def mutate(self, arch: HRNetArch, rng: random.Random, probability: float = 0.1) -> HRNetArch:
        """Resample each choice with ``probability`` (a branch's width and groups move together, so the result stays
        valid). The input is validated first.

        Raises:
            ValueError: ``probability`` outside [0, 1], or ``arch`` outside the space.
        """
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"mutation probability must lie in [0, 1], got {probability!r}")
        self.validate(arch)
        stem_width = rng.choice(self.stem_widths) if rng.random() < probability else arch.stem_width
        stages = []
        for stage, choice, pairs in zip(arch.stages, self.stages, self.width_choices, strict=True):
            if rng.random() < probability:
                stage = replace(stage, depth=rng.choice(choice.depths))
            if rng.random() < probability:
                stage = replace(stage, blocks=rng.choice(choice.blocks))
            branches = []
            for branch, options, valid in zip(stage.branches, choice.branches, pairs, strict=True):
                if rng.random() < probability:
                    width, groups = rng.choice(valid)
                    branch = replace(branch, width=width, groups=groups)
                if rng.random() < probability:
                    branch = replace(branch, kernel_size=rng.choice(options.kernel_sizes))
                if rng.random() < probability:
                    branch = replace(branch, attention=rng.choice(options.attentions))
                branches.append(branch)
            stages.append(replace(stage, branches=tuple(branches)))
        return HRNetArch(stem_width, tuple(stages))

    def crossover(self, first: HRNetArch, second: HRNetArch, rng: random.Random) -> HRNetArch:
        """Uniform crossover at branch granularity: the stem width, each stage's depth and blocks, and each branch
        (width, groups, kernel, attention together) come from one parent. No choice couples two branches, so the
        child is valid."""
        self.validate(first)
        self.validate(second)

        def pick(a: Any, b: Any) -> Any:
            return a if rng.random() < 0.5 else b

        stages = []
        for a, b in zip(first.stages, second.stages, strict=True):
            depth = pick(a.depth, b.depth)
            blocks = pick(a.blocks, b.blocks)
            branches = tuple(pick(x, y) for x, y in zip(a.branches, b.branches, strict=True))
            stages.append(HRStageArch(depth, branches, blocks))
        return HRNetArch(pick(first.stem_width, second.stem_width), tuple(stages))


def _allowed(where: str, value: object, allowed: Sequence[object], note: str = "") -> None:
    if value not in allowed:
        raise InvalidArchError(f"{where}={value!r} is outside the search space; allowed{note}: {list(allowed)}")


def _steps(low: int, high: int, step: int) -> tuple[int, ...]:
    return tuple(range(low, high + 1, step))


def _powers_of_two(high: int) -> tuple[int, ...]:
    return tuple(2**exponent for exponent in range(high.bit_length()) if 2**exponent <= high)


def _branch(low: int, high: int) -> BranchSpace:
    # Table A3: widths [low, high], groups [1, high], kernel [3, 3], attention [0, 1]
    return BranchSpace(widths=_steps(low, high, low), groups=_powers_of_two(high))


_BRANCHES = ((8, 32), (16, 64), (32, 128), (64, 256))  # Table A3 width ranges of branches 1-4

HRNET_W32_SPACE = HRNetSearchSpace(
    name="hrnet_w32",
    stem_widths=_steps(16, 64, 16),
    stages=(
        HRStageSpace(
            depths=(2, 3, 4), blocks=(1,), branches=(BranchSpace(widths=_steps(16, 64, 16), groups=_powers_of_two(16)),)
        ),
        HRStageSpace(depths=(1,), branches=tuple(_branch(*r) for r in _BRANCHES[:2])),
        HRStageSpace(depths=(2, 3, 4), branches=tuple(_branch(*r) for r in _BRANCHES[:3])),
        HRStageSpace(depths=(2, 3), branches=tuple(_branch(*r) for r in _BRANCHES)),
    ),
)

# The same structure (4 stages, stage 2-4 of 2-4 branches, depth, per-branch width, groups and SE) at about a quarter of
# the widths, with two choices per dimension and 1 BasicBlock per module: for tests, demos and latency tables on 2
# cores (its latency table has 126 units, HRNET_W32_SPACE's 1,100: vipnas.space.hrnet_units).
HRNET_W32_TINY_SPACE = HRNetSearchSpace(
    name="hrnet_w32_tiny",
    stem_widths=(8, 16),
    stages=(
        HRStageSpace(depths=(1, 2), blocks=(1,), branches=(BranchSpace(widths=(8, 16), groups=(1, 4)),)),
        HRStageSpace(depths=(1,), blocks=(1,), branches=tuple(BranchSpace((w, 2 * w), (1, 4)) for w in (4, 8))),
        HRStageSpace(depths=(1, 2), blocks=(1,), branches=tuple(BranchSpace((w, 2 * w), (1, 4)) for w in (4, 8, 16))),
        HRStageSpace(
            depths=(1, 2), blocks=(1,), branches=tuple(BranchSpace((w, 2 * w), (1, 4)) for w in (4, 8, 16, 32))
        ),
    ),
)
