"""Learning-rate schedules stepped once per iteration: linear warm-up, then steps at epoch milestones or cosine.

MMPose's recipe is two schedulers (``LinearLR`` by iteration for 500 iterations from ×0.001, ``MultiStepLR`` by
epoch); here one object computes the product for any iteration, so its whole state is the iteration counter.
"""

from __future__ import annotations

import math
from typing import Any

import torch

__all__ = ["LRSchedule"]


class LRSchedule:
    """The rate of iteration ``t`` = base × warm-up(t) × policy(t), written into every parameter group.

    Args:
        optimizer: its groups' ``lr`` at construction are the base rates.
        iters_per_epoch: iterations of one epoch (milestones are in epochs).
        epochs: length of the schedule.
        max_iters: when > 0 and shorter than ``epochs × iters_per_epoch``, the schedule's length instead (the run
            stops there, so the cosine ends at ``min_lr_ratio`` there); milestones stay in epochs.
        policy: ``step`` or ``cosine``.
        milestones: epochs at whose first iteration the rate is multiplied by ``gamma``.
        gamma: step factor.
        min_lr_ratio: cosine end point as a fraction of the base rate.
        warmup_iters: linear warm-up length in iterations.
        warmup_ratio: factor at iteration 0; rises linearly to 1 at ``warmup_iters``.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        iters_per_epoch: int,
        epochs: int,
        max_iters: int = 0,
        policy: str = "step",
        milestones: tuple[int, ...] = (),
        gamma: float = 0.1,
        min_lr_ratio: float = 0.0,
        warmup_iters: int = 0,
        warmup_ratio: float = 0.001,
    ) -> None:
        if iters_per_epoch < 1:
            raise ValueError(f"iters_per_epoch must be >= 1, got {iters_per_epoch}")
        if max_iters < 0:
            raise ValueError(f"max_iters must be >= 0 (0 = the whole epochs), got {max_iters}")
        if policy not in ("step", "cosine"):
            raise ValueError(f"policy must be 'step' or 'cosine', got {policy!r}")
        self.optimizer = optimizer
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self.iters_per_epoch = iters_per_epoch
        self.total_iters = iters_per_epoch * epochs
        if max_iters:
            self.total_iters = min(self.total_iters, max_iters)
        self.policy = policy
        self.milestone_iters = sorted(m * iters_per_epoch for m in milestones)
        self.gamma = gamma
        self.min_lr_ratio = min_lr_ratio
        self.warmup_iters = warmup_iters
        self.warmup_ratio = warmup_ratio
        self.iteration = 0
        self._apply()

    def factor(self, iteration: int) -> float:
        """Multiplier of the base rate at ``iteration`` (0-based)."""
        warmup = 1.0
        if iteration < self.warmup_iters:
            warmup = self.warmup_ratio + (1.0 - self.warmup_ratio) * iteration / self.warmup_iters
        if self.policy == "step":
            decay = self.gamma ** sum(iteration >= m for m in self.milestone_iters)
        else:
            progress = min(iteration / max(self.total_iters, 1), 1.0)
            decay = self.min_lr_ratio + (1.0 - self.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
        return warmup * decay

    def _apply(self) -> None:
        factor = self.factor(self.iteration)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base * factor

    def step(self) -> None:
        """Advance one iteration (call after ``optimizer.step()``)."""
        self.iteration += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {"iteration": self.iteration, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.iteration = int(state["iteration"])
        self.base_lrs = [float(lr) for lr in state["base_lrs"]]
        self._apply()
