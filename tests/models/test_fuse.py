"""BatchNorm folding keeps the eval-mode function and removes every BatchNorm."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from vipnas.models.fuse import fold_batchnorm
from vipnas.models.pose import build_static
from vipnas.space import MOBILENETV3_SPACE, RESNET50_SPACE, SBL_RES50_ARCH


@pytest.mark.parametrize(
    "arch", [RESNET50_SPACE.sample(random.Random(0)), MOBILENETV3_SPACE.sample(random.Random(1)), SBL_RES50_ARCH]
)
def test_folded_network_matches_and_has_no_batchnorm(arch, randomized) -> None:
    model = randomized(build_static(arch, input_size=(64, 64)), seed=2).eval()
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # the original is untouched
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        torch.testing.assert_close(folded(x), expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))
