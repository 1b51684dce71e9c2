"""The elastic backbone of a search space: built from the walk of the space's envelope (its capacity as an arch),
activated from the walk of an arch — the same walk the static builder, the complexity count and the latency table
read (:func:`vipnas.space.blocks.arch_blocks`)."""

from __future__ import annotations

from torch import nn

from vipnas.elastic.blocks import ElasticStage, ElasticStem, elastic_block
from vipnas.nn.layers import StagedBackbone
from vipnas.space.arch import Arch
from vipnas.space.blocks import BlockSpec, FeatureInfo, arch_blocks, feature_info
from vipnas.space.search_space import SearchSpace

__all__ = ["ElasticBackbone", "check_supernet_space"]


def check_supernet_space(space: SearchSpace) -> None:
    """Raise naming the stage when a space mixes choices one shared weight cannot hold: a ResNet stage with several
    expansion ratios (the output width would not be a prefix of one max weight in both of its factors), or a
    MobileNetV3 stage mixing ratio 1 (no expansion convolution) with others."""
    for index, choice in enumerate(space.stages):
        if space.family == "resnet" and len(choice.expand_ratios) != 1:
            raise ValueError(f"stage {index + 1}: the ResNet supernet needs one fixed expansion ratio per stage")
        if space.family != "resnet" and len({ratio != 1 for ratio in choice.expand_ratios}) != 1:
            raise ValueError(f"stage {index + 1}: expansion ratio 1 (no expansion conv) cannot mix with others")


class ElasticBackbone(StagedBackbone):
    """Supernet twin of :class:`vipnas.models.pose.Backbone` covering every arch of ``space`` (either family).

    ``forward`` runs the active arch (set by :meth:`activate`) and returns every stage's output, like the static
    backbone, including the fusion point (``after``).
    """

    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        check_supernet_space(space)
        self.space = space
        capacity = arch_blocks(space.envelope())
        self.stem = ElasticStem(capacity[0])
        stages: list[list[nn.Module]] = [[] for _ in space.stages]
        for block in capacity[1:]:
            if block.stage < len(space.stages):
                stages[block.stage].append(elastic_block(block, space.max_middle_per_group(block.stage)))
        self.stages = nn.ModuleList(ElasticStage(blocks) for blocks in stages)
        self._arch: Arch | None = None

    def activate(self, arch: Arch, blocks: list[BlockSpec] | None = None) -> list[BlockSpec]:
        """Activate ``arch`` (already validated against the space) from its walk (``blocks``, computed when not
        given); returns the walk's head blocks."""
        blocks = arch_blocks(arch) if blocks is None else blocks
        self.stem.activate(blocks[0])
        for stage, module in zip(arch.stages, self.stages, strict=True):
            module.activate(stage.depth)
        head = []
        for block in blocks[1:]:
            if block.stage < len(self.stages):
                self.stages[block.stage][block.index].activate(block)
            else:
                head.append(block)
        self._arch = arch
        return head

    @property
    def feature_info(self) -> list[FeatureInfo]:
        """F1..F4 of the active arch: stage index, active channels and stride of each fusion point."""
        assert self._arch is not None
        return feature_info(self._arch)
