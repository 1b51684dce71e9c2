"""Heatmaps across crops: resample heatmaps predicted in one person crop onto the heatmap grid of another.

Temporal propagation (ViPNAS §3.1, §3.4.2) feeds frame t's network the heatmaps H^{t-1} predicted on frame t-1.
When the person's box moves, H^{t-1} lives in crop t-1; :func:`warp_heatmaps` moves it into crop t through the two
crops' inverse affines (``Sample.inverse_affine``: network-input pixels → original-image pixels, flip included).
One function serves the training step (clips of :class:`vipnas.data.clips.ClipDataset`) and the video runtime.

Heatmap pixel ↔ network-input pixel, as the codecs encode and decode (:mod:`vipnas.codec.heatmap`); pixel centres
sit at integer coordinates in both grids, as in ``cv2.warpAffine`` and the codecs:

- ``msra`` and ``dark`` (standard crop affine, ``udp=False``): ``u = p · W / w`` (and ``v = q · H / h``); both
  codecs share this grid, ``msra`` only rounds the target's centre to a heatmap pixel.
- ``udp`` (UDP crop affine, ``udp=True``): ``u = p · (W - 1) / (w - 1)``; the first and last pixel centres of both
  grids coincide.

Sampling is bilinear on pixel centres (``align_corners=True``), zero outside the source map.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["heatmap_to_input_scale", "warp_heatmaps"]


def heatmap_to_input_scale(
    input_size: tuple[int, int], heatmap_size: tuple[int, int], *, udp: bool = False
) -> tuple[float, float]:
    """Input pixels per heatmap pixel, (along y, along x), of the codec convention (see the module docstring).

    Args:
        input_size: network input (height, width) in pixels.
        heatmap_size: heatmap (height, width) in pixels.
        udp: the UDP convention (``(H - 1) / (h - 1)``) instead of MSRA/DARK's ``H / h``.
    """
    (height, width), (map_height, map_width) = input_size, heatmap_size
    if udp:
        return (height - 1) / (map_height - 1), (width - 1) / (map_width - 1)
    return height / map_height, width / map_width


def _affines(matrix: np.ndarray | torch.Tensor, count: int, device: torch.device, name: str) -> torch.Tensor:
    """(2, 3) or (N, 2, 3) → (N, 2, 3) float64 on ``device``."""
    matrix = torch.as_tensor(matrix, dtype=torch.float64, device=device)
    if matrix.shape[-2:] != (2, 3) or matrix.ndim not in (2, 3):
        raise ValueError(f"{name} must have shape (2, 3) or (N, 2, 3), got {tuple(matrix.shape)}")
    if matrix.ndim == 2:
        return matrix.expand(count, 2, 3)
    if matrix.shape[0] != count:
        raise ValueError(f"{name} holds {matrix.shape[0]} affines for {count} heatmap sets")
    return matrix


def _compose(outer: torch.Tensor, inner: torch.Tensor) -> torch.Tensor:
    """(N, 2, 3) affines: ``outer ∘ inner`` (apply ``inner`` first)."""
    linear = outer[:, :, :2] @ inner[:, :, :2]
    offset = outer[:, :, :2] @ inner[:, :, 2:] + outer[:, :, 2:]
    return torch.cat([linear, offset], dim=2)


def _invert(matrix: torch.Tensor) -> torch.Tensor:
    """(N, 2, 3) affines inverted in closed form (elementwise ops: exports to ONNX, unlike ``linalg.inv``)."""
    a, b, c = matrix[:, 0, 0], matrix[:, 0, 1], matrix[:, 0, 2]
    d, e, f = matrix[:, 1, 0], matrix[:, 1, 1], matrix[:, 1, 2]
    det = a * e - b * d
    rows = [
        torch.stack([e / det, -b / det, (b * f - c * e) / det], dim=1),
        torch.stack([-d / det, a / det, (c * d - a * f) / det], dim=1),
    ]
    return torch.stack(rows, dim=1)


def _grid(theta: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``F.affine_grid(theta, (N, ·, height, width), align_corners=True)``, written out elementwise: the TorchScript
    ONNX exporter has no ``affine_grid`` before opset 20, and autocast leaves elementwise ops in full precision."""
    xs = torch.as_tensor(np.linspace(-1.0, 1.0, width), dtype=theta.dtype, device=theta.device)[None, None, :]
    ys = torch.as_tensor(np.linspace(-1.0, 1.0, height), dtype=theta.dtype, device=theta.device)[None, :, None]
    row = theta[:, :, :, None, None]  # (N, 2, 3, 1, 1)
    grid_x = row[:, 0, 0] * xs + row[:, 0, 1] * ys + row[:, 0, 2]  # (N, h, w)
    grid_y = row[:, 1, 0] * xs + row[:, 1, 1] * ys + row[:, 1, 2]
    return torch.stack([grid_x, grid_y], dim=-1)  # (N, h, w, 2): normalised source (x, y) of each target pixel


