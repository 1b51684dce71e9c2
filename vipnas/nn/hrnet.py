"""The static HRNet pose network of an :class:`~vipnas.space.hrnet.HRNetArch`: :func:`build_hrnet`.

For :data:`~vipnas.space.hrnet.HRNET_W32_ARCH` it computes exactly what MMPose 1.3.2's ``HRNet`` backbone +
``HeatmapHead(in_channels=32, out_channels=17, deconv_out_channels=None)`` of
``td-hm_hrnet-w32_8xb64-210e_coco-256x192.py`` computes, module for module (``benchmarks/hrnet_equivalence.py``
checks it against the real MMPose; :mod:`vipnas.models.hrnet_mmpose` maps the state-dict keys one to one):

* ``backbone.stem``: two conv_norm_act (3x3 stride 2, ``stem_width``, ReLU), MMPose ``conv1/bn1``, ``conv2/bn2``.
* ``backbone.stages[0]``: the Bottleneck chain, MMPose ``layer1`` (same child names ``conv1..bn3``,
  ``downsample``).
* ``backbone.stages[k]``, k >= 1: ``transition`` (one entry per branch: ``nn.Identity`` where MMPose has ``None``),
  MMPose ``transition{k}``; ``hr_modules[m]`` with ``branches[i][b]`` (BasicBlocks) and ``fuse[i][j]``, MMPose
  ``stage{k+1}[m].branches`` / ``.fuse_layers``.
* ``head.final_layer``: the 1x1 convolution to K heatmaps (``head.deconv_layers`` is empty), as MMPose names it.

Searched choices beyond HRNet-W32 (see :mod:`vipnas.space.hrnet`): per branch the kernel size and group number of
both BasicBlock convolutions and of the Bottleneck's middle convolution, and SE attention (the repo's
:class:`~vipnas.nn.layers.SqueezeExcite`, squeeze ratio 4, the ViPNAS hard-sigmoid gate) at the end of each block's
residual branch, before the addition (where SENet and ViPNAS-ResNet's GC block put it).

Documented differences from MMPose's code, none of which changes HRNet-W32:

* The first Bottleneck always has a projection shortcut (1x1 conv + BN), also when the stem width happens to equal
  its output width, as :class:`vipnas.nn.blocks.Bottleneck` does (so that a supernet's sub-network computes what
  the supernet computed).
* A channel-changing transition of an existing branch is applied to that branch; MMPose's ``HRNet.forward`` applies
  it to the lowest-resolution branch (``y_list[-1]``), which only works when no existing branch changes width.
* Lower-to-higher fusion upsamples to the target branch's size (nearest) instead of by ``2**(j - i)``: identical
  when the input is divisible by 32 (256x192), and it also works for other sizes (64x48, where the stride-32
  branch is 2x2 and a factor of 8 would overshoot the 16x12 branch).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vipnas.nn.blocks import DeconvHead
from vipnas.nn.layers import SqueezeExcite, check_images, conv_norm_act
from vipnas.space.blocks import FeatureInfo
from vipnas.space.family import se_channels
from vipnas.space.hrnet import BOTTLENECK_EXPANSION, BranchArch, HRNetArch, HRStageArch, hrnet_feature_points

__all__ = [
    "BasicBlock",
    "BottleneckBlock",
    "HRModule",
    "HRNetBackbone",
    "HRNetPose",
    "HRStage",
    "branch_blocks",
    "build_hrnet",
    "hrnet_feature_points",
    "hrnet_head",
    "hrnet_stem",
    "transition_layer",
]

FeatureModules = Mapping[int, Callable[[torch.Tensor], torch.Tensor]]  # stage index -> module applied after it


def _conv(in_channels: int, out_channels: int, kernel_size: int, groups: int = 1, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, groups=groups, bias=False)


class BasicBlock(nn.Module):
    """KxK conv -> BN -> ReLU -> KxK conv -> BN [-> SE] -> + input -> ReLU, at constant width and resolution.

    Args:
        channels: input = output channels C.
        kernel_size: K of both convolutions.
        groups: group number of both convolutions.
        attention: append an SE block to the residual branch.
    """

    def __init__(self, *, channels: int, kernel_size: int, groups: int, attention: bool) -> None:
        super().__init__()
        self.conv1 = _conv(channels, channels, kernel_size, groups)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = _conv(channels, channels, kernel_size, groups)
        self.bn2 = nn.BatchNorm2d(channels)
        self.attention = SqueezeExcite(channels, se_channels(channels)) if attention else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, C, H, W)."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.attention is not None:
            out = self.attention(out)
        return self.relu(out + x)


class BottleneckBlock(nn.Module):
    """1x1 -> KxK (grouped) -> 1x1 (x4 expansion), BN after each [-> SE], + shortcut, ReLU; stride 1.

    Args:
        in_channels: input channels.
        width: middle channels; the block outputs ``4 * width``.
        kernel_size: K of the middle convolution.
        groups: group number of the middle convolution.
        attention: append an SE block (on ``4 * width`` channels) to the residual branch.
        projection: use a 1x1 conv + BN shortcut instead of the identity.
    """

    def __init__(
        self, *, in_channels: int, width: int, kernel_size: int, groups: int, attention: bool, projection: bool
    ) -> None:
        super().__init__()
        out_channels = BOTTLENECK_EXPANSION * width
        self.conv1 = _conv(in_channels, width, 1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = _conv(width, width, kernel_size, groups)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = _conv(width, out_channels, 1)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.attention = SqueezeExcite(out_channels, se_channels(out_channels)) if attention else None
        self.downsample = (
            nn.Sequential(_conv(in_channels, out_channels, 1), nn.BatchNorm2d(out_channels)) if projection else None
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, H, W) -> (N, 4 * width, H, W)."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.attention is not None:
            out = self.attention(out)
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


def hrnet_stem(width: int) -> nn.Sequential:
    """The stem: two 3x3 stride-2 conv + BN + ReLU, (N, 3, H, W) -> (N, width, H/4, W/4)."""
    return nn.Sequential(conv_norm_act(3, width, 3, stride=2), conv_norm_act(width, width, 3, stride=2))


def branch_blocks(branch: BranchArch, blocks: int) -> nn.Sequential:
    """One branch of a module: ``blocks`` BasicBlocks of the branch's choices (an empty one is the identity)."""
    return nn.Sequential(
        *(
            BasicBlock(
                channels=branch.width, kernel_size=branch.kernel_size, groups=branch.groups, attention=branch.attention
            )
            for _ in range(blocks)
        )
    )


