"""The sample a dataset yields and the batch a loader yields; :func:`collate` turns the first into the second.

A clip sample (for the temporal model) has the same fields with a leading time axis of length T+1 on every
per-frame field, and its batch a (N, T+1, ...) layout.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch

__all__ = ["Batch", "Sample", "collate"]


@dataclass
class Sample:
    """One cropped person (or one clip of T+1 crops of one track).

    Shapes are for a single image; a clip prefixes a T+1 axis to every field except ``track_id``.

    Attributes:
        image: (3, H, W) float32 RGB, (pixel - mean) / std with ImageNet statistics on the 0-255 scale.
        heatmaps: (K, h, w) float32 target from the codec; (K, 0, 0) when the dataset has no codec.
        target_weight: (K,) float32 per-joint loss weight from the codec (0 for unlabelled or off-map joints).
        keypoints: (K, 2) float32 joints in network-input pixels, after flip (joints re-ordered) and affine.
        visible: (K,) float32 labelled flag per joint in the same order.
        inverse_affine: (2, 3) float64 map from network-input pixels to original-image pixels (flip included).
        center: (2,) float64 crop centre in original-image pixels (after a flip: in the mirrored image).
        scale: (2,) float64 crop (width, height) in original-image pixels.
        rotation: crop rotation in degrees.
        flip: whether the crop is mirrored.
        box_score: detector score of the box (1 for ground truth).
        area: instance area in pixels² (COCO ``area``), the OKS scale.
        image_id: the dataset's image id (PoseTrack18 11-digit ids kept).
        annotation_id: the annotation id (detector boxes: index in the results file).
        track_id: the track (PoseTrack18), -1 for images.
        image_path: path of the original image.
        image_size: (2,) int64 original image (width, height).
    """

    image: torch.Tensor
    heatmaps: torch.Tensor
    target_weight: torch.Tensor
    keypoints: np.ndarray
    visible: np.ndarray
    inverse_affine: np.ndarray
    center: np.ndarray
    scale: np.ndarray
    rotation: float | np.ndarray
    flip: bool | np.ndarray
    box_score: float | np.ndarray
    area: float | np.ndarray
    image_id: int | np.ndarray
    annotation_id: int | np.ndarray
    track_id: int
    image_path: str | list[str]
    image_size: np.ndarray


@dataclass
class Batch:
    """N collated samples: tensors for the network and loss, numpy arrays for decoding and evaluation.

    Attributes:
        image: (N, 3, H, W) float32 tensor (clips: (N, T+1, 3, H, W)).
        heatmaps: (N, K, h, w) float32 tensor.
        target_weight: (N, K) float32 tensor.
        keypoints: (N, K, 2) float32 input-pixel joints.
        visible: (N, K) float32.
        inverse_affine: (N, 2, 3) float64.
        center, scale: (N, 2) float64.
        rotation: (N,) float64.
        flip: (N,) bool.
        box_score, area: (N,) float64.
        image_id, annotation_id, track_id: (N,) int64.
        image_path: N paths (clips: N lists of T+1).
        image_size: (N, 2) int64.
    """

    image: torch.Tensor
    heatmaps: torch.Tensor
    target_weight: torch.Tensor
    keypoints: np.ndarray
    visible: np.ndarray
    inverse_affine: np.ndarray
    center: np.ndarray
    scale: np.ndarray
    rotation: np.ndarray
    flip: np.ndarray
    box_score: np.ndarray
    area: np.ndarray
    image_id: np.ndarray
    annotation_id: np.ndarray
    track_id: np.ndarray
    image_path: list[Any]
    image_size: np.ndarray

    def __len__(self) -> int:
        return len(self.image)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """Move the three tensors to ``device``; meta stays in numpy."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("image", "heatmaps", "target_weight"):
            values[name] = values[name].to(device, non_blocking=non_blocking)
        return Batch(**values)

    def pin_memory(self) -> Batch:
        """Called by ``DataLoader(pin_memory=True)``."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("image", "heatmaps", "target_weight"):
            values[name] = values[name].pin_memory()
        return Batch(**values)


_DTYPES = {
    "rotation": np.float64,
    "flip": np.bool_,
    "box_score": np.float64,
    "area": np.float64,
    "image_id": np.int64,
    "annotation_id": np.int64,
    "track_id": np.int64,
    "image_size": np.int64,
}


def collate(samples: list[Sample]) -> Batch:
    """Stack samples into a :class:`Batch` (the ``collate_fn`` of :func:`vipnas.data.build_loader`)."""
    if not samples:
        raise ValueError("cannot collate an empty list of samples")
    values: dict[str, Any] = {}
    for field in fields(Sample):
        items = [getattr(sample, field.name) for sample in samples]
        if field.name in ("image", "heatmaps", "target_weight"):
            # numpy's single-threaded copy: torch.stack's intra-op threads stall when the cores are busy.
            values[field.name] = torch.from_numpy(np.stack([item.numpy() for item in items]))
        elif field.name == "image_path":
            values[field.name] = items
        else:
            values[field.name] = np.stack([np.asarray(item, dtype=_DTYPES.get(field.name)) for item in items])
    return Batch(**values)
