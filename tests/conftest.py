"""Fixtures shared by all tests."""

from __future__ import annotations

import pytest
import torch
from torch import nn


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every parameter and BN statistic a random, O(1)-scaled value, so that equivalence tests compare
    outputs that actually depend on every weight (the N(0, 0.001) init would make all outputs ~0)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
            elif name.endswith(("running_mean", "bias")):
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.1)
            elif tensor.dim() <= 1 or name.endswith(("bn.weight", "norm.weight")):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
            else:
                fan_in = tensor[0].numel() if tensor.dim() > 1 else 1
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * (1.0 / fan_in) ** 0.5)
    return model


@pytest.fixture(scope="session")
def randomized():
    """The :func:`randomize` function, as a fixture (usable from module-scoped fixtures too)."""
    return randomize
