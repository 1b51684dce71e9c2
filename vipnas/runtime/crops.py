"""Numpy pre- and post-processing of the runtime, shared by every backend: people's boxes to network crops, and
heatmaps back to keypoints in image pixels.

The crop is the one training and evaluation use (:mod:`vipnas.data.transforms`): the box widened to the network's
aspect ratio, times ``padding``, warped to the input size (the UDP affine for the ``udp`` codec), RGB, normalised
with the network's mean and std.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vipnas.data.transforms import (
    box_xywh_to_center_scale,
    get_affine_matrix,
    get_udp_affine_matrix,
    invert_affine,
    transform_points,
    warp_image,
)

__all__ = ["CropSettings", "Crops", "crop_people", "keypoints_to_image"]


@dataclass(frozen=True)
class CropSettings:
    """How a network wants its crops: ``input_size`` (height, width), the box ``padding``, the ``udp`` affine, the
    RGB ``mean`` and ``std`` on the 0-255 scale."""

    input_size: tuple[int, int]
    padding: float = 1.25
    udp: bool = False
    mean: tuple[float, float, float] = (123.675, 116.28, 103.53)
    std: tuple[float, float, float] = (58.395, 57.12, 57.375)

    @classmethod
    def for_metadata(cls, metadata: object, padding: float = 1.25) -> CropSettings:
        """The settings a vipnas network's metadata records (``input_size``, ``codec``, ``mean``, ``std``)."""
        height, width = getattr(metadata, "input_size")  # noqa: B009
        return cls(
            input_size=(int(height), int(width)),
            padding=padding,
            udp=getattr(metadata, "codec", "msra") == "udp",
            mean=tuple(getattr(metadata, "mean", cls.mean)),  # type: ignore[arg-type]
            std=tuple(getattr(metadata, "std", cls.std)),  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class Crops:
    """``images`` (N, 3, H, W) float32 network inputs; ``inverse_affines`` (N, 2, 3) crop input pixels → image
    pixels (what :func:`vipnas.nn.warp.warp_heatmaps` and :func:`keypoints_to_image` take)."""

    images: np.ndarray
    inverse_affines: np.ndarray


def crop_people(image: np.ndarray, boxes: np.ndarray, settings: CropSettings, *, bgr: bool = True) -> Crops:
    """The network crops of ``boxes`` ((N, 4) xyxy image pixels) in ``image`` ((H, W, 3) uint8, BGR as OpenCV
    reads it unless ``bgr=False``).

    Raises:
        ValueError: an image that is not (H, W, 3), boxes that are not (N, 4) or not finite.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must have shape (H, W, 3), got {image.shape}")
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) if np.size(boxes) else np.zeros((0, 4))
    if not np.isfinite(boxes).all():
        raise ValueError("boxes must be finite (x1, y1, x2, y2) pixels")
    height, width = settings.input_size
    mean = np.asarray(settings.mean, np.float32).reshape(3, 1, 1)
    std = np.asarray(settings.std, np.float32).reshape(3, 1, 1)
    images = np.zeros((len(boxes), 3, height, width), np.float32)
    inverses = np.zeros((len(boxes), 2, 3), np.float64)
    xywh = np.concatenate([boxes[:, :2], np.maximum(boxes[:, 2:] - boxes[:, :2], 1.0)], axis=1)
    affine = get_udp_affine_matrix if settings.udp else get_affine_matrix
    for index, box in enumerate(xywh):
        center, scale = box_xywh_to_center_scale(box, width / height, settings.padding)
        matrix = affine(center, scale, 0.0, (width, height))
        crop = warp_image(image, matrix, (width, height))
        rgb = crop[:, :, ::-1] if bgr else crop
        images[index] = (np.ascontiguousarray(rgb.transpose(2, 0, 1)).astype(np.float32) - mean) / std
        inverses[index] = invert_affine(matrix)
    return Crops(images, inverses)


def keypoints_to_image(keypoints: np.ndarray, inverse_affines: np.ndarray) -> np.ndarray:
    """(N, K, 2) crop input pixels → (N, K, 2) image pixels through each crop's inverse affine."""
    if not len(keypoints):
        return np.zeros((0, keypoints.shape[1] if keypoints.ndim == 3 else 0, 2))
    pairs = zip(keypoints, inverse_affines, strict=True)
    return np.stack([transform_points(points, matrix) for points, matrix in pairs])
