"""Temporal ViPNAS, networks: TemporalArch as data, the space below the key arch, the fusion module against plain
torch, the T-ViPNet supernet against its extracted static T-ViPNets, the S-ViPNet start, complexity."""

from __future__ import annotations

import itertools
import random

import pytest
import torch
import torch.nn.functional as F

from vipnas.elastic.fusion import ElasticFusion
from vipnas.models.complexity import Complexity, arch_complexity, frame_complexity, temporal_complexity
from vipnas.models.pose import build_static
from vipnas.models.temporal_supernet import TemporalSupernet
from vipnas.nn.fusion import Fusion
from vipnas.space import (
    MOBILENETV3_SPACE,
    MOBILENETV3_TINY_SPACE,
    RESNET50_SPACE,
    S_VIPNAS_MBV3_ARCH,
    S_VIPNAS_RES50_ARCH,
    InvalidArchError,
)
from vipnas.space.temporal import FUSION_OPS, FUSION_POINTS, FrameChoice, TemporalArch, TemporalSpace

INPUT = (64, 64)


# --------------------------------------------------------------------------------------------- the space
@pytest.mark.parametrize(
    ("space", "key"),
    [(RESNET50_SPACE, S_VIPNAS_RES50_ARCH), (MOBILENETV3_SPACE, S_VIPNAS_MBV3_ARCH)],
    ids=["res", "mbv3"],
)
def test_frames_live_below_the_key_arch(space, key) -> None:
    temporal = TemporalSpace(space, key, length=3)
    assert temporal.frame_space.largest() == key  # the key arch is the largest frame arch: its weights cover all
    rng = random.Random(0)
    for _ in range(50):
        arch = temporal.sample(rng)
        assert temporal.contains(arch) and arch.length == 3
        for frame in arch.frames:
            assert space.contains(frame.arch)
            for mine, theirs in zip(frame.arch.stages, key.stages, strict=True):
                assert mine.depth <= theirs.depth and mine.width <= theirs.width
                assert mine.kernel_size <= theirs.kernel_size and mine.attention <= theirs.attention
                middle = space.spec.middle_channels
                assert middle(mine) // mine.groups <= middle(theirs) // theirs.groups
            assert frame.fusion in FUSION_POINTS and frame.op in FUSION_OPS


def test_temporal_arch_round_trips_and_names_bad_fields() -> None:
    temporal = TemporalSpace(MOBILENETV3_TINY_SPACE, MOBILENETV3_TINY_SPACE.largest(), length=2)
    arch = temporal.sample(random.Random(1))
    assert TemporalArch.from_json(arch.to_json()) == arch and hash(TemporalArch.from_json(arch.to_json())) == hash(arch)
    data = arch.to_dict()
    data["frames"][1]["fusion"] = 5
    with pytest.raises(ValueError, match=r"frames\[1\]\.fusion: 5 is not a fusion point"):
        TemporalArch.from_dict(data)
    data["frames"][1].update(fusion=2, op="sum")
    with pytest.raises(ValueError, match=r"frames\[1\]\.op: 'sum' is not a fusion op"):
        TemporalArch.from_dict(data)
    with pytest.raises(ValueError, match="non-empty list"):
        TemporalArch.from_dict({"key": data["key"], "frames": []})


def test_validation_names_the_frame_and_the_bound() -> None:
    space = MOBILENETV3_TINY_SPACE
    key = space.smallest()  # a small key: wider frames exist in the spatial space but not below the key
    temporal = TemporalSpace(space, key, length=2)
    wide = FrameChoice(space.largest(), 1, "add")
    arch = TemporalArch(key, (FrameChoice(key, 2, "cat"), wide))
    with pytest.raises(InvalidArchError, match=r"frame 2: .*at most the key arch"):
        temporal.validate(arch)
    with pytest.raises(InvalidArchError, match="T=2"):
        temporal.validate(TemporalArch(key, (FrameChoice(key, 2, "cat"),)))
    with pytest.raises(InvalidArchError, match="key arch"):
        temporal.validate(TemporalArch(space.largest(), (FrameChoice(key, 2, "cat"),) * 2))