def transition_layer(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """A transition convolution: 3x3 conv + BN + ReLU (stride 2 for a stage's new branch)."""
    return conv_norm_act(in_channels, out_channels, 3, stride=stride)


def hrnet_head(in_channels: int, num_joints: int) -> DeconvHead:
    """The heatmap head: ``final_layer``, a 1x1 convolution (with bias) to K heatmaps, as MMPose's HeatmapHead with
    ``deconv_out_channels=None``."""
    return DeconvHead((), nn.Conv2d(in_channels, num_joints, kernel_size=1))


class HRModule(nn.Module):
    """``blocks`` BasicBlocks on every branch, then the fusion of the branches into ``output_branches`` outputs.

    Output i is ``ReLU(sum_j fuse[i][j](x_j))`` with ``fuse[i][i]`` the identity; from a lower resolution (j > i)
    a 1x1 conv + BN to branch i's width and a nearest upsampling to its size; from a higher one (j < i) a chain of
    ``i - j`` 3x3 stride-2 conv + BN (ReLU between them; the intermediate ones keep branch j's width).

    Args:
        branches: the branches' choices, highest resolution first.
        blocks: BasicBlocks per branch (0: the module is its fuse layer alone, as the latency table times it).
        output_branches: how many branches the module outputs, highest resolution first (1 for the network's last
            module: MMPose's ``multiscale_output=False``).
    """

    def __init__(self, *, branches: Sequence[BranchArch], blocks: int, output_branches: int) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branch_blocks(b, blocks) for b in branches)
        widths = [b.width for b in branches]
        self.fuse = nn.ModuleList(
            nn.ModuleList(self._fuse_layer(widths, i, j) for j in range(len(widths))) for i in range(output_branches)
        )
        self.relu = nn.ReLU(inplace=True)

    @staticmethod
    def _fuse_layer(widths: Sequence[int], i: int, j: int) -> nn.Module:
        if j == i:
            return nn.Identity()
        if j > i:
            return conv_norm_act(widths[j], widths[i], 1, activation=None)
        chain = [conv_norm_act(widths[j], widths[j], 3, stride=2) for _ in range(i - j - 1)]
        chain.append(conv_norm_act(widths[j], widths[i], 3, stride=2, activation=None))
        return nn.Sequential(*chain)

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Branch tensors (N, C_i, H / 2**i, W / 2**i) -> the first ``output_branches`` of them, fused."""
        features = [branch(x) for branch, x in zip(self.branches, features, strict=True)]
        outputs = []
        for i, layers in enumerate(self.fuse):
            assert isinstance(layers, nn.ModuleList)
            total: torch.Tensor | None = None
            for j, layer in enumerate(layers):  # summed in MMPose's order j = 0, 1, ...
                term = layer(features[j])
                if j > i:
                    term = F.interpolate(term, size=features[i].shape[-2:], mode="nearest")
                total = term if total is None else total + term
            assert total is not None
            outputs.append(self.relu(total))
        return outputs


class HRStage(nn.Module):
    """A multi-branch stage: the ``transition`` from the previous stage's branches, then ``depth`` HR modules.

    Args:
        previous: channels of each branch the previous stage outputs.
        stage: this stage's choices (``len(previous) + 1`` branches).
        last: whether this is the network's last stage (its last module outputs the highest resolution only).
    """

    def __init__(self, *, previous: Sequence[int], stage: HRStageArch, last: bool) -> None:
        super().__init__()
        widths = [b.width for b in stage.branches]
        assert len(widths) == len(previous) + 1, "HRNetArch guarantees one new branch per stage"
        transition: list[nn.Module] = [
            nn.Identity() if previous[i] == widths[i] else transition_layer(previous[i], widths[i], 1)
            for i in range(len(previous))
        ]
        # the new branch comes from the lowest-resolution one, at half its resolution
        transition.append(transition_layer(previous[-1], widths[-1], 2))
        self.transition = nn.ModuleList(transition)
        self.hr_modules = nn.ModuleList(
            HRModule(
                branches=stage.branches,
                blocks=stage.blocks,
                output_branches=1 if last and index == stage.depth - 1 else len(widths),
            )
            for index in range(stage.depth)
        )

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The previous stage's branch tensors -> this stage's (highest resolution first)."""
        count = len(self.transition) - 1
        branches = [self.transition[i](features[i]) for i in range(count)]
        branches.append(self.transition[count](features[-1]))
        for module in self.hr_modules:
            branches = module(branches)
        return branches


