"""Backbones with a fusion point: ``feature_info`` (F1..F4: stage, channels, stride) on static and elastic
backbones, measured against what the forward produces; a module applied after a chosen stage keeps supernet ==
extracted subnet; the plain forward (ONNX export, MMPose equality) is untouched."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from vipnas.models.export import export_onnx
from vipnas.models.pose import build_static
from vipnas.models.supernet import PoseSupernet
from vipnas.space import MOBILENETV3_SPACE, MOBILENETV3_TINY_SPACE, RESNET50_SPACE, feature_info

INPUT = (64, 64)


@pytest.fixture(scope="module", params=[RESNET50_SPACE, MOBILENETV3_SPACE], ids=lambda s: s.name)
def supernet(request, randomized) -> PoseSupernet:
    return randomized(PoseSupernet(request.param, input_size=INPUT), seed=5).eval()


def _archs(space, seed: int = 2):
    rng = random.Random(seed)
    return [space.largest(), space.smallest(), space.sample(rng), space.sample(rng)]


def test_feature_info_is_what_the_forward_produces(supernet: PoseSupernet) -> None:
    x = torch.zeros(1, 3, *INPUT)
    expected_stages = (0, 1, 2, 3) if supernet.space.family == "resnet" else (1, 2, 4, 5)
    for arch in _archs(supernet.space):
        static = build_static(arch, input_size=INPUT).eval()
        with supernet.using(arch), torch.no_grad():
            elastic_features, elastic_info = supernet.forward_features(x), supernet.feature_info
            static_features = static.forward_features(x)
        for info_list, features in ((static.backbone.feature_info, static_features), (elastic_info, elastic_features)):
            assert [info.name for info in info_list] == ["F1", "F2", "F3", "F4"]
            assert tuple(info.stage for info in info_list) == expected_stages == static.feature_stages
            for info in info_list:
                measured = features[info.stage]
                assert info.channels == measured.shape[1]
                assert (INPUT[0] // measured.shape[2], INPUT[1] // measured.shape[3]) == (info.stride, info.stride)
            assert [info.stride for info in info_list] == [4, 8, 16, 32]
        assert elastic_info == static.feature_info == feature_info(arch)


def test_mobilenetv3_f3_is_the_later_of_the_two_stride_16_stages() -> None:
    arch = MOBILENETV3_TINY_SPACE.largest()
    net = build_static(arch, input_size=INPUT).eval()
    with torch.no_grad():
        strides = [INPUT[0] // f.shape[2] for f in net.forward_features(torch.zeros(1, 3, *INPUT))]
    assert strides == [2, 4, 8, 16, 16, 32] and net.feature_info[2].stage == 4


class _Fusion(nn.Module):
    """Stands in for the temporal fusion module: a fixed 1x1 convolution added to the features."""

    def __init__(self, channels: int, seed: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=generator) * 0.5)
            self.conv.bias.copy_(torch.randn(channels, generator=generator))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x)


def test_a_module_after_a_stage_keeps_supernet_equal_to_the_extracted_subnet(supernet: PoseSupernet) -> None:
    x = torch.randn(2, 3, *INPUT, generator=torch.Generator().manual_seed(0))
    for arch in _archs(supernet.space, seed=7)[1:]:  # the largest is slow and adds nothing here
        subnet = supernet.extract_subnet(arch).eval()
        for info in subnet.feature_info:
            fusion = _Fusion(info.channels, seed=info.stage).eval()
            with torch.no_grad(), supernet.using(arch):
                fused = supernet(x, after={info.stage: fusion})
                features = supernet.forward_features(x, after={info.stage: fusion})
                plain_features = supernet.forward_features(x)
                got = subnet(x, after={info.stage: fusion})
                got_features = subnet.forward_features(x, after={info.stage: fusion})
            change = (features[info.stage] - plain_features[info.stage]).abs().max()
            assert change > 0.1 * plain_features[info.stage].abs().max()  # the module did change the features
            torch.testing.assert_close(got, fused, rtol=1e-4, atol=1e-4 * float(fused.abs().max()))
            for mine, theirs in zip(got_features, features, strict=True):  # every stage, the fused one included
                torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-4 * float(theirs.abs().max()))
            for index in range(info.stage):  # stages before the fusion point run as without it
                torch.testing.assert_close(features[index], plain_features[index])
            torch.testing.assert_close(features[info.stage], fusion(plain_features[info.stage]))


def test_an_unknown_stage_is_a_named_error(supernet: PoseSupernet) -> None:
    with pytest.raises(ValueError, match=r"stage\(s\) \[9\] do not exist"):
        supernet(torch.zeros(1, 3, *INPUT), after={9: nn.Identity()})


def test_onnx_export_of_the_plain_forward_is_unchanged(tmp_path, randomized) -> None:
    import numpy as np
    import onnxruntime

    model = randomized(build_static(MOBILENETV3_TINY_SPACE.sample(random.Random(3)), input_size=INPUT)).eval()
    path = tmp_path / "model.onnx"
    export_onnx(model, path)
    x = torch.randn(1, 3, *INPUT, generator=torch.Generator().manual_seed(4))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        expected = model(x).numpy()
    assert np.abs(expected).max() > 0
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4 * float(np.abs(expected).max()))
