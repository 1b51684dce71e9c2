"""Weight initialisation schemes: the paper's N(0, 0.001) and He init for training from scratch."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from vipnas.config import load_config
from vipnas.engine.build import build_model
from vipnas.models.pose import init_weights
from vipnas.models.registry import create_model


def _convolutions(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [
        (name, m)
        for name, m in model.named_modules()
        if hasattr(m, "weight") and m.weight is not None and m.weight.dim() == 4
    ]


@pytest.mark.parametrize("name", ["s_vipnas_mbv3", "mobilenetv3_tiny_supernet"])
def test_kaiming_uses_fan_out_gain_and_keeps_the_heatmap_layer_small(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, input_size=(64, 64))
    assert all(float(m.weight.detach().std()) < 0.0013 for _, m in _convolutions(model))  # constructors: N(0, 0.001)
    init_weights(model, "kaiming")
    convolutions = _convolutions(model)
    final = [m for n, m in convolutions if n.endswith("final_layer")]
    assert len(final) == 1 and abs(float(final[0].weight.detach().std()) - 0.001) < 3e-4
    checked = 0
    for layer_name, module in convolutions:
        weight = module.weight
        if layer_name.endswith("final_layer") or weight.numel() < 2000:
            continue
        fan_out = weight.shape[0] * weight.shape[2] * weight.shape[3]
        expected = math.sqrt(2.0 / fan_out)
        assert abs(float(weight.detach().std()) / expected - 1) < 0.15, layer_name
        checked += 1
    assert checked >= 5
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d) or type(module).__name__ == "ElasticBatchNorm2d":
            assert torch.all(module.weight == 1) and torch.all(module.bias == 0)


def test_unknown_scheme_is_a_named_error() -> None:
    with pytest.raises(ValueError, match=r"'normal', 'kaiming'.*'xavier'"):
        init_weights(nn.Conv2d(3, 3, 1), "xavier")
    with pytest.raises(ValueError, match=r"model\.init"):
        load_config("synthpose_mbv3_supernet", ["model.init='xavier'"])


def test_config_selects_the_scheme_and_presets_choose_by_purpose() -> None:
    assert load_config("synthpose_mbv3_supernet").model.init == "kaiming"  # from scratch, in minutes
    assert load_config("synthpose_s_vipnas_mbv3").model.init == "kaiming"
    assert load_config("resnet50_supernet_coco").model.init == "normal"  # the paper's recipe
    torch.manual_seed(0)
    config = load_config("synthpose_s_vipnas_mbv3", ["model.input_size=(64, 64)"])
    model = build_model(config)
    stem = next(m for n, m in _convolutions(model) if not n.endswith("final_layer"))
    assert float(stem.weight.detach().std()) > 0.05
    paper = build_model(load_config("synthpose_s_vipnas_mbv3", ["model.input_size=(64, 64)", "model.init='normal'"]))
    assert float(next(m for _, m in _convolutions(paper)).weight.detach().std()) < 0.0013
