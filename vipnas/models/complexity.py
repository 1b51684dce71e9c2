"""Parameter and multiply-accumulate (MAC) counts: analytic from an arch, and measured by hooks on a model.

Convention: the paper's "GFLOPs" are multiply-accumulates of the convolution and deconvolution layers (plus,
here, the GC block's attention-pooling matmul, C*H*W per block). Normalisation, activations, pooling, the
residual additions and biases are not counted. A deconvolution costs ``H_in * W_in * C_in * (C_out / g) * K^2``
(every input pixel is scattered through a KxK kernel), a convolution ``H_out * W_out * C_out * (C_in / g) * K^2``.

:func:`arch_complexity` walks the arch without building anything (about 10 µs per arch), so a search can
rank thousands of archs per second; :func:`measure_complexity` counts on a real module with forward hooks and
serves as the independent check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from vipnas.nn.layers import GlobalContext
from vipnas.space.arch import Arch
from vipnas.space.blocks import BlockSpec, arch_blocks, fusion_block, output_size
from vipnas.space.family import gc_planes, se_channels
from vipnas.space.hrnet import HRNetArch
from vipnas.space.temporal import FrameChoice, TemporalArch

__all__ = [
    "Complexity",
    "arch_complexity",
    "block_complexity",
    "complexity_of",
    "frame_complexity",
    "measure_complexity",
    "temporal_complexity",
]


@dataclass(frozen=True)
class Complexity:
    """``params``: learnable parameters; ``macs``: multiply-accumulates for one input of the given size."""

    params: int
    macs: int

    def __add__(self, other: Complexity) -> Complexity:
        return Complexity(self.params + other.params, self.macs + other.macs)

    def __str__(self) -> str:
        return f"{self.params / 1e6:.3f} M params, {self.macs / 1e9:.4f} G MACs"


def _conv(cin: int, cout: int, k: int, g: int, h: int, w: int, *, bias: bool = False) -> Complexity:
    per_output = (cin // g) * k * k
    return Complexity(cout * per_output + (cout if bias else 0), cout * per_output * h * w)


def _bn(c: int) -> Complexity:
    return Complexity(2 * c, 0)


def _gc(c: int, h: int, w: int) -> Complexity:
    p = gc_planes(c)
    mask = _conv(c, 1, 1, 1, h, w, bias=True)
    matmul = Complexity(0, c * h * w)
    transform = _conv(c, p, 1, 1, 1, 1, bias=True) + Complexity(2 * p, 0) + _conv(p, c, 1, 1, 1, 1, bias=True)
    return mask + matmul + transform


def _se(c: int) -> Complexity:
    s = se_channels(c)
    return _conv(c, s, 1, 1, 1, 1, bias=True) + _conv(s, c, 1, 1, 1, 1, bias=True)


def block_complexity(block: BlockSpec) -> Complexity:
    """Analytic parameters and MACs of one block."""
    cin, cout, mid, k, g = block.in_channels, block.out_channels, block.middle_channels, block.kernel_size, block.groups
    h, w = block.in_height, block.in_width
    ho, wo = output_size(h, k, block.stride), output_size(w, k, block.stride)  # after the (strided) convolution
    if block.kind == "stem":
        return _conv(cin, cout, k, 1, ho, wo) + _bn(cout)
    if block.kind == "bottleneck":
        total = _conv(cin, mid, 1, 1, h, w) + _bn(mid) + _conv(mid, mid, k, g, ho, wo) + _bn(mid)
        total += _conv(mid, cout, 1, 1, ho, wo) + _bn(cout)
        if block.attention:
            total += _gc(cout, ho, wo)
        if block.projection:
            total += _conv(cin, cout, 1, 1, ho, wo) + _bn(cout)
        return total
    if block.kind == "mobile":
        total = _conv(cin, mid, 1, 1, h, w) + _bn(mid) if block.expansion else Complexity(0, 0)
        total += _conv(mid, mid, k, g, ho, wo) + _bn(mid)
        if block.attention:
            total += _se(mid)
        return total + _conv(mid, cout, 1, 1, ho, wo) + _bn(cout)
    if block.kind == "deconv":
        per_input = (cout // g) * k * k
        return Complexity(cin * per_input, cin * per_input * h * w) + _bn(cout)
    if block.kind == "upsample":  # 1x1 at the input resolution, then KxK (groups g) at twice it
        return _conv(cin, cout, 1, 1, h, w) + _bn(cout) + _conv(cout, cout, k, g, 2 * h, 2 * w) + _bn(cout)
    if block.kind == "final":
        return _conv(cin, cout, 1, 1, h, w, bias=True)
    if block.kind == "fusion":  # embed K -> C and project (C or 2C) -> C, both 1x1 at the stage's resolution
        return _conv(cin, cout, 1, 1, h, w, bias=True) + _conv(
            2 * cout if block.op == "cat" else cout, cout, 1, 1, h, w, bias=True
        )
    raise ValueError(f"unknown block kind {block.kind!r}")


def arch_complexity(arch: Arch, *, num_joints: int = 17, input_size: tuple[int, int] = (256, 192)) -> Complexity:
    """Analytic parameters and MACs of the static network of ``arch`` at ``input_size`` (height, width)."""
    total = Complexity(0, 0)
    for block in arch_blocks(arch, num_joints=num_joints, input_size=input_size):
        total += block_complexity(block)
    return total


def complexity_of(arch: Any, *, num_joints: int = 17, input_size: tuple[int, int] = (256, 192)) -> Complexity:
    """Analytic parameters and MACs of the static network of an arch of any family: :func:`arch_complexity` for an
    :class:`~vipnas.space.arch.Arch`, :func:`vipnas.models.hrnet_complexity.hrnet_complexity` for an
    :class:`~vipnas.space.hrnet.HRNetArch` (what budgets, searches and ``vipnas extract`` count).

    Raises:
        TypeError: ``arch`` is neither.
    """
    if isinstance(arch, Arch):
        return arch_complexity(arch, num_joints=num_joints, input_size=input_size)
    if isinstance(arch, HRNetArch):
        from vipnas.models.hrnet_complexity import hrnet_complexity  # it builds on Complexity, defined here

        return hrnet_complexity(arch, num_joints=num_joints, input_size=input_size)
    raise TypeError(f"complexity_of needs an Arch or an HRNetArch, got {type(arch).__name__}")


def measure_complexity(model: nn.Module, input_size: tuple[int, int] = (256, 192), *, channels: int = 3) -> Complexity:
    """Count parameters and MACs of ``model`` by running one (1, ``channels``, H, W) input through forward hooks on
    every ``Conv2d``, ``ConvTranspose2d`` and GC block (static modules; elastic ops are not hooked)."""
    macs = 0

    def conv_hook(module: nn.Conv2d, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        nonlocal macs
        kh, kw = module.kernel_size
        macs += output.numel() * (module.in_channels // module.groups) * kh * kw

    def deconv_hook(module: nn.ConvTranspose2d, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        nonlocal macs
        kh, kw = module.kernel_size
        macs += inputs[0].numel() * (module.out_channels // module.groups) * kh * kw

    def gc_hook(module: GlobalContext, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        nonlocal macs
        macs += inputs[0].numel()

    handles = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.ConvTranspose2d):
            handles.append(module.register_forward_hook(deconv_hook))
        elif isinstance(module, GlobalContext):
            handles.append(module.register_forward_hook(gc_hook))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, channels, *input_size))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return Complexity(sum(p.numel() for p in model.parameters()), macs)


def frame_complexity(
    frame: FrameChoice, *, num_joints: int = 17, input_size: tuple[int, int] = (256, 192)
) -> Complexity:
    """Parameters and MACs of one non-key frame's T-ViPNet: its spatial network plus its fusion module."""
    fusion = fusion_block(frame.arch, frame.fusion, frame.op, num_joints=num_joints, input_size=input_size)
    return arch_complexity(frame.arch, num_joints=num_joints, input_size=input_size) + block_complexity(fusion)


def temporal_complexity(
    arch: TemporalArch, *, num_joints: int = 17, input_size: tuple[int, int] = (256, 192)
) -> list[Complexity]:
    """Per frame of a key frame and its T non-key frames: the S-ViPNet's complexity, then each T-ViPNet's. The sum
    is the cost of T+1 frames; the mean, the per-frame average the paper's Table 1 reports."""
    key = arch_complexity(arch.key, num_joints=num_joints, input_size=input_size)
    return [key] + [frame_complexity(f, num_joints=num_joints, input_size=input_size) for f in arch.frames]