def warp_heatmaps(
    heatmaps: torch.Tensor,
    source_inverse_affine: np.ndarray | torch.Tensor,
    target_inverse_affine: np.ndarray | torch.Tensor,
    input_size: tuple[int, int],
    *,
    udp: bool = False,
) -> torch.Tensor:
    """Resample heatmaps of a source crop onto the heatmap grid of a target crop of the same image content.

    A target heatmap pixel is mapped to network-input pixels of the target crop, through
    ``target_inverse_affine`` to original-image pixels, through the inverse of ``source_inverse_affine`` to input
    pixels of the source crop and to its heatmap pixels, where the source map is read bilinearly (zero outside).
    Differentiable in ``heatmaps``, batched, on the heatmaps' device and dtype (the geometry is composed in
    float64, then cast). A numpy caller converts with ``torch.from_numpy``.

    Args:
        heatmaps: (N, K, h, w) or (K, h, w) heatmaps in the source crop.
        source_inverse_affine: (2, 3) or (N, 2, 3) map from the source crop's input pixels to image pixels
            (``Sample.inverse_affine``, flip included); a tensor or an array. A (2, 3) serves all N.
        target_inverse_affine: the same for the target crop.
        input_size: network input (height, width) in pixels (the order of ``ModelMetadata.input_size`` and of
            torch shapes, not the datasets' (width, height)).
        udp: the UDP pixel convention (codec ``udp`` with the UDP crop affine); ``False`` for ``msra`` and ``dark``.

    Returns:
        Heatmaps of the shape and dtype of ``heatmaps``, in the target crop.

    Raises:
        ValueError: bad shapes, or an ``input_size`` whose stride differs between the axes (most often a
            (width, height) passed for (height, width)).
    """
    if heatmaps.ndim not in (3, 4):
        raise ValueError(f"heatmaps must have shape (N, K, h, w) or (K, h, w), got {tuple(heatmaps.shape)}")
    single = heatmaps.ndim == 3
    maps = heatmaps[None] if single else heatmaps  # (N, K, h, w)
    count, _, map_height, map_width = maps.shape
    if map_height < 2 or map_width < 2:
        raise ValueError(f"heatmaps must be at least 2×2 pixels, got {map_height}×{map_width}")
    if len(input_size) != 2 or min(input_size) <= 1:
        raise ValueError(f"input_size must be (height, width) in pixels, got {input_size!r}")
    scale_y, scale_x = heatmap_to_input_scale(input_size, (map_height, map_width), udp=udp)
    if abs(scale_y / scale_x - 1.0) > 0.1:
        raise ValueError(
            f"input_size {tuple(input_size)} over heatmaps {map_height}×{map_width} gives strides {scale_y:.3g} "
            f"(y) and {scale_x:.3g} (x); input_size is (height, width)"
        )
    source = _affines(source_inverse_affine, count, maps.device, "source_inverse_affine")
    target = _affines(target_inverse_affine, count, maps.device, "target_inverse_affine")
    # normalised grid coordinate n ∈ [-1, 1] (align_corners=True) ↔ input pixel u = a (n + 1), a = s (w - 1) / 2
    half_x, half_y = scale_x * (map_width - 1) / 2, scale_y * (map_height - 1) / 2
    to_input = torch.tensor([[half_x, 0.0, half_x], [0.0, half_y, half_y]], dtype=torch.float64, device=maps.device)
    to_input = to_input.expand(count, 2, 3)
    # target normalised → target input → image → source input → source normalised
    theta = _compose(_invert(to_input), _compose(_invert(source), _compose(target, to_input)))
    grid = _grid(theta.to(torch.promote_types(maps.dtype, torch.float32)), map_height, map_width)  # (N, h, w, 2)
    grid = grid.to(maps.dtype)  # grid_sample wants one dtype
    warped = F.grid_sample(maps, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return warped[0] if single else warped
