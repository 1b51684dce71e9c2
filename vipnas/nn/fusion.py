"""The temporal fusion module of a T-ViPNet (ViPNAS §3.1, Fig. 2): the heatmaps propagated from the previous frame
enter the backbone at a chosen stage.

``Fusion(features F_s, heatmaps H)``: H (N, K, h, w) is resized (bilinear) to F_s's resolution and embedded by a
1x1 convolution to F_s's C channels; ``op`` combines it with F_s (``add``: F_s + E, ``mul``: F_s * E, ``cat``:
[F_s, E] on channels); a 1x1 convolution projects the result back to C, and the module returns F_s plus that
projection. Two choices the paper leaves open, made here:

* resize, then embed: a 1x1 convolution and bilinear resizing are both linear and a bilinear sample is a convex
  combination, so the order does not change the result, and embedding at the stage's (smaller) resolution costs
  far fewer MACs than at the heatmaps';
* the residual form with the projection initialised to zero (:meth:`Fusion.reset_projection`): a fresh T-ViPNet
  computes exactly what its spatial network computes, so the supernet starts as the S-ViPNet it is loaded from.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vipnas.space.temporal import FUSION_OPS

__all__ = ["Fusion", "combine"]


def combine(features: torch.Tensor, embedded: torch.Tensor, op: str) -> torch.Tensor:
    """``op`` of the stage features and the embedded heatmaps (same shape)."""
    if op == "add":
        return features + embedded
    if op == "mul":
        return features * embedded
    if op == "cat":
        return torch.cat([features, embedded], dim=1)
    raise ValueError(f"unknown fusion op {op!r}; expected one of {FUSION_OPS}")


class Fusion(nn.Module):
    """Static fusion module: ``embed`` (K -> C, 1x1, bias), ``op``, ``project`` (C or 2C -> C, 1x1, bias)."""

    def __init__(self, num_joints: int, channels: int, op: str) -> None:
        super().__init__()
        if op not in FUSION_OPS:
            raise ValueError(f"unknown fusion op {op!r}; expected one of {FUSION_OPS}")
        self.op = op
        self.embed = nn.Conv2d(num_joints, channels, 1)
        self.project = nn.Conv2d(2 * channels if op == "cat" else channels, channels, 1)

    def reset_projection(self) -> None:
        """Zero the projection: the module then returns its features unchanged."""
        nn.init.zeros_(self.project.weight)
        nn.init.zeros_(self.project.bias)

    def forward(self, features: torch.Tensor, heatmaps: torch.Tensor) -> torch.Tensor:
        resized = F.interpolate(heatmaps, size=features.shape[-2:], mode="bilinear", align_corners=False)
        return features + self.project(combine(features, self.embed(resized), self.op))

    def extra_repr(self) -> str:
        return f"op={self.op}"
