"""An independent pure-torch transcription of the MMPose / mmcv modules that our static networks claim to match.

Written from the structure of these upstream files (MMPose 1.x at open-mmlab/mmpose, mmcv 2.x at open-mmlab/mmcv;
both Apache-2.0), *not* from our ``vipnas/models`` implementation, so that the tests in
``test_mmpose_reference.py`` compare two independently written networks:

* ``mmpose/models/backbones/vipnas_resnet.py``: ``ViPNAS_Bottleneck``, ``ViPNAS_ResLayer``, ``ViPNAS_ResNet``
* ``mmpose/models/backbones/vipnas_mbv3.py``: ``ViPNAS_MobileNetV3``
* ``mmpose/models/backbones/utils/inverted_residual.py`` and ``utils/se_layer.py``
* ``mmpose/models/backbones/resnet.py``: ``Bottleneck``, ``ResLayer``, ``ResNet`` (depth 50 only)
* ``mmpose/models/heads/heatmap_heads/heatmap_head.py`` and ``vipnas_head.py``
* mmcv ``mmcv/cnn/bricks/context_block.py``, ``conv_module.py``, ``hsigmoid.py``, ``hswish.py``

Only the code paths used by the three released configurations are transcribed (pytorch style, no deep stem, no
avg-down, no checkpointing, no frozen stages, BN with default eps/momentum).  Submodule attribute names are
MMPose's own, so ``TopDownReference(...).state_dict()`` carries exactly the keys of an MMPose 1.x
``TopdownPoseEstimator`` checkpoint (``backbone.*`` and ``head.*``).  Initialisation is irrelevant here: the tests
overwrite every parameter and BN statistic with :func:`randomize_`.
"""

from __future__ import annotations

import torch
from torch import nn

# --------------------------------------------------------------------------------------------------------------
# mmcv bricks
# --------------------------------------------------------------------------------------------------------------


class HSigmoid(nn.Module):
    """mmcv ``HSigmoid``: ``clamp((x + bias) / divisor, 0, 1)`` (ViPNAS' SE layers use bias=1, divisor=2)."""

    def __init__(self, bias: float = 3.0, divisor: float = 6.0) -> None:
        super().__init__()
        self.bias = bias
        self.divisor = divisor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x + self.bias) / self.divisor).clamp(0.0, 1.0)


def _activation(kind: str) -> nn.Module:
    # mmcv registers torch's own Hardswish under the name 'HSwish' on torch >= 1.7.
    if kind == "ReLU":
        return nn.ReLU(inplace=True)
    if kind == "HSwish":
        return nn.Hardswish(inplace=True)
    if kind == "HSigmoid(1,2)":
        return HSigmoid(bias=1.0, divisor=2.0)
    raise ValueError(kind)


class ConvModule(nn.Module):
    """mmcv ``ConvModule`` with order conv -> norm -> act; ``bias='auto'`` means a bias only when there is no
    norm.  The BN is registered as ``bn`` (mmcv's abbreviation for batch norms) and the activation as
    ``activate``."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        groups: int = 1,
        norm: bool = True,
        act: str | None = "ReLU",
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=padding, groups=groups, bias=not norm)
        self.with_norm = norm
        if norm:
            self.bn = nn.BatchNorm2d(cout)
        self.with_activation = act is not None
        if act is not None:
            self.activate = _activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.with_norm:
            x = self.bn(x)
        if self.with_activation:
            x = self.activate(x)
        return x


class ContextBlock(nn.Module):
    """mmcv ``ContextBlock`` (GCNet) with ``pooling_type='att'`` and ``fusion_types=('channel_add',)``."""

    def __init__(self, in_channels: int, ratio: float) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.planes = int(in_channels * ratio)
        self.conv_mask = nn.Conv2d(in_channels, 1, kernel_size=1)
        self.softmax = nn.Softmax(dim=2)
        self.channel_add_conv = nn.Sequential(
            nn.Conv2d(in_channels, self.planes, kernel_size=1),
            nn.LayerNorm([self.planes, 1, 1]),
            nn.ReLU(inplace=True),
            nn.Conv2d(self.planes, in_channels, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        # attention pooling: a softmax over the H*W positions of a 1-channel mask weights the features.
        weights = self.softmax(self.conv_mask(x).reshape(n, 1, h * w))  # (n, 1, hw)
        context = torch.matmul(x.reshape(n, 1, c, h * w), weights.unsqueeze(-1)).reshape(n, c, 1, 1)
        return x + self.channel_add_conv(context)


# --------------------------------------------------------------------------------------------------------------
# ViPNAS ResNet backbone
# --------------------------------------------------------------------------------------------------------------


class ViPNAS_Bottleneck(nn.Module):  # noqa: N801 - MMPose's class name
    """conv1 (1x1) -> bn1 -> relu -> conv2 (k x k, groups, stride) -> bn2 -> relu -> conv3 (1x1) -> bn3
    -> [GC attention] -> + identity (or downsample) -> relu.  ``mid = out // expansion``."""

    def __init__(
        self,
        cin: int,
        cout: int,
        expansion: int,
        stride: int,
        kernel_size: int,
        groups: int,
        attention: bool,
        downsample: nn.Module | None,
    ) -> None:
        super().__init__()
        mid = cout // expansion
        self.conv1 = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(
            mid, mid, kernel_size, stride=stride, padding=kernel_size // 2, groups=groups, bias=False
        )
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.attention = ContextBlock(cout, max(1.0 / 16, 16.0 / cout)) if attention else None
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.attention is not None:
            out = self.attention(out)
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


