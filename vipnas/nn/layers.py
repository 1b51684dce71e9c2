"""Plain ``torch.nn`` layers: activations, GC and SE attention, conv-BN-act, the stem, the deconvolution padding and
the staged backbone (stem + stages, with an optional module applied after a chosen stage: the temporal fusion point).

Static networks (named models and extracted sub-networks) are built only from these and ``torch.nn``, so a
deployed model needs nothing from :mod:`vipnas.elastic`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping

import torch
from torch import nn

__all__ = [
    "GlobalContext",
    "HardSigmoid",
    "SqueezeExcite",
    "StagedBackbone",
    "check_images",
    "conv_norm_act",
    "deconv_padding",
    "make_activation",
    "make_stem",
]


class HardSigmoid(nn.Module):
    """``clamp((x + bias) / divisor, 0, 1)``.

    ViPNAS's SE gate uses MMCV's ``HSigmoid(bias=1.0, divisor=2.0)``, i.e. ``clamp((x + 1) / 2, 0, 1)``, which
    is *not* PyTorch's ``hardsigmoid`` (``(x + 3) / 6``); the defaults here are the ViPNAS values.
    """

    def __init__(self, bias: float = 1.0, divisor: float = 2.0) -> None:
        super().__init__()
        self.bias = bias
        self.divisor = divisor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x + self.bias) / self.divisor).clamp(0.0, 1.0)

    def extra_repr(self) -> str:
        return f"bias={self.bias}, divisor={self.divisor}"


def make_activation(name: str | None) -> nn.Module:
    """``relu`` | ``hswish`` | ``None`` (identity)."""
    if name is None:
        return nn.Identity()
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "hswish":
        return nn.Hardswish(inplace=True)
    raise ValueError(f"unknown activation {name!r}; expected 'relu', 'hswish' or None")


def conv_norm_act(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    *,
    stride: int = 1,
    groups: int = 1,
    activation: str | None = "relu",
) -> nn.Sequential:
    """Conv (no bias) -> BatchNorm -> activation, with children named ``conv``, ``bn``, ``act``."""
    return nn.Sequential(
        OrderedDict(
            conv=nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, groups=groups, bias=False),
            bn=nn.BatchNorm2d(out_channels),
            act=make_activation(activation),
        )
    )


def make_stem(width: int, kernel_size: int, *, stride: int, activation: str, pool: bool) -> nn.Sequential:
    """The first layer: conv (3 -> width, stride) -> BN -> activation, then a 3x3 stride-2 max pool if ``pool``
    (ResNet). Children ``conv``, ``bn``, ``act`` (, ``pool``)."""
    stem = conv_norm_act(3, width, kernel_size, stride=stride, activation=activation)
    if pool:
        stem.add_module("pool", nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    return stem


class GlobalContext(nn.Module):
    """Global Context block (Cao et al. 2019) with attention pooling and channel-add fusion, as MMCV's
    ``ContextBlock(channels, ratio, pooling_type='att', fusion_types=('channel_add',))``.

    Args:
        channels: input and output channels C.
        planes: width of the transform bottleneck (see :func:`vipnas.space.family.gc_planes`).
    """

    def __init__(self, channels: int, planes: int) -> None:
        super().__init__()
        self.channels = channels
        self.planes = planes
        self.mask = nn.Conv2d(channels, 1, kernel_size=1)
        self.transform = nn.Sequential(
            nn.Conv2d(channels, planes, kernel_size=1),
            nn.LayerNorm([planes, 1, 1]),
            nn.ReLU(inplace=True),
            nn.Conv2d(planes, channels, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.transform(global_context(x, self.mask(x)))


def global_context(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Attention pooling: softmax over positions of ``logits`` (N, 1, H, W), weighted sum of ``x`` (N, C, H, W)
    -> (N, C, 1, 1). The matmul costs C*H*W multiply-adds, counted in the network's MACs."""
    n, c, h, w = x.shape
    weights = logits.reshape(n, 1, h * w).softmax(dim=2)  # (N, 1, HW)
    context = torch.matmul(x.reshape(n, 1, c, h * w), weights.unsqueeze(-1))  # (N, 1, C, 1)
    return context.reshape(n, c, 1, 1)


class SqueezeExcite(nn.Module):
    """Squeeze-and-Excitation as in MMPose's ``SELayer(ratio=4, act=(ReLU, HSigmoid(1, 2)))``: both 1x1
    convolutions carry a bias."""

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.channels = channels
        self.squeeze = squeeze
        self.reduce = nn.Conv2d(channels, squeeze, kernel_size=1)
        self.expand = nn.Conv2d(squeeze, channels, kernel_size=1)
        self.gate = HardSigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean(dim=(2, 3), keepdim=True)  # (N, C, 1, 1)
        scale = self.gate(self.expand(torch.relu(self.reduce(scale))))
        return x * scale


class StagedBackbone(nn.Module):
    """A stem and a list of stages; ``forward`` returns every stage's output (the paper's F1..F4 among them).

    ``forward(x, after={stage: module})`` applies ``module`` to the output of ``stage`` and continues from its
    result: the point where a T-ViPNet fuses the previous frame's heatmaps (the module closes over them). The
    returned list then holds the fused output at that stage. Without ``after`` it is the plain forward (what
    tracing and ONNX export see).

    Subclasses (static and elastic) set ``self.stem`` and ``self.stages``.
    """

    stem: nn.Module
    stages: nn.ModuleList

    def forward(
        self, x: torch.Tensor, after: Mapping[int, Callable[[torch.Tensor], torch.Tensor]] | None = None
    ) -> list[torch.Tensor]:
        if after:
            unknown = sorted(set(after) - set(range(len(self.stages))))
            if unknown:
                raise ValueError(f"stage(s) {unknown} do not exist; this backbone has stages 0..{len(self.stages) - 1}")
        x = self.stem(x)
        features = []
        for index, stage in enumerate(self.stages):
            x = stage(x)
            if after and index in after:
                x = after[index](x)
            features.append(x)
        return features


def deconv_padding(kernel_size: int) -> tuple[int, int]:
    """(padding, output_padding) of a stride-2 deconvolution that exactly doubles the resolution."""
    table = {4: (1, 0), 3: (1, 1), 2: (0, 0)}
    if kernel_size not in table:
        raise ValueError(f"deconvolution kernel size {kernel_size} is not supported; expected one of {sorted(table)}")
    return table[kernel_size]


def check_images(x: torch.Tensor) -> None:
    """Raise a named error unless ``x`` is a batch of RGB images (N, 3, H, W)."""
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"expected a batch of RGB images shaped (N, 3, H, W), got {tuple(x.shape)}")
