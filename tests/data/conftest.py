"""Shared fixtures of the data tests: one small SynthPose dataset per session."""

import pytest

from vipnas.data import synthpose


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory):
    """A small SynthPose dataset: 10 images (8 train, 2 val), 2 videos of 8 frames (1 train, 1 val)."""
    root = tmp_path_factory.mktemp("synthpose")
    synthpose.generate(root, images=10, videos=2, frames=8, seed=3, workers=1, progress=False)
    return root
