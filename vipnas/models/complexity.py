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

import torch
from torch import nn

from vipnas.models.layers import GlobalContext
from vipnas.space.arch import Arch
from vipnas.space.family import FAMILY_SPECS, gc_planes, se_channels

__all__ = ["Complexity", "arch_complexity", "measure_complexity"]


@dataclass(frozen=True)
class Complexity:
    """``params``: learnable parameters; ``macs``: multiply-accumulates for one input of the given size."""

    params: int
    macs: int

    def __add__(self, other: Complexity) -> Complexity:
        return Complexity(self.params + other.params, self.macs + other.macs)

    def __str__(self) -> str:
        return f"{self.params / 1e6:.3f} M params, {self.macs / 1e9:.4f} G MACs"


def _out(size: int, kernel: int, stride: int) -> int:
    return (size + 2 * (kernel // 2) - kernel) // stride + 1


def _conv(cin: int, cout: int, k: int, g: int, h: int, w: int, *, bias: bool = False) -> Complexity:
    per_output = (cin // g) * k * k
    return Complexity(cout * per_output + (cout if bias else 0), cout * per_output * h * w)


def _gc(c: int, h: int, w: int) -> Complexity:
    p = gc_planes(c)
    mask = _conv(c, 1, 1, 1, h, w, bias=True)
    matmul = Complexity(0, c * h * w)
    transform = _conv(c, p, 1, 1, 1, 1, bias=True) + Complexity(2 * p, 0) + _conv(p, c, 1, 1, 1, 1, bias=True)
    return mask + matmul + transform


def _se(c: int) -> Complexity:
    s = se_channels(c)
    return _conv(c, s, 1, 1, 1, 1, bias=True) + _conv(s, c, 1, 1, 1, 1, bias=True)


def _bn(c: int) -> Complexity:
    return Complexity(2 * c, 0)


def arch_complexity(arch: Arch, *, num_joints: int = 17, input_size: tuple[int, int] = (256, 192)) -> Complexity:
    """Analytic parameters and MACs of the static network of ``arch`` at ``input_size`` (height, width)."""
    spec = FAMILY_SPECS[arch.family]
    h, w = input_size
    k = arch.stem.kernel_size
    h, w = _out(h, k, spec.stem_stride), _out(w, k, spec.stem_stride)
    total = _conv(3, arch.stem.width, k, 1, h, w) + _bn(arch.stem.width)
    if spec.stem_pool:
        h, w = _out(h, 3, 2), _out(w, 3, 2)
    cin = arch.stem.width
    for stage, stride in zip(arch.stages, spec.stage_strides, strict=True):
        mid, out = spec.middle_channels(stage), spec.output_channels(stage)
        ks, g = stage.kernel_size, stage.groups
        for index in range(stage.depth):
            s = stride if index == 0 else 1
            ho, wo = _out(h, ks, s), _out(w, ks, s)
            if arch.family == "resnet":
                total += _conv(cin, mid, 1, 1, h, w) + _bn(mid)
                total += _conv(mid, mid, ks, g, ho, wo) + _bn(mid)
                total += _conv(mid, out, 1, 1, ho, wo) + _bn(out)
                if stage.attention:
                    total += _gc(out, ho, wo)
                if index == 0:  # projection shortcut
                    total += _conv(cin, out, 1, 1, ho, wo) + _bn(out)
            else:
                if stage.expand_ratio != 1:
                    total += _conv(cin, mid, 1, 1, h, w) + _bn(mid)
                total += _conv(mid, mid, ks, g, ho, wo) + _bn(mid)
                if stage.attention:
                    total += _se(mid)
                total += _conv(mid, out, 1, 1, ho, wo) + _bn(out)
            cin, h, w = out, ho, wo
    head = arch.head
    for _ in range(spec.head_layers):
        per_input = (head.width // head.groups) * head.kernel_size**2
        total += Complexity(cin * per_input, cin * per_input * h * w) + _bn(head.width)
        cin, h, w = head.width, 2 * h, 2 * w
    return total + _conv(cin, num_joints, 1, 1, h, w, bias=True)


def measure_complexity(model: nn.Module, input_size: tuple[int, int] = (256, 192)) -> Complexity:
    """Count parameters and MACs of ``model`` by running one (1, 3, H, W) input through forward hooks on every
    ``Conv2d``, ``ConvTranspose2d`` and GC block (static modules; elastic ops are not hooked)."""
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
            model(torch.zeros(1, 3, *input_size))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return Complexity(sum(p.numel() for p in model.parameters()), macs)