def test_sampling_mutation_and_crossover_are_valid_and_seeded() -> None:
    temporal = TemporalSpace(MOBILENETV3_TINY_SPACE, MOBILENETV3_TINY_SPACE.largest(), length=3)
    first = [temporal.sample(random.Random(4)) for _ in range(2)]
    assert first[0] == first[1]
    rng = random.Random(5)
    parents = [temporal.sample(rng) for _ in range(6)]
    children = [temporal.mutate(p, rng, 0.5) for p in parents] + [
        temporal.crossover(a, b, rng) for a, b in itertools.pairwise(parents)
    ]
    assert all(temporal.contains(child) for child in children)
    assert sum(child not in parents for child in children) >= 8
    crossed = temporal.crossover(parents[0], parents[1], random.Random(0))
    assert all(f in (a, b) for f, a, b in zip(crossed.frames, parents[0].frames, parents[1].frames, strict=True))


# ------------------------------------------------------------------------------------------- the module
@pytest.mark.parametrize("op", FUSION_OPS)
def test_fusion_at_the_largest_width_is_the_plain_torch_computation(op) -> None:
    generator = torch.Generator().manual_seed(0)
    elastic = ElasticFusion(17, 24, op)
    with torch.no_grad():
        for parameter in elastic.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    features, heatmaps = torch.randn(2, 24, 8, 6, generator=generator), torch.rand(2, 17, 32, 24, generator=generator)
    # by hand: bilinear resize, 1x1 convolutions as matrix products, the op, the residual
    resized = F.interpolate(heatmaps, size=(8, 6), mode="bilinear", align_corners=False)
    embedded = (
        torch.einsum("ck,nkhw->nchw", elastic.embed_weight[:, :, 0, 0], resized) + elastic.embed_bias[:, None, None]
    )
    joined = {"add": features + embedded, "mul": features * embedded, "cat": torch.cat([features, embedded], 1)}[op]
    projected = torch.einsum("oc,nchw->nohw", elastic.project_weight[:, :, 0, 0], joined)
    expected = features + projected + elastic.project_bias[:, None, None]
    with torch.no_grad():
        torch.testing.assert_close(elastic(features, heatmaps), expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(elastic.to_static()(features, heatmaps), expected, rtol=1e-5, atol=1e-5)


def test_cat_fusion_at_a_smaller_width_slices_both_halves() -> None:
    elastic = ElasticFusion(17, 24, "cat")
    with torch.no_grad():
        elastic.project_weight.copy_(
            torch.arange(elastic.project_weight.numel(), dtype=torch.float32).reshape(24, 48, 1, 1)
        )
    elastic.activate(10)
    weight = elastic.to_static().project.weight[:, :, 0, 0]
    full = elastic.project_weight[:, :, 0, 0]
    assert torch.equal(weight[:, :10], full[:10, :10]) and torch.equal(weight[:, 10:], full[:10, 24:34])
    assert not torch.equal(weight, full[:10, :20])  # "the first 2C inputs" would pair heatmaps with feature weights


def test_a_fresh_fusion_passes_its_features_through() -> None:
    features = torch.randn(1, 8, 4, 4)
    for op in FUSION_OPS:
        static = Fusion(17, 8, op)
        static.reset_projection()
        assert torch.equal(static(features, torch.rand(1, 17, 16, 16)), features)
        assert torch.equal(ElasticFusion(17, 8, op)(features, torch.rand(1, 17, 16, 16)), features)


# ------------------------------------------------------------------------------------------- the supernet
@pytest.fixture(scope="module")
def key_network(randomized):
    return randomized(build_static(MOBILENETV3_TINY_SPACE.largest(), input_size=INPUT), seed=2).eval()


@pytest.fixture(scope="module")
def trained_supernet(key_network, randomized):
    """A T-supernet whose every weight (fusions included) is random: as after training, nothing is zero."""
    temporal = TemporalSpace(MOBILENETV3_TINY_SPACE, key_network.arch, length=3)
    return randomized(TemporalSupernet.from_key_network(key_network, temporal), seed=3).eval()


def test_supernet_starts_as_the_s_vipnet(key_network) -> None:
    temporal = TemporalSpace(MOBILENETV3_TINY_SPACE, key_network.arch, length=3)
    supernet = TemporalSupernet.from_key_network(key_network, temporal).eval()
    x, heatmaps = torch.randn(2, 3, *INPUT), torch.rand(2, 17, 16, 16)
    with torch.no_grad():
        expected = key_network(x)
        assert expected.abs().max() > 1e-3
        for point in FUSION_POINTS:
            for op in FUSION_OPS:
                supernet.activate(FrameChoice(key_network.arch, point, op))
                torch.testing.assert_close(supernet(x, heatmaps), expected)
        small = FrameChoice(temporal.frame_space.smallest(), 3, "cat")
        supernet.activate(small)
        spatial = supernet.network.extract_subnet(small.arch).eval()
        torch.testing.assert_close(supernet(x, heatmaps), spatial(x))
    assert supernet.metadata.input_size == key_network.metadata.input_size


def test_supernet_equals_extracted_t_vipnets_for_random_temporal_archs(trained_supernet) -> None:
    temporal = trained_supernet.space
    rng = random.Random(11)
    x = torch.randn(2, 3, *INPUT, generator=torch.Generator().manual_seed(0))
    heatmaps = torch.rand(2, 17, 16, 16, generator=torch.Generator().manual_seed(1))
    checked = 0
    for _ in range(20):
        arch = temporal.sample(rng)
        for frame in arch.frames:
            with torch.no_grad(), trained_supernet.using(frame):
                expected = trained_supernet(x, heatmaps)
                features = trained_supernet.forward_features(x, heatmaps)
                plain = trained_supernet.network.forward_features(x)
            static = trained_supernet.extract(frame).eval()
            with torch.no_grad():
                got, got_features = static(x, heatmaps), static.forward_features(x, heatmaps)
            stage = static.stage
            change = (features[stage] - plain[stage]).abs().max()
            assert change > 0.05 * plain[stage].abs().max()  # the heatmaps did enter the network there
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))
            for mine, theirs in zip(got_features, features, strict=True):
                torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-4 * float(theirs.abs().max()))
            assert static.frame == frame and static.stage == static.network.feature_info[frame.fusion - 1].stage
            checked += 1
    assert checked == 60


