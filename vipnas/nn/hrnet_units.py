"""The module of one HRNet latency-table unit (:class:`vipnas.space.hrnet_units.HRNetUnit`), built from the static
HRNet's own pieces (:mod:`vipnas.nn.hrnet`), so that the timed unit is exactly what runs in the network."""

from __future__ import annotations

import torch
from torch import nn

from vipnas.nn.hrnet import (
    BottleneckBlock,
    HRModule,
    branch_blocks,
    hrnet_head,
    hrnet_stem,
    transition_layer,
)
from vipnas.space.hrnet import BranchArch
from vipnas.space.hrnet_units import HRNetUnit

__all__ = ["FuseUnit", "build_hrnet_unit"]


class FuseUnit(nn.Module):
    """One module's fuse layer alone: an :class:`~vipnas.nn.hrnet.HRModule` without blocks (its branches are the
    identity), taking the branch tensors as separate inputs, as a timed or exported graph needs them.

    Args:
        widths: channels of each input branch, highest resolution first.
        outputs: output branches (1 for the network's last module).
    """

    def __init__(self, widths: tuple[int, ...], outputs: int) -> None:
        super().__init__()
        self.module = HRModule(branches=[BranchArch(width) for width in widths], blocks=0, output_branches=outputs)

    def forward(self, *features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Branch tensors (N, C_i, H_i, W_i) -> the ``outputs`` fused branches."""
        return tuple(self.module(list(features)))


def build_hrnet_unit(unit: HRNetUnit) -> nn.Module:
    """A freshly initialised module computing ``unit`` alone; it takes one tensor per entry of
    :meth:`~vipnas.space.hrnet_units.HRNetUnit.input_shapes` (with a batch dimension in front).

    Raises:
        ValueError: an unknown unit kind.
    """
    if unit.kind == "hr_stem":
        return hrnet_stem(unit.out_channels)
    if unit.kind == "hr_bottleneck":
        return BottleneckBlock(
            in_channels=unit.in_channels, width=unit.middle_channels, kernel_size=unit.kernel_size,
            groups=unit.groups, attention=unit.attention, projection=unit.projection,
        )  # fmt: skip
    if unit.kind == "hr_transition":
        return transition_layer(unit.in_channels, unit.out_channels, unit.stride)
    if unit.kind == "hr_branch":
        branch = BranchArch(unit.in_channels, unit.kernel_size, unit.groups, unit.attention)
        return branch_blocks(branch, unit.blocks)
    if unit.kind == "hr_fuse":
        return FuseUnit(unit.widths, unit.outputs)
    if unit.kind == "hr_head":
        return hrnet_head(unit.in_channels, unit.out_channels)
    raise ValueError(f"unknown HRNet unit kind {unit.kind!r}")
