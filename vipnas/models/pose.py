"""The top-down heatmap pose network: a backbone and a heatmap head, tensor in, tensor out; and
:func:`build_static`, which builds it from the walk of an arch (:func:`vipnas.space.blocks.arch_blocks`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from vipnas.models.metadata import ModelMetadata
from vipnas.nn.blocks import build_block, build_head
from vipnas.nn.layers import StagedBackbone, check_images
from vipnas.space.arch import Arch
from vipnas.space.blocks import FeatureInfo, arch_blocks, feature_info
from vipnas.space.family import FAMILY_SPECS

__all__ = [
    "INIT_SCHEMES",
    "Backbone",
    "FusionModules",
    "HeatmapNetwork",
    "PoseNetwork",
    "build_static",
    "check_input_size",
    "init_weights",
]


class Backbone(StagedBackbone):
    """The static backbone of an arch: ``stem`` and ``stages`` (each an ``nn.Sequential`` of blocks).

    ``forward`` returns every stage's output; :attr:`feature_info` says which are the paper's F1..F4.
    """

    def __init__(self, arch: Arch, stem: nn.Module, stages: Sequence[nn.Module], out_channels: int) -> None:
        super().__init__()
        self.arch = arch
        self.stem = stem
        self.stages = nn.ModuleList(stages)
        self.out_channels = out_channels

    @property
    def feature_info(self) -> list[FeatureInfo]:
        """F1..F4: stage index, channels and stride of each fusion point."""
        return feature_info(self.arch)


FusionModules = Mapping[int, Callable[[torch.Tensor], torch.Tensor]]  # stage index -> module applied after it


class HeatmapNetwork(nn.Module):
    """What static networks and supernets share: ``self.backbone`` (a :class:`StagedBackbone`) and ``self.head``.

    ``forward(x)`` maps normalised RGB crops (N, 3, H, W) to heatmaps (N, K, H/4, W/4); ``forward_features(x)``
    returns every stage output; ``feature_info`` names the paper's F1..F4 among them. ``after={stage: module}``
    applies a module after that backbone stage and continues from its result (the fusion point, see
    :class:`vipnas.nn.layers.StagedBackbone`).
    """

    backbone: nn.Module
    head: nn.Module

    @property
    def feature_info(self) -> list[FeatureInfo]:
        """F1..F4 (of the active arch, for a supernet): stage index, channels and stride of each fusion point."""
        return self.backbone.feature_info

    def forward_features(self, x: torch.Tensor, after: FusionModules | None = None) -> list[torch.Tensor]:
        return self.backbone(x, after)

    def forward(self, x: torch.Tensor, after: FusionModules | None = None) -> torch.Tensor:
        check_images(x)
        return self.head(self.backbone(x, after)[-1])


class PoseNetwork(HeatmapNetwork):
    """A static network: backbone + deconvolution head, plain ``torch.nn`` only.

    ``metadata`` describes preprocessing and output; ``arch`` the architecture (``None`` outside a family).
    """

    def __init__(self, *, backbone: nn.Module, head: nn.Module, metadata: ModelMetadata, arch: Arch | None) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.metadata = metadata
        self.arch = arch

    @property
    def feature_stages(self) -> tuple[int, ...]:
        """Indices into :meth:`forward_features` of the paper's F1..F4."""
        assert self.arch is not None
        return FAMILY_SPECS[self.arch.family].feature_stages


def check_input_size(input_size: tuple[int, int]) -> tuple[int, int]:
    """Validate a network input (height, width): both positive multiples of 32 (the backbone's stride)."""
    if len(input_size) != 2 or any(int(v) != v or v <= 0 or v % 32 for v in input_size):
        raise ValueError(f"input size must be (height, width), positive multiples of 32; got {tuple(input_size)}")
    return int(input_size[0]), int(input_size[1])


def build_static(
    arch: Arch,
    *,
    num_joints: int = 17,
    input_size: tuple[int, int] = (256, 192),
    name: str = "subnet",
    dataset: str = "COCO",
) -> PoseNetwork:
    """Build the plain ``torch.nn`` network of an arch, initialised as the paper says (§4.2: N(0, 0.001))."""
    blocks = arch_blocks(arch, num_joints=num_joints, input_size=check_input_size(input_size))
    stem, *body = blocks
    stages: list[list[nn.Module]] = [[] for _ in arch.stages]
    head = []
    for block in body:
        if block.stage < len(arch.stages):
            stages[block.stage].append(build_block(block))
        else:
            head.append(block)
    out_channels = body[-1 - FAMILY_SPECS[arch.family].head_layers].out_channels  # the last stage's output
    backbone = Backbone(arch, build_block(stem), [nn.Sequential(*stage) for stage in stages], out_channels)
    metadata = ModelMetadata(
        name=name, num_joints=num_joints, input_size=check_input_size(input_size), dataset=dataset, arch=arch.to_dict()
    )
    model = PoseNetwork(backbone=backbone, head=build_head(head), metadata=metadata, arch=arch)
    init_weights(model)
    return model


INIT_SCHEMES = ("normal", "kaiming")


def init_weights(model: nn.Module, scheme: str = "normal", std: float = 0.001) -> None:
    """Initialise every convolution, deconvolution and norm layer of ``model`` in place.

    ``normal``: weights ~ N(0, std), biases 0 (MMPose's ViPNAS ``init_cfg``; the paper's §4.2 supernet init).
    ``kaiming``: He-normal (fan-out, ReLU gain) for every (de)convolution except the heatmap layer
    (``final_layer``, kept at N(0, std)), as torchvision initialises a ResNet trained from scratch. Without an
    ImageNet-pretrained backbone N(0, 0.001) learns far more slowly (``benchmarks/train_init_comparison.py``: the
    largest ``mobilenetv3_tiny`` network after 300 SynthPose steps at 128x96 reaches val loss 0.0145 and AP 0.0005 with
    ``normal``, 0.0123 and 0.0036 with ``kaiming``) and leaves untrained activations subnormal. Norm scales 1,
    shifts 0 in both.
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"init scheme must be one of {', '.join(map(repr, INIT_SCHEMES))}; got {scheme!r}")
    # the elastic operators say which they are (``weight_init``), so that this module needs nothing from them
    convolutions = (nn.Conv2d, nn.ConvTranspose2d)
    norms = (nn.BatchNorm2d, nn.LayerNorm)
    heatmap_layers = {id(module.final_layer) for module in model.modules() if hasattr(module, "final_layer")}
    for module in model.modules():
        kind = getattr(type(module), "weight_init", None)
        if isinstance(module, convolutions) or kind == "convolution":
            if scheme == "kaiming" and id(module) not in heatmap_layers:
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            else:
                nn.init.normal_(module.weight, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, norms) or kind == "norm":
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
