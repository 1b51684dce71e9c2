"""The mean-pose floor: the average training pose placed in every box, as a network that ignores its input.

A pose network has learned something only when it beats this: for top-down crops of upright people it already
scores a non-zero AP, because a person's box says much of where the joints are. :func:`mean_pose` averages the
labelled joints of the training crops in network-input pixels; :class:`MeanPoseNetwork` outputs that pose as the
codec's target heatmaps for every crop, so it runs through exactly the same inference, flip test, decoding and
metric as the networks it is compared with.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["MeanPoseNetwork", "mean_pose"]


def mean_pose(samples: Iterable[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Average labelled joint positions of crops.

    Args:
        samples: :class:`vipnas.data.Sample` or :class:`vipnas.data.Batch` objects (deterministic crops of the
            training split: no augmentation), with ``keypoints`` (…, K, 2) in input pixels and ``visible`` (…, K).

    Returns:
        keypoints: (K, 2) mean position of each joint over the crops where it is labelled.
        labelled: (K,) fraction of crops in which each joint is labelled.
    """
    total: np.ndarray | None = None
    count: np.ndarray | None = None
    crops = 0
    for sample in samples:
        keypoints = np.asarray(sample.keypoints, np.float64).reshape(-1, *np.shape(sample.keypoints)[-2:])
        visible = np.asarray(sample.visible, np.float64).reshape(keypoints.shape[:2]) > 0
        if total is None:
            total, count = np.zeros(keypoints.shape[1:]), np.zeros(keypoints.shape[1])
        assert count is not None
        total += (keypoints * visible[..., None]).sum(axis=0)
        count += visible.sum(axis=0)
        crops += len(keypoints)
    if total is None or count is None or crops == 0:
        raise ValueError("mean_pose: no crops given (the training split is empty)")
    if not count.all():
        missing = [int(k) for k in np.flatnonzero(count == 0)]
        raise ValueError(f"mean_pose: joints {missing} are never labelled in the {crops} training crops")
    return (total / count[:, None]).astype(np.float32), (count / crops).astype(np.float32)


class MeanPoseNetwork(nn.Module):
    """A "network" whose heatmaps are the mean pose encoded by ``codec`` whatever the input.

    Args:
        keypoints: (K, 2) mean pose in input pixels (:func:`mean_pose`).
        codec: the heatmap codec of the networks it is compared with (``encode`` keypoints → heatmaps).
    """

    def __init__(self, keypoints: np.ndarray, codec: Any) -> None:
        super().__init__()
        heatmaps, _ = codec.encode(np.asarray(keypoints, np.float32), np.ones(len(keypoints), np.float32))
        self.register_buffer("heatmaps", torch.from_numpy(np.ascontiguousarray(heatmaps, np.float32)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        heatmaps: torch.Tensor = self.heatmaps
        return heatmaps.unsqueeze(0).expand(images.shape[0], -1, -1, -1).clone()
