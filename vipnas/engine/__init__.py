"""Training: the loop for static networks and supernets (sandwich rule + in-place distillation), BN
recalibration, distributed helpers, checkpoints, schedules and logs.

Public API::

    train(config, work_dir=..., resume_from=..., load_from=..., autoscale_lr=...) -> TrainResult
    TrainStep, StaticStep, SandwichStep: what one training step runs (vipnas.engine.steps)
    CheckpointManager: last.pth / best.pth, resume (vipnas.engine.checkpoint)
    recalibrate_bn(model_or_supernet, arch, batches) -> model
    collect_batches(loader, num_batches) -> list of (N, 3, H, W) tensors
    sandwich_archs(space, seed=..., step=..., num_random=2) -> [(name, arch), ...]
    keypoint_mse_loss(heatmaps, target, target_weight), distillation_loss(heatmaps, teacher)
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TrainResult": "trainer",
    "Trainer": "trainer",
    "train": "trainer",
    "state_digest": "trainer",
    "recalibrate_bn": "batchnorm",
    "collect_batches": "batchnorm",
    "frozen_bn_stats": "batchnorm",
    "sandwich_archs": "sandwich",
    "arch_digest": "sandwich",
    "keypoint_mse_loss": "losses",
    "distillation_loss": "losses",
    "LRSchedule": "schedule",
    "build_model": "build",
    "build_calibration_batches": "build",
    "build_train_dataset": "build",
    "build_val_dataset": "build",
    "prepare_data": "build",
    "Validator": "validation",
    "TrainStep": "steps",
    "StaticStep": "steps",
    "SandwichStep": "steps",
    "MixedPrecision": "steps",
    "CheckpointManager": "checkpoint",
    "load_weights": "checkpoint",
    "read_training_checkpoint": "checkpoint",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"vipnas.engine.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'vipnas.engine' has no attribute {name!r}")
