"""Training steps as strategies: what one optimisation step computes, apart from the loop that runs it.

A step (:class:`TrainStep`) takes one batch and the global iteration, runs the forward and backward passes of the
networks it trains, and returns one loss per network (Python floats, for the log, the trace and the non-finite
check). The gradients it leaves in ``.grad`` are what the loop applies. What every step needs alike is not the
step's business; :meth:`vipnas.engine.trainer.Trainer.run_step` does it, once per step, in this order::

    optimizer.zero_grad(set_to_none=True)
    losses = step.run(batch, iteration)          # forwards under autocast, backwards through the loss scaler
    non-finite check of the losses               # every rank decides alike; raises before any weight changes
    all-reduce of the gradients                  # one flat all-reduce (no-op in one process)
    unscale + clip + optimizer/scaler step       # MixedPrecision.step
    schedule.step(); average BN buffers across ranks

Keeping those in the loop means a new step cannot forget one, apply them twice, or change their order (which
would break bitwise resume and cross-rank agreement), and the non-finite check can name the last good checkpoint.
Autocast and loss scaling are inside the forward and backward passes, which the step owns (the sandwich runs four
backward passes per step), so the step gets them from a shared :class:`MixedPrecision` rather than deciding them.

Implementations:

* :class:`StaticStep`: one static network, ground-truth MSE.
* :class:`SandwichStep`: a supernet, the sandwich rule (``vipnas.engine.sandwich``): largest, smallest and N random
  sub-networks on the same batch, in-place distillation from the largest, the four losses summed (their gradients
  accumulate), running BN statistics from the largest only.

Writing a new step (e.g. a ``PropagationStep`` for T-ViPNets: clips of T+1 frames, frame 0 through a frozen key
network, frames 1..T through sub-networks fed with propagated heatmaps, a sandwich across frames):

1. Subclass :class:`TrainStep`; take the trained model, the :class:`MixedPrecision`, the device and the loss
   functions in ``__init__`` (a frozen key network is an extra module the step holds; it is not in the optimizer).
2. :meth:`TrainStep.plan` names the networks of step ``iteration``, in order, as a pure function of the run's seed
   and the iteration (use :func:`vipnas.engine.sandwich.sandwich_archs` or a seeded ``random.Random`` of your own,
   never the global RNGs): every rank then draws the same, and a resumed run draws what the interrupted one would
   have.
3. :meth:`TrainStep.run` sets ``self.archs = self.plan(iteration)`` (the trace records it), moves the batch to
   the device, runs each forward inside ``self.precision.autocast()``, back-propagates each loss with
   ``self.precision.backward(loss)`` as soon as it is computed (the step minimises the sum; freeing each graph keeps
   memory at one network's), and returns ``{name: loss.item()}``. It leaves the model as validation expects it:
   a supernet at its largest arch, in train mode.
4. It does not zero or clip gradients, all-reduce, or step the optimizer or schedule.
5. State a resume needs beyond the model, optimizer, schedule, loss scale and RNG states goes in
   :meth:`TrainStep.state_dict` / :meth:`TrainStep.load_state_dict` (stored under ``training["step"]``, only when
   not empty; the two steps here have none: their archs are functions of ``(seed, iteration)``).
6. ``Trainer._build_step`` chooses the step from the model and the config.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any

import torch

from vipnas.engine.batchnorm import frozen_bn_stats
from vipnas.engine.losses import distillation_loss, keypoint_mse_loss
from vipnas.engine.sandwich import sandwich_archs
from vipnas.space.arch import Arch

__all__ = ["MixedPrecision", "SandwichStep", "StaticStep", "TrainStep"]

Criterion = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
"""``(heatmaps, target, target_weight) -> scalar loss``, as :func:`vipnas.engine.losses.keypoint_mse_loss`."""


class MixedPrecision:
    """``runtime.precision`` for every step: autocast around forward passes, loss scaling (fp16) around backward
    passes, and the scaler-aware optimizer step with gradient clipping.

    Args:
        precision: ``fp32``, ``bf16`` (autocast) or ``fp16`` (autocast and a ``GradScaler``; CUDA only).
        device: where the model runs.

    Raises:
        ValueError: ``fp16`` on a device other than CUDA.
    """

    def __init__(self, precision: str, device: torch.device) -> None:
        if precision == "fp16" and device.type != "cuda":
            raise ValueError("runtime.precision 'fp16' needs a CUDA device; use 'bf16' on CPU")
        self.precision, self.device = precision, device
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The context of a forward pass (and its loss)."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def backward(self, loss: torch.Tensor) -> None:
        """Back-propagate ``loss`` (scaled under fp16); gradients accumulate across calls."""
        self.scaler.scale(loss).backward()

    def step(self, optimizer: torch.optim.Optimizer, parameters: Iterable[torch.Tensor], grad_clip: float) -> None:
        """Clip the global gradient norm to ``grad_clip`` (0: off; unscaled first under fp16), step the optimizer
        (skipped by the scaler when fp16 gradients overflowed) and update the loss scale."""
        if grad_clip > 0:
            self.scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(parameters, grad_clip)
        self.scaler.step(optimizer)
        self.scaler.update()


class TrainStep(ABC):
    """One training step's forward and backward passes; see the module docstring for the contract.

    Attributes:
        archs: the named networks the last :meth:`run` trained, ``(name, arch)`` in order (``arch`` is ``None`` for
            a static network); the trainer traces their digests.
    """

    archs: list[tuple[str, Arch | None]]

    @abstractmethod
    def plan(self, iteration: int) -> list[tuple[str, Arch | None]]:
        """The named networks step ``iteration`` (0-based, global) trains, in order; a pure function of the run's
        seed and ``iteration``."""

    @abstractmethod
    def run(self, batch: Any, iteration: int) -> dict[str, float]:
        """Forward and backward passes of step ``iteration`` on ``batch``; returns each network's loss."""

    def state_dict(self) -> dict[str, Any]:
        """What a resume must restore of the step itself (default: nothing)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`state_dict`."""
        if state:
            raise ValueError(f"{type(self).__name__} keeps no state, but the checkpoint holds {sorted(state)}")