def test_complexity_sums_frames_and_counts_the_fusion_module(trained_supernet) -> None:
    temporal = trained_supernet.space
    arch = temporal.sample(random.Random(7))
    per_frame = temporal_complexity(arch, input_size=INPUT)
    assert per_frame[0] == arch_complexity(arch.key, input_size=INPUT) and len(per_frame) == 4
    for frame, counted in zip(arch.frames, per_frame[1:], strict=True):
        static = trained_supernet.extract(frame)
        spatial = arch_complexity(frame.arch, input_size=INPUT)
        fusion = counted.params - spatial.params, counted.macs - spatial.macs
        assert fusion[0] == sum(p.numel() for p in static.fusion.parameters())  # parameters by counting tensors
        info = static.network.feature_info[frame.fusion - 1]
        h, w = INPUT[0] // info.stride, INPUT[1] // info.stride
        inputs = 2 * info.channels if frame.op == "cat" else info.channels
        assert fusion[1] == (17 * info.channels + inputs * info.channels) * h * w  # two 1x1 convs at the stage size
        assert counted == frame_complexity(frame, input_size=INPUT) and isinstance(counted, Complexity)


def test_t_vipnet_exports_to_onnx_with_two_inputs_and_round_trips_as_a_checkpoint(trained_supernet, tmp_path) -> None:
    import numpy as np
    import onnxruntime

    import vipnas
    from vipnas.models.export import export_onnx, read_onnx_metadata

    frame = trained_supernet.space.sample_frame(random.Random(9))
    static = trained_supernet.extract(frame).eval()
    assert export_onnx(static, tmp_path / "t.onnx") < 1e-3  # checked against PyTorch in ONNX Runtime, batch 1 and 2
    session = onnxruntime.InferenceSession(str(tmp_path / "t.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image", "previous_heatmaps"]
    x, heatmaps = torch.randn(3, 3, *INPUT), torch.rand(3, 17, 16, 16)
    (got,) = session.run(None, {"image": x.numpy(), "previous_heatmaps": heatmaps.numpy()})
    with torch.no_grad():
        expected = static(x, heatmaps).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4 * float(np.abs(expected).max()))
    assert read_onnx_metadata(tmp_path / "t.onnx")["num_joints"] == 17

    vipnas.save_model(static, tmp_path / "t.pth")
    loaded = vipnas.load_model(tmp_path / "t.pth")
    assert loaded.frame == frame and loaded.stage == static.stage and not loaded.training
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, heatmaps), static(x, heatmaps))
    vipnas.save_model(trained_supernet, tmp_path / "supernet.pth")
    supernet = vipnas.load_model(tmp_path / "supernet.pth")
    assert supernet.space.key == trained_supernet.space.key and supernet.space.length == 3
    with torch.no_grad(), supernet.using(frame):
        torch.testing.assert_close(supernet(x, heatmaps), static(x, heatmaps))
