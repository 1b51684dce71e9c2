"""Elastic twin of :class:`vipnas.nn.fusion.Fusion`: one max-size module per (fusion point, op) in a T-ViPNet
supernet, shared by every frame, sliced to the active stage width C.

Slices: ``embed`` keeps its first C filters; ``project`` its first C filters and, as input, the first C channels —
for ``cat`` the input is [features (C), embedded heatmaps (C)], so it keeps the first C columns of **each half** of
the max weight (columns 0..C-1 and Cmax..Cmax+C-1), not the first 2C columns, which would pair the embedded
heatmaps with weights trained for features.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vipnas.elastic.ops import ElasticModule
from vipnas.nn.fusion import Fusion, combine

__all__ = ["ElasticFusion"]


class ElasticFusion(ElasticModule):
    """Fusion of ``num_joints`` heatmaps into up to ``max_channels`` stage channels with ``op``; the projection
    starts at zero (the T-ViPNet then computes what its spatial network computes)."""

    def __init__(self, num_joints: int, max_channels: int, op: str) -> None:
        super().__init__()
        Fusion(num_joints, 1, op)  # validates op
        self.op, self.num_joints, self.max_channels = op, num_joints, max_channels
        halves = 2 if op == "cat" else 1
        self.embed_weight = nn.Parameter(torch.empty(max_channels, num_joints, 1, 1))
        self.embed_bias = nn.Parameter(torch.empty(max_channels))
        self.project_weight = nn.Parameter(torch.zeros(max_channels, halves * max_channels, 1, 1))
        self.project_bias = nn.Parameter(torch.zeros(max_channels))
        nn.init.kaiming_uniform_(self.embed_weight, a=math.sqrt(5))  # nn.Conv2d's default
        bound = 1 / math.sqrt(num_joints)
        nn.init.uniform_(self.embed_bias, -bound, bound)
        self.channels = max_channels

    def activate(self, channels: int) -> None:
        if not 0 < channels <= self.max_channels:
            raise ValueError(f"ElasticFusion: {channels} channels exceed the max {self.max_channels}")
        self.channels = channels

    def _project(self) -> torch.Tensor:
        c, top = self.channels, self.max_channels
        weight = self.project_weight[:c]
        if self.op == "cat":
            return torch.cat([weight[:, :c], weight[:, top : top + c]], dim=1)
        return weight[:, :c]

    def forward(self, features: torch.Tensor, heatmaps: torch.Tensor) -> torch.Tensor:
        self._check_input(features, self.channels)
        self._check_input(heatmaps, self.num_joints)
        c = self.channels
        resized = F.interpolate(heatmaps, size=features.shape[-2:], mode="bilinear", align_corners=False)
        embedded = F.conv2d(resized, self.embed_weight[:c], self.embed_bias[:c])
        return features + F.conv2d(combine(features, embedded, self.op), self._project(), self.project_bias[:c])

    def active_state_dict(self) -> dict[str, torch.Tensor]:
        c = self.channels
        return {
            "embed.weight": self.embed_weight[:c].detach().clone(),
            "embed.bias": self.embed_bias[:c].detach().clone(),
            "project.weight": self._project().detach().clone(),
            "project.bias": self.project_bias[:c].detach().clone(),
        }

    def to_static(self) -> Fusion:
        fusion = Fusion(self.num_joints, self.channels, self.op)
        fusion.load_state_dict(self.active_state_dict())
        return fusion

    def extra_repr(self) -> str:
        return f"op={self.op}, max {self.num_joints}->{self.max_channels}; active {self.channels}"
