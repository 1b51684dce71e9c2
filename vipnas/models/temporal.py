"""Static T-ViPNets (ViPNAS §3.1, Fig. 2): networks for the non-key frames, fed with the heatmaps propagated from
the previous frame. Plain ``torch.nn`` (nothing from :mod:`vipnas.elastic`), so that deploying one (the runtime,
export) does not load the supernets; their weight-sharing supernet is
:class:`vipnas.models.temporal_supernet.TemporalSupernet`, whose ``extract`` gives a :class:`TemporalNetwork`.
"""

from __future__ import annotations

import torch
from torch import nn

from vipnas.models.metadata import ModelMetadata
from vipnas.models.pose import PoseNetwork, build_static
from vipnas.nn.blocks import build_block
from vipnas.nn.fusion import Fusion
from vipnas.space.blocks import fusion_block
from vipnas.space.temporal import FrameChoice

__all__ = ["TemporalNetwork", "build_t_vipnet", "check_heatmaps"]


def check_heatmaps(heatmaps: torch.Tensor, crops: torch.Tensor, num_joints: int) -> None:
    if heatmaps.dim() != 4 or heatmaps.shape[0] != crops.shape[0] or heatmaps.shape[1] != num_joints:
        raise ValueError(
            f"expected the previous frame's heatmaps shaped ({crops.shape[0]}, {num_joints}, h, w), "
            f"got {tuple(heatmaps.shape)}"
        )


class TemporalNetwork(nn.Module):
    """A static T-ViPNet: the spatial ``network`` with ``fusion`` applied after backbone stage ``stage``.

    ``forward(crops, heatmaps)``: crops (N, 3, H, W) and the previous frame's heatmaps (N, K, H/4, W/4), already
    warped into these crops (:func:`vipnas.nn.warp.warp_heatmaps`), to heatmaps (N, K, H/4, W/4).
    """

    def __init__(self, network: PoseNetwork, fusion: Fusion, stage: int, frame: FrameChoice) -> None:
        super().__init__()
        self.network = network
        self.fusion = fusion
        self.stage = stage
        self.frame = frame
        self.metadata: ModelMetadata = network.metadata

    def forward(self, crops: torch.Tensor, heatmaps: torch.Tensor) -> torch.Tensor:
        check_heatmaps(heatmaps, crops, self.metadata.num_joints)
        return self.network(crops, after={self.stage: lambda features: self.fusion(features, heatmaps)})

    def forward_features(self, crops: torch.Tensor, heatmaps: torch.Tensor) -> list[torch.Tensor]:
        """Every backbone stage's output, the fused one included."""
        check_heatmaps(heatmaps, crops, self.metadata.num_joints)
        return self.network.forward_features(crops, after={self.stage: lambda f: self.fusion(f, heatmaps)})


def build_t_vipnet(
    frame: FrameChoice,
    *,
    num_joints: int = 17,
    input_size: tuple[int, int] = (256, 192),
    name: str = "t_vipnet",
    dataset: str = "COCO",
) -> TemporalNetwork:
    """The static T-ViPNet of ``frame``, freshly initialised: its spatial network and the fusion module the walk
    places at its fusion point (:func:`vipnas.space.blocks.fusion_block`)."""
    network = build_static(frame.arch, num_joints=num_joints, input_size=input_size, name=name, dataset=dataset)
    block = fusion_block(frame.arch, frame.fusion, frame.op, num_joints=num_joints, input_size=input_size)
    fusion = build_block(block)
    assert isinstance(fusion, Fusion)
    fusion.reset_projection()
    return TemporalNetwork(network, fusion, block.stage, frame)