def _downsample(cin: int, cout: int, stride: int) -> nn.Module | None:
    """ResLayer's projection shortcut: ``Sequential(conv1x1(stride), BN)`` when shape changes."""
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))


class ViPNAS_ResNet(nn.Module):  # noqa: N801 - MMPose's class name
    """``ViPNAS_ResNet(depth=50)`` with its default searched configuration."""

    def __init__(
        self,
        wid=(48, 80, 160, 304, 608),
        expan=(None, 1, 1, 1, 1),
        dep=(None, 4, 6, 7, 3),
        ks=(7, 3, 5, 5, 5),
        group=(None, 16, 16, 16, 16),
        att=(None, True, False, True, True),
        strides=(1, 2, 2, 2),
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, wid[0], ks[0], stride=2, padding=ks[0] // 2, bias=False)
        self.bn1 = nn.BatchNorm2d(wid[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        cin = wid[0]
        for i in range(4):
            expansion = expan[i + 1]
            cout = wid[i + 1] * expansion
            blocks = []
            for j in range(dep[i + 1]):
                stride = strides[i] if j == 0 else 1
                blocks.append(
                    ViPNAS_Bottleneck(
                        cin if j == 0 else cout,
                        cout,
                        expansion,
                        stride,
                        ks[i + 1],
                        group[i + 1],
                        att[i + 1],
                        _downsample(cin, cout, strides[i]) if j == 0 else None,
                    )
                )
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            cin = cout

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(4):
            x = getattr(self, f"layer{i + 1}")(x)
        return (x,)


# --------------------------------------------------------------------------------------------------------------
# MMPose's plain ResNet-50 (SimpleBaseline backbone)
# --------------------------------------------------------------------------------------------------------------


class Bottleneck(nn.Module):
    """MMPose ``Bottleneck`` (pytorch style: stride on the 3x3), expansion 4."""

    def __init__(self, cin: int, cout: int, stride: int, downsample: nn.Module | None) -> None:
        super().__init__()
        mid = cout // 4
        self.conv1 = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    """MMPose ``ResNet(depth=50)``: stem 7x7/2 conv (64) + BN + ReLU + 3x3/2 max-pool, stages (3, 4, 6, 3) of
    width 256, 512, 1024, 2048."""

    def __init__(self, stage_blocks=(3, 4, 6, 3), strides=(1, 2, 2, 2)) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        cin, cout = 64, 256
        for i, n in enumerate(stage_blocks):
            blocks = [
                Bottleneck(
                    cin if j == 0 else cout,
                    cout,
                    strides[i] if j == 0 else 1,
                    _downsample(cin, cout, strides[i]) if j == 0 else None,
                )
                for j in range(n)
            ]
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            cin, cout = cout, cout * 2

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(4):
            x = getattr(self, f"layer{i + 1}")(x)
        return (x,)


# --------------------------------------------------------------------------------------------------------------
# ViPNAS MobileNetV3 backbone
# --------------------------------------------------------------------------------------------------------------


class SELayer(nn.Module):
    """MMPose ``SELayer``: global average pool -> ConvModule(c, int(c / ratio), ReLU) -> ConvModule(.., c, HSigmoid);
    the ConvModules have no norm, hence a conv bias."""

    def __init__(self, channels: int, ratio: int = 4) -> None:
        super().__init__()
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        squeezed = int(channels / ratio)
        self.conv1 = ConvModule(channels, squeezed, 1, norm=False, act="ReLU")
        self.conv2 = ConvModule(squeezed, channels, 1, norm=False, act="HSigmoid(1,2)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv2(self.conv1(self.global_avgpool(x)))


class InvertedResidual(nn.Module):
    """MMPose ``InvertedResidual``: [expand_conv 1x1] -> depthwise_conv (k x k, groups, stride) -> [se]
    -> linear_conv 1x1 (no activation), plus the input when stride 1 and in == out channels."""

    def __init__(
        self,
        cin: int,
        cout: int,
        mid: int,
        kernel_size: int,
        groups: int,
        stride: int,
        se: bool,
        with_expand_conv: bool,
        act: str,
    ) -> None:
        super().__init__()
        self.with_res_shortcut = stride == 1 and cin == cout
        self.with_expand_conv = with_expand_conv
        if with_expand_conv:
            self.expand_conv = ConvModule(cin, mid, 1, act=act)
        self.depthwise_conv = ConvModule(
            mid, mid, kernel_size, stride=stride, padding=kernel_size // 2, groups=groups, act=act
        )
        self.with_se = se
        if se:
            self.se = SELayer(mid, ratio=4)
        self.linear_conv = ConvModule(mid, cout, 1, act=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.expand_conv(x) if self.with_expand_conv else x
        out = self.depthwise_conv(out)
        if self.with_se:
            out = self.se(out)
        out = self.linear_conv(out)
        return x + out if self.with_res_shortcut else out


class ViPNAS_MobileNetV3(nn.Module):  # noqa: N801 - MMPose's class name
    """``ViPNAS_MobileNetV3()`` with its default searched configuration; blocks are flat children
    ``layer1 .. layerN`` numbered across stages."""

    def __init__(
        self,
        wid=(16, 16, 24, 40, 80, 112, 160),
        expan=(None, 1, 5, 4, 5, 5, 6),
        dep=(None, 1, 4, 4, 4, 4, 4),
        ks=(3, 3, 7, 7, 5, 7, 5),
        group=(None, 8, 120, 20, 100, 280, 240),
        att=(None, True, True, False, True, True, True),
        stride=(2, 1, 2, 2, 2, 1, 2),
        act=("HSwish", "ReLU", "ReLU", "ReLU", "HSwish", "HSwish", "HSwish"),
    ) -> None:
        super().__init__()
        self.conv1 = ConvModule(3, wid[0], ks[0], stride=stride[0], padding=ks[0] // 2, act=act[0])
        self.layers: list[str] = []
        for i in range(1, len(dep)):
            mid = wid[i] * expan[i]
            for j in range(dep[i]):
                block = InvertedResidual(
                    wid[i - 1] if j == 0 else wid[i],
                    wid[i],
                    mid,
                    ks[i],
                    group[i],
                    stride[i] if j == 0 else 1,
                    se=att[i],
                    with_expand_conv=expan[i] != 1,
                    act=act[i],
                )
                name = f"layer{len(self.layers) + 1}"
                self.add_module(name, block)
                self.layers.append(name)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.conv1(x)
        for name in self.layers:
            x = getattr(self, name)(x)
        return (x,)


# --------------------------------------------------------------------------------------------------------------
# heads
# --------------------------------------------------------------------------------------------------------------


class HeatmapHead(nn.Module):
    """MMPose ``HeatmapHead`` / ``ViPNASHead``: ``deconv_layers`` = [ConvTranspose2d(k=4, s=2, p=1, groups,
    bias=False), BatchNorm2d, ReLU] x 3, ``conv_layers`` = Identity, ``final_layer`` = Conv2d 1x1 with bias.
    ``HeatmapHead`` is the ``groups=1`` case."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        deconv_out_channels=(256, 256, 256),
        deconv_num_groups=(1, 1, 1),
        deconv_kernel_sizes=(4, 4, 4),
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for cout, groups, k in zip(deconv_out_channels, deconv_num_groups, deconv_kernel_sizes, strict=True):
            padding, output_padding = {4: (1, 0), 3: (1, 1), 2: (0, 0)}[k]
            layers += [
                nn.ConvTranspose2d(
                    cin, cout, k, stride=2, padding=padding, output_padding=output_padding, groups=groups, bias=False
                ),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
            ]
            cin = cout
        self.deconv_layers = nn.Sequential(*layers)
        self.conv_layers = nn.Identity()
        self.final_layer = nn.Conv2d(cin, out_channels, kernel_size=1)

    def forward(self, feats: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return self.final_layer(self.conv_layers(self.deconv_layers(feats[-1])))


class TopDownReference(nn.Module):
    """``backbone`` + ``head``, like MMPose's ``TopdownPoseEstimator`` (no data preprocessor, no flip test)."""

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


REFERENCE_NAMES = ("s_vipnas_res50", "s_vipnas_mbv3", "sbl_res50")

#: parameter counts of the MMPose models (backbone + head), as printed by MMPose itself.
MMPOSE_PARAM_COUNTS = {"s_vipnas_res50": 7_286_772, "s_vipnas_mbv3": 5_895_725, "sbl_res50": 33_999_697}


def build_reference(name: str, num_joints: int = 17) -> TopDownReference:
    """The MMPose model that our registered ``name`` claims to reproduce."""
    if name == "s_vipnas_res50":  # ViPNAS_ResNet(depth=50) + ViPNASHead(in_channels=608)
        return TopDownReference(ViPNAS_ResNet(), HeatmapHead(608, num_joints, (144, 144, 144), (16, 16, 16)))
    if name == "s_vipnas_mbv3":  # ViPNAS_MobileNetV3() + ViPNASHead(in_channels=160, 160 ch, depthwise deconvs)
        return TopDownReference(ViPNAS_MobileNetV3(), HeatmapHead(160, num_joints, (160, 160, 160), (160, 160, 160)))
    if name == "sbl_res50":  # ResNet(depth=50) + HeatmapHead(in_channels=2048)
        return TopDownReference(ResNet(), HeatmapHead(2048, num_joints, (256, 256, 256), (1, 1, 1)))
    raise ValueError(f"no reference for {name!r}")


@torch.no_grad()
def randomize_(model: nn.Module, seed: int, calibrate_input: torch.Tensor | None = None) -> nn.Module:
    """Overwrite every floating-point parameter and BN/LN statistic with seeded random values that are far from
    any default initialisation, so that a swapped, transposed or dropped tensor changes the output.

    Convs get a fan-in-scaled normal weight and biases a N(0, 0.1) bias.  Norm affine parameters get scale
    U(0.5, 1.5) and shift N(0, 0.1).  If ``calibrate_input`` is given, BN running statistics are first set to
    the batch statistics of that input (so activations stay well scaled through deep residual stacks) and then
    perturbed (mean + N(0, 0.1) * std, var * U(0.7, 1.4)); otherwise they are drawn from N(0, 0.1) / U(0.5, 2).
    ``num_batches_tracked`` gets a random count.  The model is left in eval mode.
    """
    gen = torch.Generator().manual_seed(seed)

    def normal(shape, std=1.0):
        return torch.randn(shape, generator=gen) * std

    def uniform(shape, lo, hi):
        return lo + (hi - lo) * torch.rand(shape, generator=gen)

    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            w = module.weight
            fan_in = w[0].numel() if isinstance(module, nn.Conv2d) else w.shape[0] // module.groups * w[0, 0].numel()
            w.copy_(normal(w.shape, (2.0 / fan_in) ** 0.5))
            if module.bias is not None:
                module.bias.copy_(normal(module.bias.shape, 0.1))
        elif isinstance(module, (nn.BatchNorm2d, nn.LayerNorm)):
            module.weight.copy_(uniform(module.weight.shape, 0.5, 1.5))
            module.bias.copy_(normal(module.bias.shape, 0.1))
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.copy_(normal(module.running_mean.shape, 0.1))
                module.running_var.copy_(uniform(module.running_var.shape, 0.5, 2.0))
                module.num_batches_tracked.fill_(int(torch.randint(1, 10_000, (1,), generator=gen)))
    if calibrate_input is not None:
        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        saved = [m.momentum for m in bns]
        for m in bns:
            m.momentum = 1.0  # running stats := this batch's statistics
        model.train()
        model(calibrate_input)
        for m, momentum in zip(bns, saved, strict=True):
            m.momentum = momentum
            std = m.running_var.sqrt()
            m.running_mean.add_(normal(std.shape, 0.1) * std)
            m.running_var.mul_(uniform(std.shape, 0.7, 1.4))
            m.num_batches_tracked.fill_(int(torch.randint(1, 10_000, (1,), generator=gen)))
    return model.eval()
