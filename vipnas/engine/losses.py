"""Heatmap losses: MMPose 1.x ``KeypointMSELoss(use_target_weight=True)`` and the in-place distillation term."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["distillation_loss", "keypoint_mse_loss"]


def keypoint_mse_loss(
    heatmaps: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean squared heatmap error, each joint's squared errors multiplied by its target weight.

    As MMPose 1.x ``KeypointMSELoss(use_target_weight=True)``: ``mean((pred - target)² · w)`` over all N·K·H·W
    elements (weight not squared, no ½ factor — MMPose 0.x's ``JointsMSELoss`` differs in both).

    Args:
        heatmaps: (N, K, H, W) predictions.
        target: (N, K, H, W) target heatmaps.
        target_weight: (N, K) per-joint weights (0 for unlabelled joints); ``None`` weighs every joint 1.

    Returns:
        A scalar tensor.
    """
    if heatmaps.shape != target.shape:
        raise ValueError(f"heatmaps {tuple(heatmaps.shape)} and target {tuple(target.shape)} differ in shape")
    squared = F.mse_loss(heatmaps.float(), target.float(), reduction="none")  # (N, K, H, W)
    if target_weight is None:
        return squared.mean()
    if target_weight.shape != heatmaps.shape[:2]:
        raise ValueError(
            f"target_weight must be (N, K) = {tuple(heatmaps.shape[:2])}, got {tuple(target_weight.shape)}"
        )
    return (squared * target_weight.float()[:, :, None, None]).mean()


def distillation_loss(heatmaps: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """In-place distillation (BigNAS; ViPNAS §3.4.1): MSE to the largest sub-network's detached heatmaps.

    Every joint counts, including those without a label: the teacher predicts them too, and that knowledge is
    what the soft label adds to the ground truth.

    Args:
        heatmaps: (N, K, H, W) student predictions.
        teacher: (N, K, H, W) the largest sub-network's heatmaps of the same batch (detached here).
    """
    return keypoint_mse_loss(heatmaps, teacher.detach())
