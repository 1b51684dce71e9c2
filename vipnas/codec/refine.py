"""Heatmap decoding in numpy alone: argmax, quarter-pixel shift, DARK and UDP-DARK Taylor refinement.

Every function takes heatmaps of shape (..., H, W) (any number of leading axes, e.g. (K, H, W) or (N, K, H, W))
and keypoints of shape (..., 2) in heatmap pixels (x, y). Nothing here imports torch or OpenCV, so the ONNX
runtime path can decode without either.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "gaussian_kernel_1d",
    "get_heatmap_maximum",
    "modulate_heatmaps",
    "refine_dark",
    "refine_dark_udp",
    "refine_quarter_offset",
]


def get_heatmap_maximum(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Location and value of each map's maximum.

    Args:
        heatmaps: (..., H, W).

    Returns:
        locations: (..., 2) float32 (x, y) heatmap pixels; (-1, -1) where the maximum is <= 0 (MMPose's marker
            for "no response").
        values: (...) the maxima (the keypoint scores).
    """
    heatmaps = np.asarray(heatmaps)
    if heatmaps.ndim < 2:
        raise ValueError(f"heatmaps must have shape (..., H, W), got {heatmaps.shape}")
    *lead, height, width = heatmaps.shape
    flat = heatmaps.reshape(-1, height * width)  # (M, H*W)
    index = flat.argmax(axis=1)
    values = flat[np.arange(flat.shape[0]), index]
    y, x = np.divmod(index, width)
    locations = np.stack([x, y], axis=-1).astype(np.float32)
    locations[~(values > 0)] = -1
    return locations.reshape(*lead, 2), values.reshape(lead)


