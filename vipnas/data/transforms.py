"""Deterministic geometry of the top-down pipeline: box → centre/scale, the crop affine, point and flip maps.

Conventions (MMPose 1.x): ``scale`` is the crop's (width, height) in original-image pixels, not divided by 200
as in MMPose 0.x; a horizontal flip maps ``x`` to ``width - 1 - x`` (pixel centres at integer coordinates).
Every function is pure numpy and returns float64 arrays; the random choice of parameters lives in
:mod:`vipnas.data.augment`, so one sampled affine is applied alike to the image and its keypoints.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

__all__ = [
    "box_xywh_to_center_scale",
    "center_scale_to_box_xywh",
    "flip_boxes_xywh",
    "flip_keypoints",
    "flip_points",
    "get_affine_matrix",
    "get_udp_affine_matrix",
    "invert_affine",
    "transform_points",
    "warp_image",
]


def box_xywh_to_center_scale(
    box: np.ndarray | Sequence[float], aspect_ratio: float, padding: float = 1.25
) -> tuple[np.ndarray, np.ndarray]:
    """Centre and scale of the crop around one or more ``(x, y, w, h)`` boxes.

    The box is first enlarged along its short side to ``aspect_ratio`` (width / height), then both sides are
    multiplied by ``padding`` (MMPose 0.x ``_xywh2cs`` without its random centre shift).

    Args:
        box: (4,) or (N, 4) boxes, top-left corner and size in pixels.
        aspect_ratio: crop width / height, e.g. 192 / 256.
        padding: context factor applied after the aspect-ratio fix.

    Returns:
        center: (2,) or (N, 2) box centres (x, y) in pixels.
        scale: (2,) or (N, 2) crop (width, height) in pixels.
    """
    box = np.asarray(box, dtype=np.float64)
    if box.shape[-1] != 4 or box.ndim not in (1, 2):
        raise ValueError(f"box must have shape (4,) or (N, 4), got {box.shape}")
    if aspect_ratio <= 0:
        raise ValueError(f"aspect_ratio must be positive, got {aspect_ratio}")
    x, y, w, h = np.moveaxis(box, -1, 0)
    center = np.stack([x + w * 0.5, y + h * 0.5], axis=-1)
    w, h = np.maximum(w, h * aspect_ratio), np.maximum(h, w / aspect_ratio)
    scale = np.stack([w, h], axis=-1) * padding
    return center, scale


def center_scale_to_box_xywh(center: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Inverse of the crop description: (…, 2) centre and (…, 2) scale → (…, 4) ``(x, y, w, h)`` box."""
    center = np.asarray(center, dtype=np.float64)
    scale = np.asarray(scale, dtype=np.float64)
    return np.concatenate([center - scale * 0.5, scale], axis=-1)


def _rotate(vector: np.ndarray, radians: float) -> np.ndarray:
    sin, cos = np.sin(radians), np.cos(radians)
    return np.array([cos * vector[0] - sin * vector[1], sin * vector[0] + cos * vector[1]])


