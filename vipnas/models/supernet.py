"""Pose supernets: an elastic backbone and an elastic heatmap head that cover a whole search space.

The supernet's state is explicit: :meth:`PoseSupernet.activate` validates an arch against the space and
configures every elastic op; :meth:`PoseSupernet.using` does the same for a ``with`` block and restores the
previous arch after it; :meth:`PoseSupernet.extract_subnet` returns the static network of an arch with the
supernet's weights copied in (loaded with ``strict=True``, so every key and shape is checked).
"""

from __future__ import annotations

from vipnas.elastic.backbones import ElasticBackbone
from vipnas.elastic.blocks import elastic_head
from vipnas.models.arch_state import SupernetArchState
from vipnas.models.metadata import ModelMetadata
from vipnas.models.pose import HeatmapNetwork, PoseNetwork, build_static, check_input_size, init_weights
from vipnas.space.arch import Arch
from vipnas.space.blocks import arch_blocks
from vipnas.space.search_space import SearchSpace

__all__ = ["PoseSupernet"]


class PoseSupernet(SupernetArchState, HeatmapNetwork):
    """Weight-sharing supernet of a search space with its family's heatmap head (deconvolution or upsampling).

    Args:
        space: the search space (``RESNET50_SPACE``, ``MOBILENETV3_SPACE``, ``CPU_EFFICIENT_SPACE`` or a custom one
            of those families).
        num_joints: heatmap channels K.
        input_size: network input (height, width), multiples of 32.
        dataset: keypoint convention of the heatmaps (metadata only).
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        num_joints: int = 17,
        input_size: tuple[int, int] = (256, 192),
        dataset: str = "COCO",
    ) -> None:
        super().__init__()
        self.space = space
        self.backbone = ElasticBackbone(space)
        capacity = arch_blocks(space.envelope(), num_joints=num_joints)
        self.head = elastic_head(capacity[-1 - space.spec.head_layers :], space.max_head_per_group())
        self.metadata = ModelMetadata(
            name=f"{space.name}_supernet",
            num_joints=num_joints,
            input_size=check_input_size(input_size),
            dataset=dataset,
        )
        init_weights(self)
        self._arch: Arch = space.largest()
        self.activate(self._arch)

    # ------------------------------------------------------------------------------------------------ arch
    def activate(self, arch: Arch) -> None:
        """Validate ``arch`` against the space and make it the active sub-network (every elastic module is set
        from the one walk of the arch, :func:`vipnas.space.blocks.arch_blocks`).

        Raises:
            InvalidArchError: the arch is outside the space (the message names stage, field and allowed set).
        """
        self.space.validate(arch)
        blocks = arch_blocks(arch, num_joints=self.metadata.num_joints)
        self.head.activate(self.backbone.activate(arch, blocks))
        self._arch = arch

    def build_static(self, arch: Arch, *, name: str) -> PoseNetwork:
        """A freshly built static network of ``arch`` at the supernet's joints, input size and dataset."""
        metadata = self.metadata
        options = {"num_joints": metadata.num_joints, "input_size": metadata.input_size, "dataset": metadata.dataset}
        return build_static(arch, name=name, **options)
