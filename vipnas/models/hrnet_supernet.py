"""The HRNet-W32 supernet (paper §A.2, Table A3): the elastic HRNet of :mod:`vipnas.elastic.hrnet` with the
public API of :class:`vipnas.models.supernet.PoseSupernet`.

State is explicit: :meth:`HRNetSupernet.activate` validates an arch against the space and configures every
elastic module; :meth:`HRNetSupernet.using` does so for a ``with`` block and restores the previous arch after it;
:meth:`HRNetSupernet.extract_subnet` returns the static :class:`~vipnas.models.hrnet_network.HRNetNetwork` of an
arch with the supernet's weights copied in (``strict=True``: every key and shape is checked).
"""

from __future__ import annotations

import torch
from torch import nn

from vipnas.elastic.hrnet import ElasticHRNetBackbone, ElasticHRNetHead, FeatureModules
from vipnas.models.arch_state import SupernetArchState
from vipnas.models.hrnet_network import HRNetNetwork, build_hrnet_network
from vipnas.models.metadata import ModelMetadata
from vipnas.models.pose import check_input_size, init_weights
from vipnas.nn.layers import check_images
from vipnas.space.blocks import FeatureInfo
from vipnas.space.hrnet import HRNET_W32_SPACE, HRNetArch, HRNetSearchSpace

__all__ = ["HRNetSupernet"]


class HRNetSupernet(SupernetArchState, nn.Module):
    """Weight-sharing supernet of an HRNet search space with the HRNet heatmap head (a 1x1 conv).

    Args:
        space: the search space (default :data:`~vipnas.space.hrnet.HRNET_W32_SPACE`).
        num_joints: heatmap channels K.
        input_size: network input (height, width), multiples of 32.
        dataset: keypoint convention of the heatmaps (metadata only).
    """

    def __init__(
        self,
        space: HRNetSearchSpace = HRNET_W32_SPACE,
        *,
        num_joints: int = 17,
        input_size: tuple[int, int] = (256, 192),
        dataset: str = "COCO",
    ) -> None:
        super().__init__()
        if not isinstance(space, HRNetSearchSpace):
            raise TypeError(f"HRNetSupernet needs an HRNetSearchSpace, got {type(space).__name__}")
        if isinstance(num_joints, bool) or not isinstance(num_joints, int) or num_joints < 1:
            raise ValueError(f"num_joints must be a positive integer, got {num_joints!r}")
        self.space = space
        self.backbone = ElasticHRNetBackbone(space)
        self.head = ElasticHRNetHead(max(space.stages[-1].branches[0].widths), num_joints)
        self.metadata = ModelMetadata(
            name=f"{space.name}_supernet",
            num_joints=num_joints,
            input_size=check_input_size(input_size),
            dataset=dataset,
        )
        init_weights(self)
        self._arch: HRNetArch = space.largest()
        self.activate(self._arch)

    # ------------------------------------------------------------------------------------------------ arch
    def activate(self, arch: HRNetArch) -> None:
        """Validate ``arch`` against the space and make it the active sub-network.

        Raises:
            InvalidArchError: the arch is outside the space (the message names the field, e.g.
                ``arch.stages[2].branches[1].width``, the value and the allowed set).
        """
        self.space.validate(arch)
        self.head.activate(self.backbone.activate(arch))
        self._arch = arch

    # ------------------------------------------------------------------------------------------- forward
    @property
    def feature_info(self) -> list[FeatureInfo]:
        """F1..F4 of the active arch: the highest-resolution output of each stage, all at stride 4."""
        return self.backbone.feature_info

    def forward_features(self, x: torch.Tensor, after: FeatureModules | None = None) -> list[torch.Tensor]:
        """(N, 3, H, W) -> F1..F4 of the active arch, each (N, C_k, H/4, W/4)."""
        check_images(x)
        return self.backbone(x, after)

    def forward(self, x: torch.Tensor, after: FeatureModules | None = None) -> torch.Tensor:
        """Normalised RGB crops (N, 3, H, W) -> heatmaps (N, K, H/4, W/4) of the active arch."""
        return self.head(self.forward_features(x, after)[-1])

    def build_static(self, arch: HRNetArch, *, name: str) -> HRNetNetwork:
        """A freshly built static HRNet of ``arch`` at the supernet's joints, input size and dataset."""
        metadata = self.metadata
        options = {"num_joints": metadata.num_joints, "input_size": metadata.input_size, "dataset": metadata.dataset}
        return build_hrnet_network(arch, name=name, **options)
