"""Fixed, non-searched structure of each network family: strides, activations, which stages are F1..F4.

These facts come from MMPose's ``ViPNAS_ResNet`` / ``ViPNAS_MobileNetV3`` (the official S-ViPNAS code) and
the paper's Tables A1-A2; the searched choices live in :mod:`vipnas.space.arch` and
:mod:`vipnas.space.search_space`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol


class StageWidths(Protocol):
    """What the channel rules read of a stage (a :class:`vipnas.space.arch.StageArch`; arch.py imports this module,
    not the other way round)."""

    width: int
    expand_ratio: int


__all__ = [
    "CPU_EFFICIENT",
    "CPU_EFFICIENT_DECONV",
    "FAMILY_SPECS",
    "MOBILENETV3",
    "RESNET",
    "FamilySpec",
    "gc_planes",
    "se_channels",
]


@dataclass(frozen=True)
class FamilySpec:
    """Structure shared by every arch of a family.

    Attributes:
        name: ``resnet``, ``mobilenetv3`` or ``cpu_efficient``.
        stem_stride: stride of the stem convolution.
        stem_pool: whether a 3x3 stride-2 max pool follows the stem (ResNet).
        stage_strides: stride of the first block of each stage.
        stem_activation: activation after the stem (``relu`` or ``hswish``).
        stage_activations: activation used inside the blocks of each stage.
        feature_stages: indices of the stages whose outputs are the paper's F1..F4 (strides 4, 8, 16, 32).
        head_layers: number of stride-2 layers in the head (each doubles the resolution).
        head_kind: ``deconv`` (a stride-2 transposed convolution per layer, SimpleBaseline / ViPNAS) or
            ``upsample`` (1x1 convolution, nearest x2 upsampling, then a KxK depthwise or grouped convolution: the
            CPU-efficient family, whose deployment runtimes run grouped deconvolutions 20-40x below peak).
    """

    name: str
    stem_stride: int
    stem_pool: bool
    stage_strides: tuple[int, ...]
    stem_activation: str
    stage_activations: tuple[str, ...]
    feature_stages: tuple[int, ...]
    head_layers: int = 3
    head_kind: str = "deconv"

    def middle_channels(self, stage: StageWidths) -> int:
        """Channels of the block's middle (searched-group) convolution."""
        if self.name == "resnet":
            return stage.width
        return stage.width * stage.expand_ratio

    def output_channels(self, stage: StageWidths) -> int:
        """Channels a block of this stage outputs."""
        if self.name == "resnet":
            return stage.width * stage.expand_ratio
        return stage.width

    def attention_channels(self, stage: StageWidths) -> int:
        """Channels the attention module sees: GC at the block output (ResNet), SE on the middle (MBv3)."""
        if self.name == "resnet":
            return self.output_channels(stage)
        return self.middle_channels(stage)

    def total_stride(self) -> int:
        stride = self.stem_stride * (2 if self.stem_pool else 1)
        for s in self.stage_strides:
            stride *= s
        return stride


RESNET = FamilySpec(
    name="resnet",
    stem_stride=2,
    stem_pool=True,
    stage_strides=(1, 2, 2, 2),
    stem_activation="relu",
    stage_activations=("relu",) * 4,
    feature_stages=(0, 1, 2, 3),
)

MOBILENETV3 = FamilySpec(
    name="mobilenetv3",
    stem_stride=2,
    stem_pool=False,
    stage_strides=(1, 2, 2, 2, 1, 2),
    stem_activation="hswish",
    stage_activations=("relu", "relu", "relu", "hswish", "hswish", "hswish"),
    feature_stages=(1, 2, 4, 5),
)

# The CPU-efficient family (issue 15): MobileNetV3's inverted residual blocks and strides, ReLU everywhere (every
# runtime fuses it into the convolution, int8 included; hswish and SiLU stay separate ops in OpenVINO's int8
# graphs) and the upsampling head.
CPU_EFFICIENT = FamilySpec(
    name="cpu_efficient",
    stem_stride=2,
    stem_pool=False,
    stage_strides=(1, 2, 2, 2, 1, 2),
    stem_activation="relu",
    stage_activations=("relu",) * 6,
    feature_stages=(1, 2, 4, 5),
    head_kind="upsample",
)

# The same family with MobileNetV3's deconvolution head (stride-2 transposed convolutions, kernel 2-4, grouped):
# not searched (no space), kept so that the two heads can be trained and timed on one backbone
# (``benchmarks/cpu_efficient_target.py`` with both networks; docs/deploy.md, "Which head trains better").
CPU_EFFICIENT_DECONV = replace(CPU_EFFICIENT, name="cpu_efficient_deconv", head_kind="deconv")

FAMILY_SPECS = {spec.name: spec for spec in (RESNET, MOBILENETV3, CPU_EFFICIENT, CPU_EFFICIENT_DECONV)}


def gc_planes(channels: int) -> int:
    """Bottleneck width of the GC block on ``channels`` channels.

    MMPose builds ``ContextBlock(C, ratio=max(1/16, 16/C))`` whose width is ``int(C * ratio)``; the float
    expression is kept as written there so that any float rounding matches MMPose exactly.
    """
    return int(channels * max(1.0 / 16, 16.0 / channels))


def se_channels(channels: int) -> int:
    """Squeeze width of the SE block (MMPose ``SELayer(ratio=4)``: ``int(C / 4)``)."""
    return int(channels / 4)
