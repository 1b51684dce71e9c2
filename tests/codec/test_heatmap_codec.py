"""Heatmap codecs: target rules, decode(encode(x)) accuracy, batched decoding, numpy-only import."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from vipnas.codec import (
    MSRAHeatmap,
    UDPHeatmap,
    gaussian_kernel_1d,
    get_heatmap_maximum,
    modulate_heatmaps,
    refine_quarter_offset,
)

INPUT, HEATMAP = (192, 256), (48, 64)


def _random_keypoints(count: int, margin: float, seed: int = 0) -> np.ndarray:
    """Input-pixel keypoints whose heatmap position stays ``margin`` heatmap px inside the map."""
    rng = np.random.default_rng(seed)
    low = np.array([margin, margin]) * 4
    high = (np.array(HEATMAP) - 1 - margin) * 4
    return rng.uniform(low, high, size=(count, 2))


def test_msra_target_is_13x13_patch_at_rounded_centre() -> None:
    codec = MSRAHeatmap(INPUT, HEATMAP, sigma=2.0)
    heatmaps, weights = codec.encode(np.array([[4 * 20.4, 4 * 30.6]]), np.array([1.0]))
    assert heatmaps.shape == (1, 64, 48) and heatmaps.dtype == np.float32
    assert weights.tolist() == [1.0]
    assert np.unravel_index(heatmaps[0].argmax(), (64, 48)) == (31, 20)
    assert heatmaps[0, 31, 20] == pytest.approx(1.0)
    rows, cols = np.nonzero(heatmaps[0])
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (25, 37, 14, 26)
    assert heatmaps[0, 31, 26] == pytest.approx(np.exp(-36 / 8), rel=1e-5)


def test_msra_weights_zero_only_when_invisible_or_wholly_outside() -> None:
    codec = MSRAHeatmap(INPUT, HEATMAP)
    # heatmap x: inside; invisible; -6 (window reaches column 0); -7 (window ends at -1); 53 (window starts at 47)
    keypoints = np.array([[40.0, 40.0], [40.0, 40.0], [-24.0, 40.0], [-28.0, 40.0], [4 * 53.0, 40.0]])
    heatmaps, weights = codec.encode(keypoints, np.array([1.0, 0.0, 1.0, 1.0, 1.0]))
    assert weights.tolist() == [1.0, 0.0, 1.0, 0.0, 1.0]
    assert heatmaps[1].max() == 0 and heatmaps[3].max() == 0
    assert heatmaps[2, 10, 0] == pytest.approx(np.exp(-36 / 8), rel=1e-5)
    assert heatmaps[4, 10, 47] == pytest.approx(np.exp(-36 / 8), rel=1e-5)


def test_unbiased_target_is_centred_at_subpixel_position() -> None:
    codec = MSRAHeatmap(INPUT, HEATMAP, unbiased=True)
    centre = np.array([20.3, 30.7])
    heatmaps, weights = codec.encode(centre[None] * 4, np.ones(1))
    ys, xs = np.mgrid[:64, :48]
    expected = np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / 8)
    np.testing.assert_allclose(heatmaps[0], expected, atol=1e-6)
    assert weights[0] == 1.0


def test_msra_decode_of_msra_targets_within_half_pixel() -> None:
    codec = MSRAHeatmap(INPUT, HEATMAP)
    keypoints = _random_keypoints(400, margin=0.0)
    heatmaps, _ = codec.encode(keypoints, np.ones(len(keypoints)))
    decoded, scores = codec.decode(heatmaps)
    error = np.abs(decoded - keypoints) / 4  # heatmap px
    assert error.max() <= 0.5 + 1e-5
    assert error.mean() > 0.1  # the integer-rounded centre is not exact: the bound is tight, not vacuous
    np.testing.assert_allclose(scores, 1.0)


@pytest.mark.parametrize("codec", [MSRAHeatmap(INPUT, HEATMAP, unbiased=True), UDPHeatmap(INPUT, HEATMAP)])
def test_dark_decode_of_unbiased_targets_is_subpixel(codec: MSRAHeatmap | UDPHeatmap) -> None:
    keypoints = _random_keypoints(400, margin=2.5, seed=1)
    heatmaps, _ = codec.encode(keypoints, np.ones(len(keypoints)))
    decoded, _ = codec.decode(heatmaps)
    error = np.linalg.norm((decoded - keypoints) / codec.scale_factor, axis=1)  # heatmap px
    assert error.mean() < 0.1
    plain, _ = MSRAHeatmap(INPUT, HEATMAP).decode(heatmaps)
    assert np.linalg.norm((plain - keypoints) / codec.scale_factor, axis=1).mean() > 2 * error.mean()


def test_quarter_offset_moves_towards_higher_neighbour_and_respects_borders() -> None:
    heatmaps = np.zeros((3, 5, 6), np.float32)
    heatmaps[0, 2, 3], heatmaps[0, 2, 4], heatmaps[0, 1, 3] = 1.0, 0.5, 0.2  # right and up
    heatmaps[1, 0, 1], heatmaps[1, 0, 0] = 1.0, 0.3  # column 1 and row 0: both neighbours in x exist
    heatmaps[2, 4, 5], heatmaps[2, 4, 4] = 1.0, 0.9  # last column: no right neighbour, no shift
    locations, _ = get_heatmap_maximum(heatmaps)
    refined = refine_quarter_offset(locations, heatmaps)
    np.testing.assert_allclose(refined, [[3.25, 1.75], [0.75, 0.0], [5.0, 4.0]])


def test_no_response_is_marked() -> None:
    locations, scores = get_heatmap_maximum(np.full((2, 4, 4), -1.0))
    assert (locations == -1).all() and (scores == -1).all()


def test_batched_decode_equals_per_sample() -> None:
    rng = np.random.default_rng(3)
    for codec in (MSRAHeatmap(INPUT, HEATMAP), MSRAHeatmap(INPUT, HEATMAP, unbiased=True), UDPHeatmap()):
        batch = np.stack([codec.encode(_random_keypoints(17, 0, seed), np.ones(17))[0] for seed in range(3)])
        batch += rng.uniform(0, 0.05, batch.shape).astype(np.float32)
        keypoints, scores = codec.decode(batch)
        assert keypoints.shape == (3, 17, 2) and scores.shape == (3, 17)
        for n in range(3):
            single = codec.decode(batch[n])
            np.testing.assert_allclose(keypoints[n], single[0], atol=1e-5)
            np.testing.assert_allclose(scores[n], single[1])


def test_modulation_equals_opencv_gaussian_blur() -> None:
    """MMPose's gaussian_blur: zero-pad by the radius, cv2.GaussianBlur(k, sigma=0), crop, rescale to the old max."""
    np.testing.assert_allclose(gaussian_kernel_1d(11), cv2.getGaussianKernel(11, 0).ravel(), atol=1e-12)
    rng = np.random.default_rng(0)
    heatmaps = rng.uniform(0, 1, (4, 16, 12)).astype(np.float32)
    ours = modulate_heatmaps(heatmaps, 11)
    for k in range(4):
        padded = np.pad(heatmaps[k], 5)
        blurred = cv2.GaussianBlur(padded, (11, 11), 0)[5:-5, 5:-5]
        blurred *= heatmaps[k].max() / blurred.max()
        np.testing.assert_allclose(ours[k], blurred, rtol=1e-5)


def test_bad_inputs_are_named_errors() -> None:
    codec = MSRAHeatmap()
    with pytest.raises(ValueError, match=r"\(K, 2\)"):
        codec.encode(np.zeros((17, 3)), np.ones(17))
    with pytest.raises(ValueError, match="visible"):
        codec.encode(np.zeros((17, 2)), np.ones(16))
    with pytest.raises(ValueError, match="heatmaps"):
        codec.decode(np.zeros((64, 48)))
    with pytest.raises(ValueError, match="input_size"):
        MSRAHeatmap(input_size=(192,))  # type: ignore[arg-type]


def test_codec_imports_without_torch() -> None:
    code = "import sys, vipnas.codec; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
