"""Gaussian heatmap targets: MSRA (integer centre, 13×13 patch), unbiased DARK (sub-pixel centre, full map) and UDP.

All three share one vectorised routine: a separable Gaussian per joint, optionally cut to a square window around
the rounded centre. Coordinates here are heatmap pixels; the codec classes divide input pixels by the stride.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["gaussian_heatmaps"]


def gaussian_heatmaps(
    centres: np.ndarray,
    visible: np.ndarray,
    heatmap_size: tuple[int, int],
    sigma: float,
    *,
    round_centre: bool,
    truncate: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one unnormalised Gaussian (peak 1) per joint.

    Args:
        centres: (K, 2) joint positions (x, y) in heatmap pixels.
        visible: (K,) visibility; joints with ``visible < 0.5`` get an empty map and weight 0.
        heatmap_size: (W, H) of the maps.
        sigma: Gaussian standard deviation in heatmap pixels.
        round_centre: centre the Gaussian on the rounded position (MSRA) instead of the exact one (DARK, UDP).
        truncate: keep only the (2r+1)² window around the rounded centre, r = ⌈3σ⌉ (MSRA, UDP); else full map.

    Returns:
        heatmaps: (K, H, W) float32.
        weights: (K,) float32, ``visible`` where a Gaussian was drawn, 0 where the joint is invisible or its
            window around the rounded centre lies wholly outside the map.
    """
    width, height = heatmap_size
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    visible = np.asarray(visible, dtype=np.float64).reshape(-1)
    radius = math.ceil(3 * sigma)
    # floor(x + 0.5), not MMPose's int(x + 0.5), which truncates towards zero and so rounds -0.7 to 0.
    rounded = np.floor(centres + 0.5)
    # MMPose tests `right < 0` with right = centre + radius + 1, so a window ending exactly at column -1 keeps
    # weight 1 with an all-zero target; the issue asks for weight 0 whenever nothing of the window is on the map.
    inside = (
        (rounded[:, 0] + radius >= 0)
        & (rounded[:, 0] - radius <= width - 1)
        & (rounded[:, 1] + radius >= 0)
        & (rounded[:, 1] - radius <= height - 1)
    )
    drawn = (visible >= 0.5) & inside & np.isfinite(centres).all(axis=1)
    weights = np.where(drawn, visible, 0.0).astype(np.float32)

    mean = rounded if round_centre else centres
    mean = np.where(drawn[:, None], mean, 0.0)  # keeps exp() finite for NaN / far-away joints
    xs = np.arange(width, dtype=np.float64)
    ys = np.arange(height, dtype=np.float64)
    gauss_x = np.exp(-((xs[None, :] - mean[:, :1]) ** 2) / (2 * sigma**2))  # (K, W)
    gauss_y = np.exp(-((ys[None, :] - mean[:, 1:]) ** 2) / (2 * sigma**2))  # (K, H)
    if truncate:
        gauss_x *= np.abs(xs[None, :] - rounded[:, :1]) <= radius
        gauss_y *= np.abs(ys[None, :] - rounded[:, 1:]) <= radius
    heatmaps = gauss_y[:, :, None] * gauss_x[:, None, :]  # (K, H, W)
    heatmaps *= drawn[:, None, None]
    return heatmaps.astype(np.float32), weights
