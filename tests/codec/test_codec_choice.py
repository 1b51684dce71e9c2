"""``build_codec``: the codec names (msra, dark, udp) → codec objects, and what the choice buys at small heatmaps."""

from __future__ import annotations

import numpy as np
import pytest

from vipnas.codec import CODECS, MSRAHeatmap, UDPHeatmap, build_codec, codec_for_model, dark_kernel_size
from vipnas.models.metadata import ModelMetadata


def test_names_map_to_codecs_and_back() -> None:
    assert CODECS == ("msra", "dark", "udp")
    sizes = {"input_size": (96, 128), "heatmap_size": (24, 32)}
    msra, dark, udp = (build_codec(name, **sizes, sigma=3.0) for name in CODECS)
    assert type(msra) is MSRAHeatmap and not msra.unbiased and msra.name == "msra"
    assert type(dark) is MSRAHeatmap and dark.unbiased and dark.name == "dark"
    assert type(udp) is UDPHeatmap and udp.name == "udp"
    assert msra.sigma == dark.sigma == udp.sigma == 3.0 and dark.blur_kernel_size == udp.blur_kernel_size == 17
    assert (dark_kernel_size(2.0), dark_kernel_size(3.0), dark_kernel_size(0.5)) == (11, 17, 3)  # MMPose's pairs
    with pytest.raises(ValueError, match=r"codec must be one of 'msra', 'dark', 'udp'; got 'DARK'"):
        build_codec("DARK", **sizes)


def test_codec_for_model_reads_sizes_and_the_recorded_codec() -> None:
    metadata = ModelMetadata(name="m", input_size=(128, 96), codec="udp", sigma=1.5)
    codec = codec_for_model(metadata)
    assert isinstance(codec, UDPHeatmap) and codec.input_size == (96, 128) and codec.heatmap_size == (24, 32)
    assert codec.sigma == 1.5
    assert codec_for_model(metadata, "dark", sigma=2.0).name == "dark"
    assert codec_for_model(ModelMetadata(name="old")).name == "msra"  # nothing recorded: the official codec


@pytest.mark.parametrize("heatmap_size", [(12, 16), (24, 32)])
def test_dark_and_udp_round_trips_beat_msra_against_the_exact_keypoints(heatmap_size) -> None:
    input_size = (heatmap_size[0] * 4, heatmap_size[1] * 4)
    rng = np.random.default_rng(0)
    errors = {}
    for name in CODECS:
        codec = build_codec(name, input_size=input_size, heatmap_size=heatmap_size)
        low = 2.5 * codec.scale_factor  # DARK refines maxima at least 2 px inside the map
        keypoints = rng.uniform(low, (np.array(heatmap_size) - 3.5) * codec.scale_factor, size=(200, 2))
        heatmaps, weights = codec.encode(keypoints, np.ones(len(keypoints)))
        assert weights.min() == 1.0
        decoded, _ = codec.decode(heatmaps)
        errors[name] = np.linalg.norm(decoded - keypoints, axis=1) / codec.scale_factor.mean()  # heatmap px
    assert 0.2 < errors["msra"].mean() < 0.5  # the rounded centre, a quarter pixel back towards the truth
    assert errors["dark"].mean() < 0.05 and errors["udp"].mean() < 0.05
