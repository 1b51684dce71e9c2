"""An arch as a sequence of *units* — stem, blocks, head layers — each fully described by its own
configuration and input resolution.

One walk over the arch serves three consumers: the analytic complexity count (:mod:`vipnas.models.complexity`),
the latency lookup table (one measured entry per distinct unit, :mod:`vipnas.nas.latency`), and building a unit
alone for timing (:func:`build_unit`). The static networks are built from the same block classes, and tests
check that the analytic count equals a hook count on the real network.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import astuple, dataclass, fields

from torch import nn

from vipnas.models.head import deconv_padding
from vipnas.models.layers import make_stem
from vipnas.models.mobilenetv3 import MobileBlock
from vipnas.models.resnet import Bottleneck
from vipnas.space.arch import Arch
from vipnas.space.family import FAMILY_SPECS, FamilySpec, se_channels

__all__ = ["Unit", "arch_units", "build_unit", "check_buildable", "output_size"]

_DECONV_KERNELS = (2, 3, 4)  # the kernel sizes whose stride-2 deconvolution exactly doubles the resolution


@dataclass(frozen=True)
class Unit:
    """One deployable piece of a network at a given input resolution.

    ``kind`` is ``stem`` | ``bottleneck`` | ``mobile`` | ``deconv`` | ``final``. Fields a kind does not use are 0
    (or empty). ``height``/``width`` are the unit's *input* resolution.
    """

    kind: str
    in_channels: int
    out_channels: int
    height: int
    width: int
    kernel_size: int = 1
    groups: int = 1
    stride: int = 1
    middle_channels: int = 0
    attention: bool = False
    projection: bool = False
    expansion: bool = False
    activation: str = ""
    pool: bool = False

    def key(self) -> str:
        """A stable text key, e.g. for the latency table."""
        return "|".join(f"{f.name}={v}" for f, v in zip(fields(self), astuple(self), strict=True))

    @classmethod
    def from_key(cls, key: str) -> Unit:
        values = dict(part.split("=", 1) for part in key.split("|"))
        kwargs = {}
        for f in fields(cls):
            text = values[f.name]
            kwargs[f.name] = text if f.type == "str" else (text == "True" if f.type == "bool" else int(text))
        return cls(**kwargs)


def output_size(size: int, kernel_size: int, stride: int) -> int:
    """Output length of a convolution with padding ``kernel_size // 2``."""
    return (size + 2 * (kernel_size // 2) - kernel_size) // stride + 1


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


def check_buildable(arch: Arch, *, num_joints: int = 17) -> Arch:
    """Return ``arch`` if its static network can be built, else raise naming every impossible field.

    Every arch of a search space passes; this is for archs written by hand (or edited), which may lie outside any
    space (SimpleBaseline's does) and still be valid networks. Not called by :func:`arch_units`, which a search
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
            if arch.family == "mobilenetv3" and stage.expand_ratio == 1 and middle != channels:
                problems.append(
                    f"{where}: a block without expansion (expand_ratio 1) needs middle == input channels, got "
                    f"{middle} != {channels}"
                )
            if arch.family == "mobilenetv3" and stage.attention and se_channels(middle) < 1:
                problems.append(f"{where}.attention: SE needs at least 4 middle channels, got {middle}")
        channels = spec.output_channels(stage)
    head = arch.head
    if head.kernel_size not in _DECONV_KERNELS:
        problems.append(f"head.kernel_size={head.kernel_size} must be one of {list(_DECONV_KERNELS)}")
    sized = [positive("head.width", head.width), positive("head.groups", head.groups)]
    if all(sized) and channels > 0 and (channels % head.groups or head.width % head.groups):
        problems.append(
            f"head.groups={head.groups} must divide both its {channels} input channels and its {head.width} filters"
        )
    positive("num_joints", num_joints)
    if problems:
        raise ValueError(f"this {arch.family} arch cannot be built: " + "; ".join(problems))
    return arch


def arch_units(arch: Arch, *, num_joints: int = 17, input_size: tuple[int, int] = (256, 192)) -> Iterator[Unit]:
    """The units of the static network of ``arch`` in execution order.

    Raises:
        ValueError: the arch's stage count is not its family's (the one check of :func:`check_buildable` a
            stage-by-stage walk cannot do without).
    """
    spec = check_stage_count(arch)
    h, w = input_size
    k = arch.stem.kernel_size
    yield Unit(
        "stem",
        3,
        arch.stem.width,
        h,
        w,
        k,
        stride=spec.stem_stride,
        activation=spec.stem_activation,
        pool=spec.stem_pool,
    )
    h, w = output_size(h, k, spec.stem_stride), output_size(w, k, spec.stem_stride)
    if spec.stem_pool:
        h, w = output_size(h, 3, 2), output_size(w, 3, 2)
    cin = arch.stem.width
    for stage, stride, activation in zip(arch.stages, spec.stage_strides, spec.stage_activations, strict=True):
        middle, out = spec.middle_channels(stage), spec.output_channels(stage)
        for index in range(stage.depth):
            s = stride if index == 0 else 1
            common = dict(kernel_size=stage.kernel_size, groups=stage.groups, stride=s, middle_channels=middle)
            if arch.family == "resnet":
                yield Unit("bottleneck", cin, out, h, w, attention=stage.attention, projection=index == 0, **common)
            else:
                yield Unit(
                    "mobile", cin, out, h, w, attention=stage.attention, expansion=stage.expand_ratio != 1,
                    activation=activation, **common,
                )  # fmt: skip
            cin, h, w = out, output_size(h, stage.kernel_size, s), output_size(w, stage.kernel_size, s)
    head = arch.head
    for _ in range(spec.head_layers):
        yield Unit("deconv", cin, head.width, h, w, head.kernel_size, head.groups, stride=2)
        cin, h, w = head.width, 2 * h, 2 * w
    yield Unit("final", cin, num_joints, h, w)


def build_unit(unit: Unit) -> nn.Module:
    """A freshly initialised module computing ``unit`` alone (the same classes the static networks use)."""
    if unit.kind == "stem":
        return make_stem(
            unit.out_channels, unit.kernel_size, stride=unit.stride, activation=unit.activation, pool=unit.pool
        )
    if unit.kind == "bottleneck":
        return Bottleneck(
            in_channels=unit.in_channels, width=unit.middle_channels, out_channels=unit.out_channels,
            kernel_size=unit.kernel_size, groups=unit.groups, stride=unit.stride, attention=unit.attention,
            projection=unit.projection,
        )  # fmt: skip
    if unit.kind == "mobile":
        return MobileBlock(
            in_channels=unit.in_channels, out_channels=unit.out_channels, middle_channels=unit.middle_channels,
            kernel_size=unit.kernel_size, groups=unit.groups, stride=unit.stride, attention=unit.attention,
            activation=unit.activation, expansion=unit.expansion,
        )  # fmt: skip
    if unit.kind == "deconv":
        padding, output_padding = deconv_padding(unit.kernel_size)
        return nn.Sequential(
            nn.ConvTranspose2d(
                unit.in_channels, unit.out_channels, unit.kernel_size, 2, padding, output_padding,
                groups=unit.groups, bias=False,
            ),
            nn.BatchNorm2d(unit.out_channels),
            nn.ReLU(inplace=True),
        )  # fmt: skip
    if unit.kind == "final":
        return nn.Conv2d(unit.in_channels, unit.out_channels, kernel_size=1)
    raise ValueError(f"unknown unit kind {unit.kind!r}")