class HRNetBackbone(nn.Module):
    """``stem``, then ``stages`` (stage 0 an ``nn.Sequential`` of Bottleneck blocks, the others :class:`HRStage`).

    ``forward(x)`` returns the paper's F1..F4: the highest-resolution branch output of every stage, each
    (N, C_k, H/4, W/4); the last is what the head reads. ``forward(x, after={stage: module})`` applies ``module``
    to that stage's highest-resolution output and continues from its result (the temporal fusion point, as
    :class:`vipnas.nn.layers.StagedBackbone` does for the other families).
    """

    def __init__(self, arch: HRNetArch) -> None:
        super().__init__()
        self.arch = arch
        width = arch.stem_width
        self.stem = hrnet_stem(width)
        first = arch.stages[0]
        branch = first.branches[0]
        bottlenecks = [
            BottleneckBlock(
                in_channels=width if index == 0 else BOTTLENECK_EXPANSION * branch.width,
                width=branch.width,
                kernel_size=branch.kernel_size,
                groups=branch.groups,
                attention=branch.attention,
                projection=index == 0,
            )
            for index in range(first.depth)
        ]
        stages: list[nn.Module] = [nn.Sequential(*bottlenecks)]
        for index in range(1, len(arch.stages)):
            stages.append(
                HRStage(
                    previous=arch.stage_out_channels(index - 1),
                    stage=arch.stages[index],
                    last=index == len(arch.stages) - 1,
                )
            )
        self.stages = nn.ModuleList(stages)
        self.out_channels = arch.out_channels

    @property
    def feature_info(self) -> list[FeatureInfo]:
        """F1..F4: stage index, channels and stride of each highest-resolution stage output."""
        return hrnet_feature_points(self.arch)

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


class HRNetPose(nn.Module):
    """An HRNet top-down heatmap network: ``backbone`` (:class:`HRNetBackbone`) and ``head`` (a 1x1 convolution
    ``head.final_layer`` on the highest-resolution branch). Tensor in, tensor out."""

    def __init__(self, arch: HRNetArch, *, num_joints: int = 17) -> None:
        super().__init__()
        self.arch = arch
        self.num_joints = num_joints
        self.backbone = HRNetBackbone(arch)
        self.head = hrnet_head(arch.out_channels, num_joints)

    @property
    def feature_info(self) -> list[FeatureInfo]:
        return self.backbone.feature_info

    def forward_features(self, x: torch.Tensor, after: FeatureModules | None = None) -> list[torch.Tensor]:
        """(N, 3, H, W) -> F1..F4, the highest-resolution output of each stage, each (N, C_k, H/4, W/4)."""
        check_images(x)
        return self.backbone(x, after)

    def forward(self, x: torch.Tensor, after: FeatureModules | None = None) -> torch.Tensor:
        """Normalised RGB crops (N, 3, H, W) -> heatmaps (N, K, H/4, W/4)."""
        return self.head(self.forward_features(x, after)[-1])


def build_hrnet(arch: HRNetArch, *, num_joints: int = 17) -> HRNetPose:
    """The static network of ``arch`` (plain ``torch.nn``, PyTorch's default initialisation).

    Args:
        arch: the architecture; :data:`vipnas.space.hrnet.HRNET_W32_ARCH` gives MMPose's HRNet-W32.
        num_joints: K, the number of heatmaps.

    Returns:
        A module mapping (N, 3, H, W) to (N, K, H/4, W/4).

    Raises:
        TypeError: ``arch`` is not an :class:`HRNetArch`.
        ValueError: ``num_joints`` is not a positive integer.
    """
    if not isinstance(arch, HRNetArch):
        raise TypeError(f"build_hrnet needs an HRNetArch, got {type(arch).__name__}")
    if isinstance(num_joints, bool) or not isinstance(num_joints, int) or num_joints < 1:
        raise ValueError(f"num_joints must be a positive integer, got {num_joints!r}")
    return HRNetPose(arch, num_joints=num_joints)
