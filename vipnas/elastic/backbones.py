"""Elastic backbones: the ResNet-50 and MobileNetV3 supernets' feature extractors, sized by a search space."""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from vipnas.elastic.blocks import ElasticBottleneck, ElasticConvNormAct, ElasticMobileBlock, ElasticStage
from vipnas.elastic.ops import ElasticBatchNorm2d, ElasticConv2d
from vipnas.models.layers import StagedBackbone
from vipnas.space.arch import Arch, StageArch
from vipnas.space.family import MOBILENETV3, RESNET
from vipnas.space.search_space import SearchSpace

__all__ = ["ElasticMobileNetV3Backbone", "ElasticResNetBackbone", "max_channels_per_group"]


def max_channels_per_group(space: SearchSpace, stage_index: int) -> int:
    """Largest middle-channels-per-group of a stage over its valid (width, ratio, groups) choices: the
    second dimension the stage's middle-convolution weight has to store."""
    spec = space.spec
    return max(
        spec.middle_channels(StageArch(1, width, 1, groups, False, ratio)) // groups
        for width, ratio, groups in space.stage_triples[stage_index]
    )


class ElasticResNetBackbone(StagedBackbone):
    """Supernet twin of :class:`vipnas.models.resnet.ResNetBackbone` covering every arch of ``space``."""

    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        if space.family != "resnet":
            raise ValueError(f"ElasticResNetBackbone needs a 'resnet' search space, got {space.family!r}")
        self.space = space
        max_stem = max(space.stem.widths)
        max_stem_kernel = max(space.stem.kernel_sizes)
        self.stem = nn.Sequential(
            OrderedDict(
                conv=ElasticConv2d(3, max_stem, max_stem_kernel, stride=RESNET.stem_stride),
                bn=ElasticBatchNorm2d(max_stem),
                act=nn.ReLU(inplace=True),
                pool=nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
            )
        )
        stages = []
        in_channels = max_stem
        for index, (choice, stride) in enumerate(zip(space.stages, RESNET.stage_strides, strict=True)):
            if len(choice.expand_ratios) != 1:
                raise ValueError(f"stage {index + 1}: the ResNet supernet needs one fixed expansion ratio per stage")
            ratio = choice.expand_ratios[0]
            max_width = max(choice.widths)
            per_group = max_channels_per_group(space, index)
            blocks = []
            for block in range(max(choice.depths)):
                blocks.append(
                    ElasticBottleneck(
                        max_in_channels=in_channels,
                        max_width=max_width,
                        expand_ratio=ratio,
                        max_kernel_size=max(choice.kernel_sizes),
                        max_width_per_group=per_group,
                        stride=stride if block == 0 else 1,
                        attention=True in choice.attentions,
                        projection=block == 0,
                    )
                )
                in_channels = max_width * ratio
            stages.append(ElasticStage(blocks))
        self.stages = nn.ModuleList(stages)

    def set_arch(self, arch: Arch) -> int:
        """Activate ``arch`` (already validated against the space); returns the output channels."""
        self.stem.conv.set_active(3, arch.stem.width, arch.stem.kernel_size)
        self.stem.bn.set_active(arch.stem.width)
        in_channels = arch.stem.width
        for stage, module in zip(arch.stages, self.stages, strict=True):
            module.set_depth(stage.depth)
            for block in module.active_blocks():
                block.set_config(
                    in_channels=in_channels,
                    width=stage.width,
                    kernel_size=stage.kernel_size,
                    groups=stage.groups,
                    attention=stage.attention,
                )
                in_channels = RESNET.output_channels(stage)
        return in_channels


class ElasticMobileNetV3Backbone(StagedBackbone):
    """Supernet twin of :class:`vipnas.models.mobilenetv3.MobileNetV3Backbone` covering every arch of ``space``."""

    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        if space.family != "mobilenetv3":
            raise ValueError(f"ElasticMobileNetV3Backbone needs a 'mobilenetv3' search space, got {space.family!r}")
        self.space = space
        spec = MOBILENETV3
        max_stem = max(space.stem.widths)
        self.stem = ElasticConvNormAct(
            3, max_stem, max(space.stem.kernel_sizes), stride=spec.stem_stride, activation=spec.stem_activation
        )
        stages = []
        in_channels = max_stem
        for index, (choice, stride, activation) in enumerate(
            zip(space.stages, spec.stage_strides, spec.stage_activations, strict=True)
        ):
            expansion = {ratio != 1 for ratio in choice.expand_ratios}
            if len(expansion) != 1:
                raise ValueError(f"stage {index + 1}: expansion ratio 1 (no expansion conv) cannot mix with others")
            has_expansion = expansion.pop()
            max_out = max(choice.widths)
            blocks = []
            for block in range(max(choice.depths)):
                blocks.append(
                    ElasticMobileBlock(
                        max_in_channels=in_channels,
                        max_out_channels=max_out,
                        max_middle_channels=max_out * max(choice.expand_ratios),
                        max_kernel_size=max(choice.kernel_sizes),
                        max_middle_per_group=max_channels_per_group(space, index),
                        stride=stride if block == 0 else 1,
                        attention=True in choice.attentions,
                        activation=activation,
                        expansion=has_expansion,
                    )
                )
                in_channels = max_out
            stages.append(ElasticStage(blocks))
        self.stages = nn.ModuleList(stages)

    def set_arch(self, arch: Arch) -> int:
        """Activate ``arch`` (already validated against the space); returns the output channels."""
        self.stem.set_active(3, arch.stem.width, arch.stem.kernel_size)
        in_channels = arch.stem.width
        for stage, module in zip(arch.stages, self.stages, strict=True):
            module.set_depth(stage.depth)
            for block in module.active_blocks():
                block.set_config(
                    in_channels=in_channels,
                    out_channels=stage.width,
                    middle_channels=MOBILENETV3.middle_channels(stage),
                    kernel_size=stage.kernel_size,
                    groups=stage.groups,
                    attention=stage.attention,
                )
                in_channels = stage.width
        return in_channels