def _gather(maps: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """maps (M, H, W), integer x/y (M,) already clipped into range -> (M,) values."""
    return maps[np.arange(maps.shape[0]), y, x]


def refine_quarter_offset(keypoints: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
    """Move each argmax a quarter pixel towards its higher neighbour, per axis (Newell et al. / SimpleBaseline).

    MMPose requires ``1 < x < W - 1``, an off-by-one inherited from 1-based Lua code; here an axis is refined
    whenever both neighbours exist (``0 < x < W - 1``), which differs only for maxima in column or row 1.

    Args:
        keypoints: (..., 2) integer-valued argmax locations (x, y) in heatmap pixels.
        heatmaps: (..., H, W) with the same leading shape.

    Returns:
        (..., 2) float32 refined locations (a new array).
    """
    *lead, height, width = heatmaps.shape
    maps = heatmaps.reshape(-1, height, width)
    points = keypoints.reshape(-1, 2).astype(np.float32)
    x = points[:, 0].astype(np.int64)
    y = points[:, 1].astype(np.int64)
    in_x = (x >= 0) & (x < width)
    in_y = (y >= 0) & (y < height)
    xc, yc = np.clip(x, 0, width - 1), np.clip(y, 0, height - 1)
    dx = _gather(maps, np.clip(x + 1, 0, width - 1), yc) - _gather(maps, np.clip(x - 1, 0, width - 1), yc)
    dy = _gather(maps, xc, np.clip(y + 1, 0, height - 1)) - _gather(maps, xc, np.clip(y - 1, 0, height - 1))
    dx = np.where((x > 0) & (x < width - 1) & in_y, dx, 0)
    dy = np.where((y > 0) & (y < height - 1) & in_x, dy, 0)
    points += 0.25 * np.stack([np.sign(dx), np.sign(dy)], axis=-1).astype(np.float32)
    return points.reshape(*lead, 2)


def gaussian_kernel_1d(size: int) -> np.ndarray:
    """The normalised 1-D Gaussian OpenCV uses for ``GaussianBlur(ksize=size, sigma=0)`` (σ = 0.3((size-1)/2-1)+0.8;
    σ = 2 for size 11, matching training targets of σ = 2)."""
    if size < 3 or size % 2 == 0:
        raise ValueError(f"blur kernel size must be an odd integer >= 3, got {size}")
    sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    offsets = np.arange(size, dtype=np.float64) - (size - 1) / 2
    kernel = np.exp(-(offsets**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def _convolution_matrix(size: int, kernel: np.ndarray) -> np.ndarray:
    """(size, size) matrix C with ``C @ v`` = ``v`` convolved with ``kernel`` under zero padding, same length."""
    radius = len(kernel) // 2
    offset = np.arange(size)[None, :] - np.arange(size)[:, None]  # column - row
    return np.where(np.abs(offset) <= radius, kernel[np.clip(offset + radius, 0, 2 * radius)], 0.0)


def modulate_heatmaps(heatmaps: np.ndarray, kernel_size: int = 11) -> np.ndarray:
    """DARK's distribution modulation: Gaussian blur with zero padding, then rescale each map to its old maximum.

    Equal to MMPose's ``gaussian_blur`` (zero-pad by the kernel radius, ``cv2.GaussianBlur``, crop, rescale) up to
    float rounding, written as a separable convolution in numpy.

    Args:
        heatmaps: (..., H, W).
        kernel_size: odd blur kernel size.

    Returns:
        (..., H, W) float32 modulated maps (a new array).
    """
    kernel = gaussian_kernel_1d(kernel_size)
    *lead, height, width = heatmaps.shape
    maps = np.asarray(heatmaps, dtype=np.float32).reshape(-1, height, width)
    # A zero-padded convolution is a product with a banded matrix on each side; float32 as OpenCV's blur.
    rows = _convolution_matrix(height, kernel).astype(np.float32)
    columns = _convolution_matrix(width, kernel).astype(np.float32)
    blurred = rows @ maps @ columns.T  # (M, H, W)
    old_max = maps.reshape(maps.shape[0], -1).max(axis=1)
    new_max = blurred.reshape(maps.shape[0], -1).max(axis=1)
    factor = np.divide(old_max, new_max, out=np.ones_like(old_max), where=new_max != 0)
    blurred *= factor[:, None, None]
    return blurred.reshape(*lead, height, width)


def refine_dark(keypoints: np.ndarray, heatmaps: np.ndarray, kernel_size: int = 11) -> np.ndarray:
    """DARK refinement (Zhang et al., CVPR 2020): blur, log, one Newton step of a second-order Taylor expansion.

    Derivatives as in the DARK reference code and MMPose: first order by central differences with step 1,
    ``dxx``/``dyy`` with step 2, mixed term with step 1. Points within 2 px of the border, or with a singular
    Hessian, keep their integer location.

    Args:
        keypoints: (..., 2) argmax locations (x, y) in heatmap pixels.
        heatmaps: (..., H, W) raw (unblurred) heatmaps.
        kernel_size: modulation blur size (11 for targets with σ = 2).

    Returns:
        (..., 2) float32 refined locations (a new array).
    """
    *lead, height, width = heatmaps.shape
    logs = np.log(np.maximum(modulate_heatmaps(heatmaps, kernel_size), 1e-10)).reshape(-1, height, width)
    points = keypoints.reshape(-1, 2).astype(np.float64)
    x = points[:, 0].astype(np.int64)
    y = points[:, 1].astype(np.int64)
    valid = (x > 1) & (x < width - 2) & (y > 1) & (y < height - 2)
    x, y = np.where(valid, x, 2), np.where(valid, y, 2)  # any in-range index; results are masked below

    def at(step_x: int, step_y: int) -> np.ndarray:
        return _gather(logs, np.clip(x + step_x, 0, width - 1), np.clip(y + step_y, 0, height - 1))

    centre = at(0, 0)
    dx = 0.5 * (at(1, 0) - at(-1, 0))
    dy = 0.5 * (at(0, 1) - at(0, -1))
    dxx = 0.25 * (at(2, 0) - 2 * centre + at(-2, 0))
    dyy = 0.25 * (at(0, 2) - 2 * centre + at(0, -2))
    dxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
    det = dxx * dyy - dxy**2
    valid &= det != 0
    det = np.where(valid, det, 1.0)
    # offset = -H⁻¹ ∇, with H⁻¹ = [[dyy, -dxy], [-dxy, dxx]] / det
    offset_x = -(dyy * dx - dxy * dy) / det
    offset_y = -(dxx * dy - dxy * dx) / det
    points += np.where(valid[:, None], np.stack([offset_x, offset_y], axis=-1), 0.0)
    return points.astype(np.float32).reshape(*lead, 2)


def refine_dark_udp(keypoints: np.ndarray, heatmaps: np.ndarray, kernel_size: int = 11) -> np.ndarray:
    """UDP's DARK variant (Huang et al., CVPR 2020), as MMPose's ``refine_keypoints_dark_udp``.

    Log of the blurred map clipped to [1e-3, 50], edge padding so border maxima are refined too, all derivatives
    with step 1, and ``eps·I`` added to the Hessian before inversion.

    Args:
        keypoints: (..., 2) argmax locations (x, y) in heatmap pixels; points at -1 (no response) are left alone.
        heatmaps: (..., H, W) raw heatmaps.
        kernel_size: modulation blur size.

    Returns:
        (..., 2) float32 refined locations (a new array).
    """
    *lead, height, width = heatmaps.shape
    logs = np.log(np.clip(modulate_heatmaps(heatmaps, kernel_size), 1e-3, 50.0)).reshape(-1, height, width)
    logs = np.pad(logs, ((0, 0), (1, 1), (1, 1)), mode="edge")
    points = keypoints.reshape(-1, 2).astype(np.float64)
    valid = (points >= 0).all(axis=1)
    x = np.clip(points[:, 0].astype(np.int64), 0, width - 1) + 1  # index into the padded map
    y = np.clip(points[:, 1].astype(np.int64), 0, height - 1) + 1

    def at(step_x: int, step_y: int) -> np.ndarray:
        return _gather(logs, x + step_x, y + step_y)

    centre, right, left, down, up = at(0, 0), at(1, 0), at(-1, 0), at(0, 1), at(0, -1)
    dx = 0.5 * (right - left)
    dy = 0.5 * (down - up)
    dxx = right - 2 * centre + left
    dyy = down - 2 * centre + up
    dxy = 0.5 * (at(1, 1) - right - down + 2 * centre - left - up + at(-1, -1))
    eps = float(np.finfo(np.float32).eps)
    dxx, dyy = dxx + eps, dyy + eps
    det = dxx * dyy - dxy**2
    valid &= det != 0
    det = np.where(valid, det, 1.0)
    offset_x = (dyy * dx - dxy * dy) / det
    offset_y = (dxx * dy - dxy * dx) / det
    points -= np.where(valid[:, None], np.stack([offset_x, offset_y], axis=-1), 0.0)
    return points.astype(np.float32).reshape(*lead, 2)