def _inputs(batch: Any, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images (N, 3, H, W), target heatmaps (N, K, H/4, W/4) and joint weights (N, K) of a batch, on ``device``."""
    images = batch.image.to(device, non_blocking=True)
    target = batch.heatmaps.to(device, non_blocking=True)
    weight = batch.target_weight.to(device, non_blocking=True)
    return images, target, weight


class StaticStep(TrainStep):
    """One static network supervised by the ground truth; its loss is named ``network``.

    Args:
        model: a ``PoseNetwork`` (any module mapping images to heatmaps).
        precision: the run's :class:`MixedPrecision`.
        device: where the model runs.
        criterion: the ground-truth loss.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        precision: MixedPrecision,
        device: torch.device,
        *,
        criterion: Criterion = keypoint_mse_loss,
    ) -> None:
        self.model, self.precision, self.device, self.criterion = model, precision, device, criterion
        self.archs = []

    def plan(self, iteration: int) -> list[tuple[str, Arch | None]]:
        return [("network", None)]

    def run(self, batch: Any, iteration: int) -> dict[str, float]:
        self.archs = self.plan(iteration)
        images, target, weight = _inputs(batch, self.device)
        with self.precision.autocast():
            heatmaps = self.model(images)  # (N, K, H/4, W/4)
            loss = self.criterion(heatmaps, target, weight)
        self.precision.backward(loss)
        return {"network": loss.item()}


class SandwichStep(TrainStep):
    """A supernet trained by the sandwich rule with in-place distillation (BigNAS; ViPNAS §3.4.1).

    Per step: ``largest``, ``smallest``, ``random1`` .. ``randomN`` of :func:`~vipnas.engine.sandwich.sandwich_archs`
    on the same batch. The largest's loss is its ground-truth loss; every other one's adds the MSE to the largest's
    detached heatmaps (equal weights) when ``distill``. Each loss is back-propagated as computed, so the update
    follows the gradient of their **sum**. With ``freeze_bn_stats`` every sub-network but the largest normalises with
    its batch statistics but leaves the running statistics alone (see ``vipnas.engine.batchnorm``). The supernet is
    left at its largest arch.

    Args:
        model: the ``PoseSupernet``.
        precision: the run's :class:`MixedPrecision`.
        device: where the model runs.
        seed: the run's seed (the archs of a step are a function of ``(seed, iteration)``).
        num_random: random sub-networks per step besides the two extremes.
        distill: supervise the non-largest sub-networks by the largest's heatmaps too.
        freeze_bn_stats: only the largest sub-network updates the running BN statistics (``supernet.bn_stats:
            largest``); ``False`` lets every sub-network update them (``all``).
        criterion: the ground-truth loss.
    """

    def __init__(
        self,
        model: Any,
        precision: MixedPrecision,
        device: torch.device,
        *,
        seed: int,
        num_random: int = 2,
        distill: bool = True,
        freeze_bn_stats: bool = True,
        criterion: Criterion = keypoint_mse_loss,
    ) -> None:
        self.model, self.precision, self.device, self.criterion = model, precision, device, criterion
        self.seed, self.num_random, self.distill, self.freeze_bn_stats = seed, num_random, distill, freeze_bn_stats
        self.archs = []

    def plan(self, iteration: int) -> list[tuple[str, Arch | None]]:
        return list(sandwich_archs(self.model.space, seed=self.seed, step=iteration, num_random=self.num_random))

    def run(self, batch: Any, iteration: int) -> dict[str, float]:
        self.archs = self.plan(iteration)
        images, target, weight = _inputs(batch, self.device)
        losses: dict[str, float] = {}
        teacher = None
        for name, arch in self.archs:
            self.model.activate(arch)
            with frozen_bn_stats(self.model, self.freeze_bn_stats and name != "largest"), self.precision.autocast():
                heatmaps = self.model(images)  # (N, K, H/4, W/4)
                loss = self.criterion(heatmaps, target, weight)
                if teacher is not None:
                    loss = loss + distillation_loss(heatmaps, teacher)  # soft labels, equal weight (§3.4.1)
            self.precision.backward(loss)  # gradients accumulate: the step minimises the SUM of the losses
            if name == "largest" and self.distill:
                teacher = heatmaps.detach()
            losses[name] = loss.item()
        self.model.activate(self.model.space.largest())
        return losses
