"""Fold BatchNorm into the preceding convolution or deconvolution for deployment (eval-mode statistics).

Pairs are found structurally: consecutive ``(Conv2d | ConvTranspose2d, BatchNorm2d)`` children of a
``Sequential`` (conv-BN-act units, stems, downsample branches, the head), and ``convN`` / ``bnN`` attribute pairs
(the Bottleneck). The BatchNorm is replaced by ``nn.Identity``; the result computes the same function as the
eval-mode original up to float rounding.
"""

from __future__ import annotations

import copy
import itertools

import torch
from torch import nn

__all__ = ["fold_batchnorm"]


def _scale_shift(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


@torch.no_grad()
def _fold(conv: nn.Conv2d | nn.ConvTranspose2d, bn: nn.BatchNorm2d) -> None:
    scale, shift = _scale_shift(bn)
    if isinstance(conv, nn.ConvTranspose2d):
        g = conv.groups
        weight = conv.weight  # (I, O/g, K, K): output channel = group * O/g + slot
        i, per_group = weight.shape[0], weight.shape[1]
        weight = weight.reshape(g, i // g, per_group, *weight.shape[2:]) * scale.reshape(g, 1, per_group, 1, 1)
        conv.weight.copy_(weight.reshape_as(conv.weight))
    else:
        conv.weight.mul_(scale.reshape(-1, 1, 1, 1))
    bias = shift if conv.bias is None else conv.bias * scale + shift
    conv.bias = nn.Parameter(bias.clone())


def fold_batchnorm(model: nn.Module, *, inplace: bool = False) -> nn.Module:
    """Return ``model`` (a copy unless ``inplace``) in eval mode with every foldable BatchNorm folded."""
    model = model if inplace else copy.deepcopy(model)
    model.eval()
    for module in list(model.modules()):
        if isinstance(module, nn.Sequential):
            names = list(module._modules)
            for first, second in itertools.pairwise(names):
                conv, bn = module._modules[first], module._modules[second]
                if isinstance(conv, nn.Conv2d | nn.ConvTranspose2d) and isinstance(bn, nn.BatchNorm2d):
                    _fold(conv, bn)
                    module._modules[second] = nn.Identity()
        for name, child in list(module.named_children()):
            if name.startswith("conv") and name[4:].isdigit() and isinstance(child, nn.Conv2d):
                bn = getattr(module, f"bn{name[4:]}", None)
                if isinstance(bn, nn.BatchNorm2d):
                    _fold(child, bn)
                    setattr(module, f"bn{name[4:]}", nn.Identity())
    return model
