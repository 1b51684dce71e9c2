"""The mean-pose floor: the average of labelled joints (checked against a direct numpy average), turned into
heatmaps that decode back to it, for any input."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from vipnas.codec import build_codec
from vipnas.evaluation.floor import MeanPoseNetwork, mean_pose


def test_mean_pose_averages_only_labelled_joints():
    rng = np.random.default_rng(0)
    keypoints = rng.uniform(0, 96, (40, 17, 2)).astype(np.float32)
    visible = (rng.random((40, 17)) < 0.7).astype(np.float32)
    visible[0] = 1  # every joint labelled at least once
    batches = [SimpleNamespace(keypoints=keypoints[i : i + 8], visible=visible[i : i + 8]) for i in range(0, 40, 8)]
    mean, labelled = mean_pose(batches)
    for joint in range(17):
        rows = visible[:, joint] > 0
        np.testing.assert_allclose(mean[joint], keypoints[rows, joint].mean(axis=0), rtol=1e-5)
        assert labelled[joint] == pytest.approx(rows.mean())


def test_mean_pose_names_joints_that_are_never_labelled():
    sample = SimpleNamespace(keypoints=np.zeros((17, 2), np.float32), visible=np.ones(17, np.float32))
    sample.visible[3] = 0
    with pytest.raises(ValueError, match=r"joints \[3\] are never labelled"):
        mean_pose([sample])
    with pytest.raises(ValueError, match="no crops"):
        mean_pose([])


def test_mean_pose_network_decodes_to_the_mean_pose_whatever_the_input():
    codec = build_codec("dark", input_size=(96, 128), heatmap_size=(24, 32), sigma=2.0)
    pose = np.random.default_rng(1).uniform([16, 16], [80, 112], (17, 2)).astype(np.float32)
    network = MeanPoseNetwork(pose, codec)
    first = network(torch.randn(3, 3, 128, 96))
    second = network(torch.zeros(1, 3, 128, 96))
    assert first.shape == (3, 17, 32, 24) and torch.equal(first[0], second[0]) and torch.equal(first[0], first[2])
    decoded, _ = codec.decode(first.numpy())
    assert np.abs(decoded - pose).max() < 0.25  # DARK recovers the sub-pixel mean pose (4 px per heatmap pixel)
