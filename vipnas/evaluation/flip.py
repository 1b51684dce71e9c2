"""Flip test: run the network on the crop and on its mirror image, map the mirrored heatmaps back, average.

``flip_heatmaps`` works on numpy arrays and torch tensors alike (no torch import), so the ONNX runtime path can
use it; ``flip_test`` needs a torch model or any callable from (N, 3, H, W) tensors to (N, K, h, w) tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["flip_heatmaps", "flip_test"]


def flip_heatmaps(heatmaps: Any, flip_index: Sequence[int], shift: bool = True) -> Any:
    """Map heatmaps predicted on a mirrored crop back to the original crop.

    Mirror along W, swap left/right channels with ``flip_index``, and with ``shift`` move every map one pixel to
    the right (column 0 is kept), as MMPose's ``flip_heatmaps(shift_heatmap=True)``: with the standard crop a
    mirrored input pixel ``x`` lands on ``W - 1 - x``, which in heatmap pixels is a shift of ``(s - 1) / s`` px
    (s = stride), compensated to within a quarter pixel by the one-pixel shift. Use ``shift=False`` with UDP.

    Args:
        heatmaps: (N, K, H, W) numpy array or torch tensor.
        flip_index: K-permutation (``DatasetInfo.flip_index()``).
        shift: shift one pixel right after flipping.

    Returns:
        (N, K, H, W) of the input's type (a new array).
    """
    if heatmaps.ndim != 4 or heatmaps.shape[1] != len(flip_index):
        raise ValueError(
            f"heatmaps must be (N, {len(flip_index)}, H, W) to match flip_index, got {tuple(heatmaps.shape)}"
        )
    index = list(flip_index)
    if hasattr(heatmaps, "flip"):  # torch
        flipped = heatmaps.flip(-1)[:, index]
        if shift:
            flipped[..., 1:] = flipped[..., :-1].clone()
        return flipped
    flipped = heatmaps[..., ::-1][:, index].copy()
    if shift:
        flipped[..., 1:] = flipped[..., :-1].copy()
    return flipped


def flip_test(
    model: Callable[[Any], Any], images: Any, flip_index: Sequence[int], *, shift_heatmap: bool = True
) -> Any:
    """Average of the heatmaps of ``images`` and of their mirror images mapped back (one forward on 2N crops).

    Args:
        model: ``nn.Module`` or callable, (N, 3, H, W) → (N, K, h, w).
        images: (N, 3, H, W) normalised crops (torch tensor).
        flip_index: K-permutation of the heatmap channels' dataset.
        shift_heatmap: see :func:`flip_heatmaps` (True for the standard crop, False for UDP).

    Returns:
        (N, K, h, w) averaged heatmaps.
    """
    import torch

    both = model(torch.cat([images, images.flip(-1)]))  # (2N, K, h, w)
    plain, mirrored = both[: len(images)], both[len(images) :]
    return (plain + flip_heatmaps(mirrored, flip_index, shift_heatmap)) * 0.5
