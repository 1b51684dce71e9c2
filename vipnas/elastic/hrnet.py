"""The elastic HRNet: one max-size multi-branch network that runs any arch of an
:class:`~vipnas.space.hrnet.HRNetSearchSpace` (:data:`~vipnas.space.hrnet.HRNET_W32_SPACE`, paper §A.2, Table A3).

Elastic dimensions, as :mod:`vipnas.space.hrnet` defines them:

* **depth**: the first ``depth`` Bottlenecks of stage 1 and the first ``depth`` modules of a multi-branch stage
  run (:class:`~vipnas.elastic.blocks.ElasticStage`), each module its first ``blocks`` BasicBlocks per branch;
* **width** per branch (and of the stem): the first channels of every weight, as everywhere in the repo;
* **kernel size** and **groups** of both BasicBlock convolutions and of the Bottleneck's middle one: centre crop
  and first ``I/g`` input slots per filter (:class:`~vipnas.elastic.ops.ElasticConv2d`);
* **attention** per branch: an SE block that runs or is skipped.

Transitions and fuse layers are not searched; they follow the active widths: a transition of an existing branch
is a conv where the width changes and the identity where it does not; every kept module fuses into all branches
except the network's last kept module, which fuses into the highest-resolution branch only (MMPose's
``multiscale_output=False``). The supernet's modules of the last stage hold fuse layers for every output, except
its deepest one, which can only ever be the last.

Containers name their children like :mod:`vipnas.nn.hrnet` (``stem``, ``stages``, ``transition``, ``hr_modules``,
``branches``, ``fuse``, ``head.final_layer``), so the active slice's
:func:`~vipnas.elastic.blocks.subnet_state_dict` loads into ``build_hrnet(arch)`` with ``strict=True``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

import torch
from torch import nn

from vipnas.elastic.blocks import ElasticConvNormAct, ElasticStage
from vipnas.elastic.hrnet_blocks import ElasticBasicBlock, ElasticHRBottleneck, ElasticHRFuse, ElasticHRTransition
from vipnas.elastic.ops import ElasticConv2d
from vipnas.space.blocks import FeatureInfo
from vipnas.space.hrnet import (
    BOTTLENECK_EXPANSION,
    BranchSpace,
    HRNetArch,
    HRNetSearchSpace,
    HRStageArch,
    hrnet_feature_points,
)

__all__ = ["ElasticHRModule", "ElasticHRNetBackbone", "ElasticHRNetHead", "ElasticHRStage"]

FeatureModules = Mapping[int, Callable[[torch.Tensor], torch.Tensor]]  # stage index -> module applied after it


def _per_group(pairs: Sequence[tuple[int, int]]) -> int:
    """Input channels per group a grouped conv must store: the largest ``width / groups`` of the valid pairs."""
    return max(width // groups for width, groups in pairs)


class ElasticHRModule(nn.Module):
    """Elastic twin of :class:`vipnas.nn.hrnet.HRModule`: ``branches[b]`` (an :class:`ElasticStage` of BasicBlocks)
    on every branch, then ``fuse`` into the first ``outputs`` branches, then ReLU.

    Args:
        branches: the choices of each branch, highest resolution first.
        pairs: each branch's valid (width, groups) pairs (:attr:`HRNetSearchSpace.width_choices`).
        max_blocks: the largest number of BasicBlocks per branch.
        max_outputs: how many branches this module may have to output.
    """

    def __init__(
        self,
        *,
        branches: Sequence[BranchSpace],
        pairs: Sequence[Sequence[tuple[int, int]]],
        max_blocks: int,
        max_outputs: int,
    ) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            ElasticStage(
                [
                    ElasticBasicBlock(
                        max_channels=max(options.widths),
                        max_kernel_size=max(options.kernel_sizes),
                        max_in_per_group=_per_group(valid),
                        attention=True in options.attentions,
                    )
                    for _ in range(max_blocks)
                ]
            )
            for options, valid in zip(branches, pairs, strict=True)
        )
        self.fuse = ElasticHRFuse([max(options.widths) for options in branches], max_outputs)
        self.relu = nn.ReLU(inplace=True)

    def activate(self, stage: HRStageArch, outputs: int) -> None:
        """Run ``stage.blocks`` BasicBlocks of each of ``stage.branches`` and fuse into the first ``outputs``."""
        for branch, choice in zip(self.branches, stage.branches, strict=True):
            branch.activate(stage.blocks)
            for block in branch.active_blocks():
                block.activate(choice)
        self.fuse.activate([choice.width for choice in stage.branches], outputs)

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Branch tensors (N, C_i, H / 2**i, W / 2**i) -> the first ``outputs`` of them, fused."""
        features = [branch(x) for branch, x in zip(self.branches, features, strict=True)]
        return [self.relu(total) for total in self.fuse(features)]


