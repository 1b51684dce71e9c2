"""One parametrized forward / backward / no-NaN test over every registered model and supernet."""

from __future__ import annotations

import random

import pytest
import torch

from vipnas.models.hrnet_supernet import HRNetSupernet
from vipnas.models.registry import MODELS, create_model
from vipnas.models.supernet import PoseSupernet


@pytest.mark.parametrize("name", list(MODELS))
def test_forward_backward_no_nan(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, input_size=(64, 64))
    if isinstance(model, PoseSupernet | HRNetSupernet):
        model.activate(model.space.sample(random.Random(0)))
    model.train()
    x = torch.randn(2, 3, 64, 64)
    out = model(x)
    assert out.shape == (2, 17, 16, 16)
    assert torch.isfinite(out).all()
    loss = out.square().mean()
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert model.metadata.heatmap_size == (16, 16) and model.metadata.input_size == (64, 64)


def test_default_input_gives_64x48_heatmaps() -> None:
    model = create_model("s_vipnas_mbv3").eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 256, 192)).shape == (1, 17, 64, 48)


def test_bad_inputs_are_named_errors() -> None:
    with pytest.raises(ValueError, match=r"did you mean|Did you mean 's_vipnas_res50'"):
        create_model("s_vipnas_res5")
    with pytest.raises(ValueError, match="multiples of 32"):
        create_model("s_vipnas_res50", input_size=(250, 192))
    model = create_model("s_vipnas_res50", input_size=(64, 64))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        model(torch.zeros(1, 1, 64, 64))
