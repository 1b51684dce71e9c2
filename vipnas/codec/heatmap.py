"""Heatmap codecs: each class owns both directions, keypoints → training targets and heatmaps → keypoints.

Coordinates on the outside are **network-input pixels** (x, y) of the cropped person; sizes are (W, H) as in
MMPose. Going from input pixels to image pixels is the caller's job (the crop's inverse affine), so the codecs
know nothing about boxes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vipnas.codec.gaussian import gaussian_heatmaps
from vipnas.codec.refine import get_heatmap_maximum, refine_dark, refine_dark_udp, refine_quarter_offset

__all__ = ["MSRAHeatmap", "UDPHeatmap"]


def _check_size(name: str, size: tuple[int, int]) -> tuple[int, int]:
    if len(size) != 2 or not all(isinstance(v, (int, np.integer)) and v > 1 for v in size):
        raise ValueError(f"{name} must be (W, H) with integers > 1, got {size!r}")
    return int(size[0]), int(size[1])


class _HeatmapCodec:
    """Shared argument checks and the encode/decode shape contract."""

    def __init__(
        self,
        input_size: tuple[int, int] = (192, 256),
        heatmap_size: tuple[int, int] = (48, 64),
        sigma: float = 2.0,
        blur_kernel_size: int = 11,
    ) -> None:
        self.input_size = _check_size("input_size", input_size)
        self.heatmap_size = _check_size("heatmap_size", heatmap_size)
        if not sigma > 0:
            raise ValueError(f"sigma must be > 0, got {sigma!r}")
        self.sigma = float(sigma)
        self.blur_kernel_size = int(blur_kernel_size)

    @classmethod
    def for_model(cls, metadata: Any, **kwargs: Any) -> _HeatmapCodec:
        """Codec matching a model's ``ModelMetadata`` (``input_size`` is (h, w) there, (W, H) here)."""
        height, width = metadata.input_size
        stride = metadata.heatmap_stride
        return cls(input_size=(width, height), heatmap_size=(width // stride, height // stride), **kwargs)

    def _check_keypoints(self, keypoints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keypoints = np.asarray(keypoints, dtype=np.float64)
        visible = np.asarray(visible, dtype=np.float64)
        if keypoints.ndim != 2 or keypoints.shape[1] != 2:
            raise ValueError(f"keypoints must have shape (K, 2), got {keypoints.shape}")
        if visible.shape != (keypoints.shape[0],):
            raise ValueError(f"visible must have shape ({keypoints.shape[0]},), got {visible.shape}")
        return keypoints, visible

    @staticmethod
    def _check_heatmaps(heatmaps: np.ndarray) -> np.ndarray:
        heatmaps = np.asarray(heatmaps)
        if heatmaps.ndim not in (3, 4):
            raise ValueError(f"heatmaps must have shape (K, H, W) or (N, K, H, W), got {heatmaps.shape}")
        return heatmaps

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class MSRAHeatmap(_HeatmapCodec):
    """Gaussian heatmaps of SimpleBaseline/HRNet ("MSRA"), optionally with DARK's unbiased encoding and decoding.

    Encoding (``unbiased=False``): centre = joint / stride rounded to the nearest heatmap pixel, Gaussian σ
    (default 2) cut to a (2⌈3σ⌉+1)² patch (13×13). ``unbiased=True``: centre at the exact sub-pixel position, the
    Gaussian over the whole map (DARK). Weight 0 for invisible joints and for joints whose patch around the
    rounded centre lies wholly outside the map; otherwise the visibility value.

    Decoding: argmax; then ``unbiased=False`` shifts a quarter pixel towards the higher neighbour, ``unbiased=True``
    applies DARK (blur with ``blur_kernel_size``, log, Taylor step). Heatmap pixel ``p`` maps to input pixel
    ``p * stride`` (stride = input_size / heatmap_size), the convention of MMPose's ``MSRAHeatmap`` and of the
    standard (non-UDP) crop affine.

    Args:
        input_size: network input (W, H) in pixels.
        heatmap_size: heatmap (W, H).
        sigma: Gaussian σ in heatmap pixels.
        unbiased: DARK encoding and decoding.
        blur_kernel_size: DARK modulation kernel (11 ↔ σ = 2).
    """

    def __init__(
        self,
        input_size: tuple[int, int] = (192, 256),
        heatmap_size: tuple[int, int] = (48, 64),
        sigma: float = 2.0,
        unbiased: bool = False,
        blur_kernel_size: int = 11,
    ) -> None:
        super().__init__(input_size, heatmap_size, sigma, blur_kernel_size)
        self.unbiased = bool(unbiased)
        self.scale_factor = np.array(self.input_size, np.float32) / np.array(self.heatmap_size, np.float32)

    @property
    def name(self) -> str:
        """``dark`` or ``msra``: the name :func:`vipnas.codec.build_codec` knows this codec by."""
        return "dark" if self.unbiased else "msra"

    def encode(self, keypoints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints → targets.

        Args:
            keypoints: (K, 2) joint positions (x, y) in input pixels.
            visible: (K,) visibility in {0, 1}.

        Returns:
            heatmaps: (K, H, W) float32 targets (peak 1).
            weights: (K,) float32 target weights.
        """
        keypoints, visible = self._check_keypoints(keypoints, visible)
        centres = keypoints / self.scale_factor
        return gaussian_heatmaps(
            centres, visible, self.heatmap_size, self.sigma, round_centre=not self.unbiased, truncate=not self.unbiased
        )

    def decode(self, heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Heatmaps → keypoints.

        Args:
            heatmaps: (K, H, W) or (N, K, H, W).

        Returns:
            keypoints: (K, 2) or (N, K, 2) float32 (x, y) in input pixels.
            scores: (K,) or (N, K) heatmap maxima.
        """
        heatmaps = self._check_heatmaps(heatmaps)
        locations, scores = get_heatmap_maximum(heatmaps)
        if self.unbiased:
            locations = refine_dark(locations, heatmaps, self.blur_kernel_size)
        else:
            locations = refine_quarter_offset(locations, heatmaps)
        return locations * self.scale_factor, scores


class UDPHeatmap(_HeatmapCodec):
    """Unbiased Data Processing heatmaps (Huang et al., CVPR 2020), Gaussian variant.

    UDP measures sizes in pixel *intervals*: input pixel ``u`` and heatmap pixel ``p`` are related by
    ``u = p * (input_size - 1) / (heatmap_size - 1)``, so the first and last pixel centres of both grids coincide.
    This is only unbiased if the crop uses the same convention: the UDP warp maps the box's left edge to input
    pixel 0 and its right edge to input pixel ``W - 1`` (scale / (W - 1) image pixels per input pixel, not
    scale / W), which is what ``vipnas.data.transforms.get_udp_affine_matrix`` builds. Flipping a crop maps ``x`` to
    ``W - 1 - x`` and heatmap pixel ``p`` to ``W_hm - 1 - p`` exactly, so the flip test must not shift heatmaps
    (``shift_heatmap=False``). With the standard crop affine (``get_affine_matrix``) use :class:`MSRAHeatmap`.

    Encoding: Gaussian centred at the exact sub-pixel position inside the (2⌈3σ⌉+1)² patch around the rounded
    centre; weights as :class:`MSRAHeatmap`. Decoding: argmax + UDP's DARK step (``refine_dark_udp``).

    Args:
        input_size: network input (W, H) in pixels.
        heatmap_size: heatmap (W, H).
        sigma: Gaussian σ in heatmap pixels.
        blur_kernel_size: modulation kernel of the decoding.
    """

    def __init__(
        self,
        input_size: tuple[int, int] = (192, 256),
        heatmap_size: tuple[int, int] = (48, 64),
        sigma: float = 2.0,
        blur_kernel_size: int = 11,
    ) -> None:
        super().__init__(input_size, heatmap_size, sigma, blur_kernel_size)
        self.scale_factor = (np.array(self.input_size, np.float32) - 1) / (np.array(self.heatmap_size, np.float32) - 1)

    @property
    def name(self) -> str:
        """``udp``: the name :func:`vipnas.codec.build_codec` knows this codec by."""
        return "udp"

    def encode(self, keypoints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints (K, 2) in input pixels and visibility (K,) → heatmaps (K, H, W) and weights (K,), float32."""
        keypoints, visible = self._check_keypoints(keypoints, visible)
        centres = keypoints / self.scale_factor
        return gaussian_heatmaps(centres, visible, self.heatmap_size, self.sigma, round_centre=False, truncate=True)

    def decode(self, heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Heatmaps (K, H, W) or (N, K, H, W) → keypoints (..., K, 2) in input pixels and scores (..., K)."""
        heatmaps = self._check_heatmaps(heatmaps)
        locations, scores = get_heatmap_maximum(heatmaps)
        locations = refine_dark_udp(locations, heatmaps, self.blur_kernel_size)
        return locations * self.scale_factor, scores