def _third_point(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # b + (a - b) rotated by 90°: completes a right angle, so the map keeps the aspect ratio.
    direction = a - b
    return b + np.array([-direction[1], direction[0]])


def get_affine_matrix(
    center: np.ndarray | Sequence[float],
    scale: np.ndarray | Sequence[float],
    rotation: float,
    output_size: tuple[int, int],
    inverse: bool = False,
) -> np.ndarray:
    """The 2×3 affine that maps the rotated crop box onto the network input (MMPose ``get_warp_matrix``).

    Only ``scale[0]`` (the width) sets the zoom, as with ``fix_aspect_ratio=True``: the caller has already
    shaped the box to the output aspect ratio. A positive rotation turns the crop box counter-clockwise in
    the image, so the person appears rotated clockwise in the output.

    Args:
        center: (2,) crop centre (x, y) in image pixels.
        scale: (2,) crop (width, height) in image pixels.
        rotation: degrees.
        output_size: (width, height) of the output in pixels.
        inverse: return the output → image map instead.

    Returns:
        (2, 3) float64 matrix ``M`` with ``[x', y'] = M @ [x, y, 1]``.
    """
    center = np.asarray(center, dtype=np.float64)
    scale = np.asarray(scale, dtype=np.float64)
    out_w, out_h = float(output_size[0]), float(output_size[1])
    source_direction = _rotate(np.array([scale[0] * -0.5, 0.0]), np.deg2rad(rotation))
    source = np.zeros((3, 2))
    source[0] = center
    source[1] = center + source_direction
    source[2] = _third_point(source[0], source[1])
    target = np.zeros((3, 2))
    target[0] = [out_w * 0.5, out_h * 0.5]
    target[1] = target[0] + [out_w * -0.5, 0.0]
    target[2] = _third_point(target[0], target[1])
    if inverse:
        source, target = target, source
    # Solved in float64 (cv2.getAffineTransform would round the points to float32).
    return np.linalg.solve(np.c_[source, np.ones(3)], target).T


def get_udp_affine_matrix(
    center: np.ndarray | Sequence[float],
    scale: np.ndarray | Sequence[float],
    rotation: float,
    output_size: tuple[int, int],
    inverse: bool = False,
) -> np.ndarray:
    """The unbiased (UDP, Huang et al. CVPR 2020) crop affine, as MMPose ``get_udp_warp_matrix``.

    Maps the crop's extent onto ``output_size - 1`` pixel intervals, so that the first and last pixel
    centres of the crop land on the first and last output pixel centres; pair it with ``UDPHeatmap``.

    Args:
        center: (2,) crop centre (x, y) in image pixels.
        scale: (2,) crop (width, height) in image pixels.
        rotation: degrees (MMPose's UDP matrix turns the opposite way to :func:`get_affine_matrix`).
        output_size: (width, height) of the output in pixels.
        inverse: return the output → image map instead.

    Returns:
        (2, 3) float64 matrix.
    """
    center = np.asarray(center, dtype=np.float64)
    scale = np.asarray(scale, dtype=np.float64)
    radians = np.deg2rad(rotation)
    cos, sin = np.cos(radians), np.sin(radians)
    scale_x = (output_size[0] - 1.0) / scale[0]
    scale_y = (output_size[1] - 1.0) / scale[1]
    matrix = np.array(
        [
            [cos * scale_x, -sin * scale_x, scale_x * (-center[0] * cos + center[1] * sin + 0.5 * scale[0])],
            [sin * scale_y, cos * scale_y, scale_y * (-center[0] * sin - center[1] * cos + 0.5 * scale[1])],
        ]
    )
    return invert_affine(matrix) if inverse else matrix


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a (2, 3) affine, as a (2, 3) float64 matrix."""
    full = np.vstack([np.asarray(matrix, dtype=np.float64), [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine to (..., 2) points; returns (..., 2) float64."""
    points = np.asarray(points, dtype=np.float64)
    matrix = np.asarray(matrix, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def warp_image(image: np.ndarray, matrix: np.ndarray, output_size: tuple[int, int]) -> np.ndarray:
    """Crop an (H, W, C) image with a forward (image → output) affine; bilinear, black border.

    Returns:
        (output_size[1], output_size[0], C) array of the input dtype.
    """
    return cv2.warpAffine(
        image,
        np.asarray(matrix, dtype=np.float64),
        (int(output_size[0]), int(output_size[1])),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )


def flip_points(points: np.ndarray, image_width: float) -> np.ndarray:
    """Mirror (..., 2) points horizontally in an image ``image_width`` pixels wide: x → width - 1 - x."""
    points = np.array(points, dtype=np.float64)
    points[..., 0] = image_width - 1.0 - points[..., 0]
    return points


def flip_keypoints(
    keypoints: np.ndarray, visible: np.ndarray, image_width: float, flip_index: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Mirror keypoints and swap left/right joints.

    Args:
        keypoints: (..., K, 2) pixel coordinates.
        visible: (..., K) visibility or weight per joint.
        image_width: width of the image the points live in, in pixels.
        flip_index: K-permutation from :meth:`DatasetInfo.flip_index`.

    Returns:
        The flipped (..., K, 2) keypoints and (..., K) visibility (float64).
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    visible = np.asarray(visible, dtype=np.float64)
    index = np.asarray(flip_index, dtype=np.int64)
    if keypoints.shape[-2] != len(index) or visible.shape[-1] != len(index):
        raise ValueError(
            f"flip_index has {len(index)} joints but keypoints have shape {keypoints.shape}, visible {visible.shape}"
        )
    return flip_points(keypoints, image_width)[..., index, :], visible[..., index].copy()


def flip_boxes_xywh(boxes: np.ndarray, image_width: float) -> np.ndarray:
    """Mirror (..., 4) ``(x, y, w, h)`` boxes horizontally, consistently with :func:`flip_points`."""
    boxes = np.array(boxes, dtype=np.float64)
    boxes[..., 0] = image_width - 1.0 - boxes[..., 0] - boxes[..., 2]
    return boxes