class ElasticHRStage(nn.Module):
    """Elastic twin of :class:`vipnas.nn.hrnet.HRStage`: ``transition``, then the first ``depth`` of ``hr_modules``.

    Args:
        space: the search space.
        index: the stage (>= 1).
    """

    def __init__(self, space: HRNetSearchSpace, index: int) -> None:
        super().__init__()
        choice, pairs = space.stages[index], space.width_choices[index]
        self.index = index
        self.last = index == len(space.stages) - 1
        self.transition = ElasticHRTransition(_output_widths(space, index - 1), [b.widths for b in choice.branches])
        depth = max(choice.depths)
        self.hr_modules = ElasticStage(
            [
                ElasticHRModule(
                    branches=choice.branches,
                    pairs=pairs,
                    max_blocks=max(choice.blocks),
                    # the deepest module of the last stage is always the network's last: it outputs one branch
                    max_outputs=1 if self.last and number == depth - 1 else len(choice.branches),
                )
                for number in range(depth)
            ]
        )

    def activate(self, previous: Sequence[int], stage: HRStageArch) -> None:
        """Run ``stage`` after a stage that outputs branches of widths ``previous``."""
        self.transition.activate(previous, [branch.width for branch in stage.branches])
        self.hr_modules.activate(stage.depth)
        for number, module in enumerate(self.hr_modules.active_blocks()):
            outputs = 1 if self.last and number == stage.depth - 1 else len(stage.branches)
            module.activate(stage, outputs)

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The previous stage's branch tensors -> this stage's (highest resolution first)."""
        branches = self.transition(features)
        for module in self.hr_modules.active_blocks():
            branches = module(branches)
        return branches


def _output_widths(space: HRNetSearchSpace, index: int) -> list[tuple[int, ...]]:
    """Per branch, the widths stage ``index`` may output (stage 0: ``4 x`` the Bottleneck width)."""
    if index == 0:
        return [tuple(BOTTLENECK_EXPANSION * width for width in space.stages[0].branches[0].widths)]
    return [branch.widths for branch in space.stages[index].branches]


class ElasticHRNetBackbone(nn.Module):
    """Elastic twin of :class:`vipnas.nn.hrnet.HRNetBackbone`: ``stem`` (two 3x3 stride-2 conv + BN + ReLU),
    ``stages[0]`` (an :class:`ElasticStage` of Bottlenecks) and ``stages[k]`` (:class:`ElasticHRStage`).

    ``forward`` returns F1..F4 of the active arch, each (N, C_k, H/4, W/4); ``after={stage: module}`` applies a
    module to that stage's highest-resolution output (the temporal fusion point), as the static backbone does.
    """

    def __init__(self, space: HRNetSearchSpace) -> None:
        super().__init__()
        stem = max(space.stem_widths)
        self.stem = nn.Sequential(ElasticConvNormAct(3, stem, 3, stride=2), ElasticConvNormAct(stem, stem, 3, stride=2))
        first, pairs = space.stages[0].branches[0], space.width_choices[0][0]
        width = max(first.widths)
        bottlenecks: list[nn.Module] = [
            ElasticHRBottleneck(
                max_in_channels=stem if number == 0 else BOTTLENECK_EXPANSION * width,
                max_width=width,
                max_kernel_size=max(first.kernel_sizes),
                max_in_per_group=_per_group(pairs),
                attention=True in first.attentions,
                projection=number == 0,
            )
            for number in range(max(space.stages[0].depths))
        ]
        stages: list[nn.Module] = [ElasticStage(bottlenecks)]
        stages += [ElasticHRStage(space, index) for index in range(1, len(space.stages))]
        self.stages = nn.ModuleList(stages)
        self.arch = space.largest()  # the active arch; the owner activates before use

    @property
    def feature_info(self) -> list[FeatureInfo]:
        """F1..F4 of the active arch."""
        return hrnet_feature_points(self.arch)

    def activate(self, arch: HRNetArch) -> int:
        """Run ``arch`` (validated by the owner against the space); returns the channels the head receives."""
        self.stem[0].activate(3, arch.stem_width, 3)
        self.stem[1].activate(arch.stem_width, arch.stem_width, 3)
        first = arch.stages[0]
        bottlenecks = self.stages[0]
        bottlenecks.activate(first.depth)
        for number, block in enumerate(bottlenecks.active_blocks()):
            in_channels = arch.stem_width if number == 0 else BOTTLENECK_EXPANSION * first.branches[0].width
            block.activate(in_channels, first.branches[0])
        for index in range(1, len(arch.stages)):
            self.stages[index].activate(arch.stage_out_channels(index - 1), arch.stages[index])
        self.arch = arch
        return arch.out_channels

    def forward(self, x: torch.Tensor, after: FeatureModules | None = None) -> list[torch.Tensor]:
        """(N, 3, H, W) -> F1..F4, each (N, C_k, H/4, W/4)."""
        if after:
            unknown = sorted(set(after) - set(range(len(self.stages))))
            if unknown:
                raise ValueError(f"stage(s) {unknown} do not exist; this backbone has stages 0..{len(self.stages) - 1}")
        branches = [self.stem(x)]  # (N, stem_width, H/4, W/4)
        points = []
        for index, stage in enumerate(self.stages):
            branches = [stage(branches[0])] if index == 0 else stage(branches)
            if after and index in after:
                branches[0] = after[index](branches[0])
            points.append(branches[0])
        return points


class ElasticHRNetHead(nn.Module):
    """Elastic twin of the static HRNet head: ``deconv_layers`` (empty) and the 1x1 heatmap conv ``final_layer``."""

    def __init__(self, max_in_channels: int, num_joints: int) -> None:
        super().__init__()
        self.deconv_layers = nn.Sequential()
        self.final_layer = ElasticConv2d(max_in_channels, num_joints, 1, bias=True)

    def activate(self, in_channels: int) -> None:
        self.final_layer.activate(in_channels, self.final_layer.max_out_channels)

    def active_children(self) -> Iterator[tuple[str, nn.Module]]:
        yield "final_layer", self.final_layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H/4, W/4) -> (N, K, H/4, W/4)."""
        return self.final_layer(x)
