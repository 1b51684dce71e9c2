"""The weight-sharing supernet of the T-ViPNets (ViPNAS §3.1, §3.3).

:class:`TemporalSupernet` is a spatial :class:`~vipnas.models.supernet.PoseSupernet` over the archs at most the key
arch (:attr:`vipnas.space.temporal.TemporalSpace.frame_space`, whose largest arch is the key arch: the S-ViPNet's
weights load into it exactly, ``strict=True``) plus one :class:`~vipnas.elastic.fusion.ElasticFusion` per (fusion
point, op), shared by every frame. The fusion projections start at zero, so before training every T-ViPNet of the
supernet computes what its spatial sub-network computes — at the key arch, the S-ViPNet's heatmaps.

:meth:`TemporalSupernet.extract` gives one frame's static T-ViPNet, :class:`~vipnas.models.temporal.TemporalNetwork`:
plain ``torch.nn``, ``forward(crops, heatmaps)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import torch
from torch import nn

from vipnas.elastic.fusion import ElasticFusion
from vipnas.models.pose import PoseNetwork
from vipnas.models.supernet import PoseSupernet
from vipnas.models.temporal import TemporalNetwork, check_heatmaps
from vipnas.space.blocks import feature_info
from vipnas.space.temporal import FUSION_OPS, FUSION_POINTS, FrameChoice, TemporalSpace

__all__ = ["TemporalSupernet"]


class TemporalSupernet(nn.Module):
    """Weight-sharing supernet of the T-ViPNets of ``space``.

    Args:
        space: the temporal space (key arch, spatial space, T).
        num_joints, input_size, dataset: as :class:`PoseSupernet`.
    """

    def __init__(
        self,
        space: TemporalSpace,
        *,
        num_joints: int = 17,
        input_size: tuple[int, int] = (256, 192),
        dataset: str = "COCO",
    ) -> None:
        super().__init__()
        self.space = space
        self.network = PoseSupernet(space.frame_space, num_joints=num_joints, input_size=input_size, dataset=dataset)
        points = feature_info(space.key)  # the key arch holds the most channels at every fusion point
        self.fusions = nn.ModuleDict(
            {
                _name(point, op): ElasticFusion(num_joints, points[point - 1].channels, op)
                for point in FUSION_POINTS
                for op in FUSION_OPS
            }
        )
        self.metadata = self.network.metadata
        self._frame = FrameChoice(space.key, 1, "add")
        self.activate(self._frame)

    @classmethod
    def from_key_network(cls, key: PoseNetwork, space: TemporalSpace) -> TemporalSupernet:
        """The supernet of ``space`` with the trained S-ViPNet ``key``'s weights (``strict=True``: every key and
        shape checked) and its metadata (input size, joints, codec)."""
        if key.arch != space.key:
            raise ValueError("the key network's arch is not the temporal space's key arch")
        meta = key.metadata
        supernet = cls(space, num_joints=meta.num_joints, input_size=meta.input_size, dataset=meta.dataset)
        supernet.network.load_state_dict(key.state_dict(), strict=True)
        supernet.network.metadata = supernet.metadata = replace(
            meta, name=f"{space.space.name}_temporal_supernet", arch=None
        )
        return supernet

    # ------------------------------------------------------------------------------------------------ frame
    @property
    def frame(self) -> FrameChoice:
        return self._frame

    def activate(self, frame: FrameChoice) -> None:
        """Validate ``frame`` against the space and make it the active T-ViPNet.

        Raises:
            InvalidArchError: the spatial arch is not at most the key arch; ValueError: unknown point or op.
        """
        if frame.fusion not in FUSION_POINTS or frame.op not in FUSION_OPS:
            raise ValueError(f"fusion F{frame.fusion} {frame.op!r}: expected F1..F4 and one of {FUSION_OPS}")
        self.network.activate(frame.arch)
        self.fusions[_name(frame.fusion, frame.op)].activate(self._point(frame).channels)
        self._frame = frame

    @contextmanager
    def using(self, frame: FrameChoice) -> Iterator[TemporalSupernet]:
        previous = self._frame
        self.activate(frame)
        try:
            yield self
        finally:
            self.activate(previous)

    def _point(self, frame: FrameChoice):
        return feature_info(frame.arch)[frame.fusion - 1]

    # ---------------------------------------------------------------------------------------------- forward
    def _after(self, heatmaps: torch.Tensor) -> dict:
        fusion = self.fusions[_name(self._frame.fusion, self._frame.op)]
        return {self._point(self._frame).stage: lambda features: fusion(features, heatmaps)}

    def forward(self, crops: torch.Tensor, heatmaps: torch.Tensor) -> torch.Tensor:
        """Heatmaps of the active T-ViPNet on ``crops`` fed with the previous frame's ``heatmaps``."""
        check_heatmaps(heatmaps, crops, self.metadata.num_joints)
        return self.network(crops, after=self._after(heatmaps))

    def forward_features(self, crops: torch.Tensor, heatmaps: torch.Tensor) -> list[torch.Tensor]:
        """Every backbone stage's output of the active T-ViPNet, the fused one included."""
        check_heatmaps(heatmaps, crops, self.metadata.num_joints)
        return self.network.forward_features(crops, after=self._after(heatmaps))

    def extract(self, frame: FrameChoice | None = None) -> TemporalNetwork:
        """The static T-ViPNet of ``frame`` (default: the active one) with the supernet's weights copied."""
        frame = frame or self._frame
        with self.using(frame):
            network = self.network.extract_subnet(frame.arch, name="t_vipnet")
            fusion = self.fusions[_name(frame.fusion, frame.op)].to_static()
        static = TemporalNetwork(network, fusion, self._point(frame).stage, frame)
        static.train(self.training)
        return static


def _name(point: int, op: str) -> str:
    return f"F{point}_{op}"
