"""Flip test: heatmaps are mirrored, left/right channels swapped, shifted; a symmetric input gives symmetric output."""

from __future__ import annotations

import numpy as np
import torch

from vipnas.data.metadata import COCO
from vipnas.evaluation import flip_heatmaps, flip_test

FLIP_INDEX = COCO.flip_index()
NOSE, LEFT_SHOULDER, RIGHT_SHOULDER = 0, 5, 6


def test_flip_heatmaps_mirrors_swaps_and_shifts() -> None:
    heatmaps = np.zeros((1, 17, 8, 10), np.float32)
    heatmaps[0, LEFT_SHOULDER, 3, 2] = 1.0
    heatmaps[0, NOSE, 1, 4] = 1.0
    plain = flip_heatmaps(heatmaps, FLIP_INDEX, shift=False)
    assert plain[0, RIGHT_SHOULDER, 3, 7] == 1.0 and plain[0, LEFT_SHOULDER].max() == 0  # column 10 - 1 - 2
    assert plain[0, NOSE, 1, 5] == 1.0
    shifted = flip_heatmaps(heatmaps, FLIP_INDEX, shift=True)
    assert shifted[0, RIGHT_SHOULDER, 3, 8] == 1.0 and shifted[0, NOSE, 1, 6] == 1.0
    as_tensor = flip_heatmaps(torch.from_numpy(heatmaps), FLIP_INDEX, shift=True)
    np.testing.assert_array_equal(as_tensor.numpy(), shifted)
    assert heatmaps[0, LEFT_SHOULDER, 3, 2] == 1.0  # the input is not modified


def _network() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, stride=2, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 17, 5, stride=2, padding=2),
    ).eval()


def test_flip_test_of_symmetric_input_is_symmetric() -> None:
    model = _network()
    image = torch.randn(2, 3, 32, 24)
    symmetric = (image + image.flip(-1)) / 2
    with torch.no_grad():
        raw = model(symmetric)
        averaged = flip_test(model, symmetric, FLIP_INDEX, shift_heatmap=False)
    # the network alone is not mirror-equivariant, so this holds because of the flip test, not by accident
    assert not torch.allclose(flip_heatmaps(raw, FLIP_INDEX, shift=False), raw, atol=1e-3)
    torch.testing.assert_close(flip_heatmaps(averaged, FLIP_INDEX, shift=False), averaged)
    assert averaged.shape == (2, 17, 8, 6)


# COCO's left/right partners written out by hand (eyes, ears, shoulders, elbows, wrists, hips, knees, ankles), not
# taken from vipnas's metadata: the expectation below must not be built with the code under test.
_COCO_PAIRS = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))


def _mirror_by_hand(heatmaps: torch.Tensor) -> torch.Tensor:
    """Mirror columns, swap each left/right pair, shift one column right (MMPose's ``shift_heatmap``)."""
    mirrored = heatmaps.flip(-1).clone()
    for left, right in _COCO_PAIRS:
        mirrored[:, [left, right]] = mirrored[:, [right, left]]
    shifted = torch.zeros_like(mirrored)
    shifted[..., 1:] = mirrored[..., :-1]
    shifted[..., 0] = mirrored[..., 0]  # the first column keeps its own value, as MMPose's in-place shift does
    return shifted


def test_flip_test_averages_with_the_mirrored_pass() -> None:
    model = _network()
    image = torch.randn(1, 3, 32, 24)
    with torch.no_grad():
        plain, mirrored = model(image), model(image.flip(-1))
        expected = (plain + _mirror_by_hand(mirrored)) / 2
        got = flip_test(model, image, FLIP_INDEX)
    assert (expected - plain).abs().max() > 1e-3  # the mirrored pass changes the result: not an average of twins
    torch.testing.assert_close(got, expected)
