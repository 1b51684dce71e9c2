"""The one walk over an arch: its network as a sequence of typed block specs, each with its channels, kernel, groups,
stride and input resolution.

Every consumer reads the network's shape from here and nowhere else: the static builder
(:func:`vipnas.models.pose.build_static`), the supernet's :meth:`~vipnas.models.supernet.PoseSupernet.activate`
(:class:`vipnas.elastic.backbones.ElasticBackbone` builds its max-size blocks from the walk of the space's
:meth:`~vipnas.space.search_space.SearchSpace.envelope` and activates them from the walk of an arch), the analytic
complexity count (:mod:`vipnas.models.complexity`) and the latency table (one measured entry per distinct
:meth:`BlockSpec.key`, :mod:`vipnas.nas.latency`, whose whole-space enumeration :func:`space_blocks` uses the
same per-block constructors). A new kind of block (the temporal fusion module) is one more constructor here, one
builder in :mod:`vipnas.nn.blocks` and its elastic twin, one entry in the complexity table.

Torch-free: this is data about an arch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import astuple, dataclass, field, fields

from vipnas.space.arch import Arch, HeadArch, StageArch, StemArch
from vipnas.space.family import FAMILY_SPECS, FamilySpec, se_channels

__all__ = [
    "BLOCK_KINDS",
    "BlockSpec",
    "FeatureInfo",
    "arch_blocks",
    "check_buildable",
    "check_stage_count",
    "feature_info",
    "fusion_block",
    "head_blocks",
    "output_size",
    "space_blocks",
    "space_fusion_blocks",
    "stage_block",
    "stem_block",
]

BLOCK_KINDS = ("stem", "bottleneck", "mobile", "deconv", "upsample", "final", "fusion")
DECONV_KERNELS = (2, 3, 4)  # the kernel sizes whose stride-2 deconvolution exactly doubles the resolution
# latency-table keys keep the names they were written with (tables measured before the rename stay readable)
_KEY_NAMES = {"in_height": "height", "in_width": "width"}


def output_size(size: int, kernel_size: int, stride: int) -> int:
    """Output length of a convolution with padding ``kernel_size // 2``."""
    return (size + 2 * (kernel_size // 2) - kernel_size) // stride + 1


@dataclass(frozen=True)
class BlockSpec:
    """One block of a network at its place: what a module needs to be built, counted or timed alone.

    ``kind`` is one of :data:`BLOCK_KINDS`; fields a kind does not use are 0 (or empty). ``in_height`` /
    ``in_width`` are the block's input resolution (pixels; channel counts are ``*_channels``). ``stage`` and
    ``index`` say where it sits (stem: stage -1; blocks: stage s, block index; head: stage = number of stages,
    deconvolution index, the final 1x1 last); they do not take part in equality or the latency key, so equal
    blocks at different places share one latency entry.
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
    expansion: bool = False
    activation: str = ""
    pool: bool = False
    op: str = ""  # fusion: add | mul | cat
    stage: int = field(default=-1, compare=False)
    index: int = field(default=0, compare=False)

    @property
    def out_size(self) -> tuple[int, int]:
        """(height, width) of the block's output."""
        h, w = self.in_height, self.in_width
        if self.kind in ("deconv", "upsample"):
            return 2 * h, 2 * w
        if self.kind in ("final", "fusion"):
            return h, w
        h, w = output_size(h, self.kernel_size, self.stride), output_size(w, self.kernel_size, self.stride)
        if self.pool:
            h, w = output_size(h, 3, 2), output_size(w, 3, 2)
        return h, w

    def key(self) -> str:
        """A stable text key of the block's configuration (not its place), e.g. for the latency table."""
        return "|".join(
            f"{_KEY_NAMES.get(f.name, f.name)}={v}"
            for f, v in zip(fields(self), astuple(self), strict=True)
            if f.compare and not (f.name == "op" and not v)  # keys written before fusion blocks existed stay valid
        )

    @classmethod
    def from_key(cls, key: str) -> BlockSpec:
        values = dict(part.split("=", 1) for part in key.split("|"))
        kwargs = {}
        for f in fields(cls):
            if not f.compare:
                continue
            name = _KEY_NAMES.get(f.name, f.name)
            if name not in values and f.name == "op":
                continue
            text = values[name]
            kwargs[f.name] = text if f.type == "str" else (text == "True" if f.type == "bool" else int(text))
        return cls(**kwargs)


def check_stage_count(arch: Arch) -> FamilySpec:
    """The family spec of ``arch``, once its stage count is checked against it (a cheap check every walk makes:
    ``zip(strict=True)`` would otherwise fail with "zip() argument 2 is longer than argument 1").

    Raises:
        ValueError: naming both counts.
    """
    spec = FAMILY_SPECS[arch.family]
    if len(arch.stages) != len(spec.stage_strides):
        raise ValueError(f"arch has {len(arch.stages)} stages; a {arch.family} network has {len(spec.stage_strides)}")
    return spec


# ------------------------------------------------------------------------------------ one constructor per kind
def stem_block(spec: FamilySpec, stem: StemArch, input_size: tuple[int, int]) -> BlockSpec:
    """The stem convolution (and, for ResNet, its max pool) on the network input."""
    h, w = input_size
    return BlockSpec(
        "stem", 3, stem.width, h, w, stem.kernel_size, stride=spec.stem_stride, activation=spec.stem_activation,
        pool=spec.stem_pool, stage=-1,
    )  # fmt: skip


def stage_block(
    spec: FamilySpec, stage_index: int, block_index: int, stage: StageArch, in_channels: int, size: tuple[int, int]
) -> BlockSpec:
    """Block ``block_index`` of stage ``stage_index``: the first block carries the stage's stride (and, for
    ResNet, the projection shortcut); the others keep resolution and width."""
    first = block_index == 0
    common = dict(
        in_channels=in_channels,
        out_channels=spec.output_channels(stage),
        in_height=size[0],
        in_width=size[1],
        kernel_size=stage.kernel_size,
        groups=stage.groups,
        stride=spec.stage_strides[stage_index] if first else 1,
        middle_channels=spec.middle_channels(stage),
        attention=stage.attention,
        stage=stage_index,
        index=block_index,
    )
    if spec.name == "resnet":
        return BlockSpec("bottleneck", projection=first, **common)
    return BlockSpec(
        "mobile", expansion=stage.expand_ratio != 1, activation=spec.stage_activations[stage_index], **common
    )


def head_blocks(
    spec: FamilySpec, head: HeadArch, in_channels: int, size: tuple[int, int], num_joints: int
) -> list[BlockSpec]:
    """The head's stride-2 layers (deconvolutions, or upsampling layers for a ``head_kind="upsample"`` family),
    then the 1x1 heatmap convolution."""
    blocks, (h, w) = [], size
    where = len(spec.stage_strides)
    for layer in range(spec.head_layers):
        blocks.append(
            BlockSpec(
                spec.head_kind, in_channels, head.width, h, w, head.kernel_size, head.groups, 2, stage=where,
                index=layer,
            )
        )  # fmt: skip
        in_channels, (h, w) = head.width, blocks[-1].out_size
    blocks.append(BlockSpec("final", in_channels, num_joints, h, w, stage=where, index=spec.head_layers))
    return blocks


# ------------------------------------------------------------------------------------------------ the walk
def arch_blocks(arch: Arch, *, num_joints: int = 17, input_size: tuple[int, int] = (256, 192)) -> list[BlockSpec]:
    """The blocks of the network of ``arch`` in execution order: stem, every stage's blocks, head.

    Raises:
        ValueError: the arch's stage count is not its family's (the one check of :func:`check_buildable` a
            stage-by-stage walk cannot do without).
    """
    spec = check_stage_count(arch)
    stem = stem_block(spec, arch.stem, input_size)
    blocks, channels, size = [stem], stem.out_channels, stem.out_size
    for stage_index, stage in enumerate(arch.stages):
        for block_index in range(stage.depth):
            block = stage_block(spec, stage_index, block_index, stage, channels, size)
            blocks.append(block)
            channels, size = block.out_channels, block.out_size
    blocks += head_blocks(spec, arch.head, channels, size, num_joints)
    return blocks


@dataclass(frozen=True)
class FeatureInfo:
    """One of the paper's fusion points F1..F4: the stage whose output it is, its channels and its stride."""

    name: str  # "F1" .. "F4"
    stage: int  # index of the stage (and of ``forward_features``' output)
    channels: int
    stride: int


def feature_info(arch: Arch) -> list[FeatureInfo]:
    """F1..F4 of ``arch``: the outputs of the last stage at each stride 4, 8, 16, 32 (ResNet: its 4 stages;
    MobileNetV3: stages 2, 3, 5 and 6 of 6, since stages 4 and 5 both run at stride 16 and F3 is the later one)."""
    spec = check_stage_count(arch)
    stride = spec.stem_stride * (2 if spec.stem_pool else 1)
    strides = []
    for s in spec.stage_strides:
        stride *= s
        strides.append(stride)
    return [
        FeatureInfo(f"F{number}", stage, spec.output_channels(arch.stages[stage]), strides[stage])
        for number, stage in enumerate(spec.feature_stages, start=1)
    ]


def fusion_block(
    arch: Arch, fusion: int, op: str, *, num_joints: int = 17, input_size: tuple[int, int] = (256, 192)
) -> BlockSpec:
    """The temporal fusion module of a T-ViPNet (ViPNAS Fig. 2) at fusion point ``fusion`` (1..4 for F1..F4) of
    ``arch``: the K propagated heatmaps, resized to that stage's resolution, embedded to its C channels, combined with
    its features by ``op`` and projected back to C (``in_channels`` K, ``out_channels`` C, resolution: the stage's)."""
    info = feature_info(arch)[fusion - 1]
    height, width = input_size
    return BlockSpec(
        "fusion", num_joints, info.channels, height // info.stride, width // info.stride, op=op, stage=info.stage,
        index=-1,
    )  # fmt: skip


def space_blocks(space: object, *, num_joints: int = 17, input_size: tuple[int, int] = (256, 192)) -> list[BlockSpec]:
    """Every distinct block that some arch of ``space`` (a :class:`~vipnas.space.search_space.SearchSpace`)
    contains, in network order, from the same constructors as :func:`arch_blocks`.

    Raises:
        ValueError: the stem choices give different resolutions (the table assumes one).
    """
    spec: FamilySpec = space.spec  # type: ignore[attr-defined]
    found: dict[BlockSpec, None] = {}
    sizes = set()
    for width in space.stem.widths:  # type: ignore[attr-defined]
        for kernel in space.stem.kernel_sizes:  # type: ignore[attr-defined]
            stem = stem_block(spec, StemArch(width, kernel), input_size)
            found[stem] = None
            sizes.add(stem.out_size)
    if len(sizes) != 1:
        raise ValueError(f"stem choices give different resolutions {sorted(sizes)}; the table assumes one")
    size, inputs = sizes.pop(), set(space.stem.widths)  # type: ignore[attr-defined]
    for index, choice in enumerate(space.stages):  # type: ignore[attr-defined]
        outputs, depths = set(), (0, 1) if max(choice.depths) > 1 else (0,)
        for width in space.width_choices[index]:  # type: ignore[attr-defined]
            for kernel in choice.kernel_sizes:
                for attention in choice.attentions:
                    stage = StageArch(1, width.width, kernel, width.groups, attention, width.expand_ratio)
                    out = spec.output_channels(stage)
                    outputs.add(out)
                    for block_index in depths:
                        first = stage_block(spec, index, 0, stage, min(inputs), size)
                        at = size if block_index == 0 else first.out_size
                        for cin in sorted(inputs) if block_index == 0 else [out]:
                            found[stage_block(spec, index, block_index, stage, cin, at)] = None
        biggest = max(choice.kernel_sizes)  # every kernel gives the same resolution (odd kernels, k // 2 padding)
        size = (
            output_size(size[0], biggest, spec.stage_strides[index]),
            output_size(size[1], biggest, spec.stage_strides[index]),
        )
        inputs = outputs
    for cin in sorted(inputs):
        for head in space.head_choices(cin):  # type: ignore[attr-defined]
            for kernel in space.head.kernel_sizes:  # type: ignore[attr-defined]
                for block in head_blocks(spec, HeadArch(head.width, kernel, head.groups), cin, size, num_joints):
                    found[block] = None
    return list(found)


def space_fusion_blocks(
    space: object, *, num_joints: int = 17, input_size: tuple[int, int] = (256, 192)
) -> list[BlockSpec]:
    """Every distinct fusion module a T-ViPNet of ``space`` can contain: each fusion point F1..F4, each channel
    count its stage can have, each op (what the latency table times for the temporal search)."""
    from vipnas.space.temporal import FUSION_OPS

    spec: FamilySpec = space.spec  # type: ignore[attr-defined]
    points = feature_info(space.largest())  # type: ignore[attr-defined]  (strides do not depend on the arch)
    found: dict[BlockSpec, None] = {}
    for point in points:
        widths = sorted({spec.output_channels(c.stage()) for c in space.width_choices[point.stage]})  # type: ignore[attr-defined]
        for channels in widths:
            for op in FUSION_OPS:
                block = BlockSpec(
                    "fusion", num_joints, channels, input_size[0] // point.stride, input_size[1] // point.stride,
                    op=op, stage=point.stage, index=-1,
                )  # fmt: skip
                found[block] = None
    return list(found)


def check_buildable(arch: Arch, *, num_joints: int = 17) -> Arch:
    """Return ``arch`` if its static network can be built, else raise naming every impossible field.

    Every arch of a search space passes; this is for archs written by hand (or edited), which may lie outside any
    space (SimpleBaseline's does) and still be valid networks. Not called by :func:`arch_blocks`, which a search
    runs thousands of times on archs its space has already validated.

    Raises:
        ValueError: wrong stage count for the family, non-positive sizes, even kernels (the padding would change
            the resolution), group numbers that do not divide their channels, a mobile block without expansion
            whose input and middle widths differ, an unsupported deconvolution kernel, ``num_joints`` < 1.
    """
    spec = check_stage_count(arch)
    problems: list[str] = []

    def positive(where: str, value: int) -> bool:
        if value < 1:
            problems.append(f"{where}={value} must be >= 1")
        return value >= 1

    def odd(where: str, value: int) -> None:
        if positive(where, value) and value % 2 == 0:
            problems.append(f"{where}={value} must be odd (padding k // 2 keeps the resolution only for odd k)")

    positive("stem.width", arch.stem.width)
    odd("stem.kernel_size", arch.stem.kernel_size)
    channels = arch.stem.width
    for index, stage in enumerate(arch.stages):
        where = f"stages[{index}]"
        positive(f"{where}.depth", stage.depth)
        odd(f"{where}.kernel_size", stage.kernel_size)
        sized = [positive(f"{where}.{name}", getattr(stage, name)) for name in ("width", "expand_ratio", "groups")]
        if all(sized):
            middle = spec.middle_channels(stage)
            if middle % stage.groups:
                problems.append(f"{where}.groups={stage.groups} must divide the block's {middle} middle channels")
            if arch.family != "resnet" and stage.expand_ratio == 1 and middle != channels:
                problems.append(
                    f"{where}: a block without expansion (expand_ratio 1) needs middle == input channels, got "
                    f"{middle} != {channels}"
                )
            if arch.family != "resnet" and stage.attention and se_channels(middle) < 1:
                problems.append(f"{where}.attention: SE needs at least 4 middle channels, got {middle}")
        channels = spec.output_channels(stage)
    head = arch.head
    sized = [positive("head.width", head.width), positive("head.groups", head.groups)]
    if spec.head_kind == "upsample":  # 1x1 to the width first: the KxK conv's groups only split the width
        odd("head.kernel_size", head.kernel_size)
        if all(sized) and head.width % head.groups:
            problems.append(f"head.groups={head.groups} must divide its {head.width} channels")
    else:
        if head.kernel_size not in DECONV_KERNELS:
            problems.append(f"head.kernel_size={head.kernel_size} must be one of {list(DECONV_KERNELS)}")
        if all(sized) and channels > 0 and (channels % head.groups or head.width % head.groups):
            problems.append(
                f"head.groups={head.groups} must divide both its {channels} input channels and its {head.width} filters"
            )
    positive("num_joints", num_joints)
    if problems:
        raise ValueError(f"this {arch.family} arch cannot be built: " + "; ".join(problems))
    return arch


def stage_depths(blocks: Iterable[BlockSpec]) -> dict[int, int]:
    """Blocks per stage of a walk (stem and head excluded)."""
    depths: dict[int, int] = {}
    for block in blocks:
        if block.kind in ("bottleneck", "mobile"):
            depths[block.stage] = depths.get(block.stage, 0) + 1
    return depths
