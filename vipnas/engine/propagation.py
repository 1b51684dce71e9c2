"""Multi-frame propagation training of a T-ViPNet supernet (ViPNAS §3.4.2, eq. 1-2, Fig. 3).

A batch holds clips of T+1 frames of one person (:class:`vipnas.data.clips.ClipDataset`: each frame cropped from
its own box, one augmentation per clip). Frame 0 goes through the frozen S-ViPNet (eval mode, no gradient): its
heatmaps H^0 start the propagation. Frame t = 1..T goes through a sub-network of the T-supernet fed with H^{t-1}
warped from crop t-1 into crop t (:func:`vipnas.nn.warp.warp_heatmaps`, the function the runtime uses); its loss is
the target-weighted MSE to frame t's ground truth, and the clip's loss is the sum over the T frames (eq. 2).

The sandwich across frames (:func:`temporal_sandwich`): ``largest`` — every frame the largest CNN (the key arch)
with random fusion choices; ``smallest`` — likewise with the smallest CNN; ``random1`` .. ``randomN`` — each frame
its own spatial arch and fusion choice. With in-place distillation every non-largest path also fits the largest
path's heatmaps of the same frame. Each frame's network is fed the heatmaps its own path produced.

Decisions where the paper is silent:

* **H^{t-1} is detached**: no gradient flows from frame t's loss into frame t-1's network. Each frame's network then
  learns what it runs at: heatmaps as they come, the way the runtime feeds them; back-propagation through the clip
  would couple the sub-networks of different frames, multiply memory by T, and let frame t-1's network trade its
  own accuracy for being a better input. It also lets every frame back-propagate as soon as its loss exists.
* **BatchNorm statistics across frames**: as in the spatial sandwich, only the largest path updates the running
  statistics (every frame of it); the others normalise with their batch statistics and leave them alone.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from vipnas.engine.batchnorm import frozen_bn_stats
from vipnas.engine.losses import distillation_loss, keypoint_mse_loss
from vipnas.engine.steps import Criterion, MixedPrecision, TrainStep
from vipnas.nn.warp import warp_heatmaps
from vipnas.space.temporal import TemporalArch, TemporalSpace

__all__ = ["PropagationStep", "propagate", "temporal_sandwich"]


def temporal_sandwich(
    space: TemporalSpace, *, seed: int, step: int, num_random: int = 2
) -> list[tuple[str, TemporalArch]]:
    """The named temporal archs of training step ``step``: ``largest``, ``smallest``, ``random1`` .. ``randomN``
    (see the module docstring); a pure function of ``(seed, step)``."""
    rng = random.Random(f"vipnas-temporal-sandwich:{seed}:{step}")
    archs = [("largest", space.extreme("largest", rng)), ("smallest", space.extreme("smallest", rng))]
    archs += [(f"random{index + 1}", space.sample(rng)) for index in range(num_random)]
    return archs


def propagate(
    key: Callable[[torch.Tensor], torch.Tensor],
    networks: Sequence[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]],
    images: torch.Tensor,
    inverse_affines: Any,
    *,
    udp: bool = False,
) -> list[torch.Tensor]:
    """Heatmaps (float32) of every frame of a batch of clips, without training: frame 0 by ``key``, frame t by
    ``networks[t-1](crops, heatmaps)`` fed with frame t-1's heatmaps warped into frame t's crop. ``images``
    (N, T+1, 3, H, W); ``inverse_affines`` (N, T+1, 2, 3), the clips' ``Sample.inverse_affine``. (Training runs its
    own loop: it back-propagates each frame as soon as its loss exists.)"""
    affines = torch.as_tensor(np.asarray(inverse_affines), dtype=torch.float64)
    size = (int(images.shape[-2]), int(images.shape[-1]))
    outputs = [key(images[:, 0]).float()]
    for t, network in enumerate(networks, start=1):
        warped = warp_heatmaps(outputs[-1], affines[:, t - 1], affines[:, t], size, udp=udp)
        outputs.append(network(images[:, t], warped).float())
    return outputs


class PropagationStep(TrainStep):
    """One step of multi-frame propagation training (see the module docstring).

    Args:
        model: the ``TemporalSupernet``.
        key: the frozen S-ViPNet (a static network of the key arch); put in eval mode, never trained.
        precision: the run's :class:`MixedPrecision`.
        device: where the models run.
        seed: the run's seed.
        num_random: random temporal archs per step besides the two extremes.
        distill: the non-largest paths also fit the largest path's heatmaps.
        freeze_bn_stats: only the largest path updates the running BN statistics.
        udp: the clips' crops use the UDP affine (codec ``udp``), for the warp's pixel convention.
        criterion: the ground-truth loss.
    """

    def __init__(
        self,
        model: Any,
        key: torch.nn.Module,
        precision: MixedPrecision,
        device: torch.device,
        *,
        seed: int,
        num_random: int = 2,
        distill: bool = True,
        freeze_bn_stats: bool = True,
        udp: bool = False,
        criterion: Criterion = keypoint_mse_loss,
    ) -> None:
        self.model, self.key, self.precision, self.device, self.criterion = model, key, precision, device, criterion
        self.seed, self.num_random, self.distill, self.freeze_bn_stats = seed, num_random, distill, freeze_bn_stats
        self.udp = udp
        self.input_size = tuple(model.metadata.input_size)
        for parameter in key.parameters():
            parameter.requires_grad_(False)
        self.key.eval()
        self.archs = []

    def plan(self, iteration: int) -> list[tuple[str, Any]]:
        return list(temporal_sandwich(self.model.space, seed=self.seed, step=iteration, num_random=self.num_random))

    def run(self, batch: Any, iteration: int) -> dict[str, float]:
        self.archs = self.plan(iteration)
        images = batch.image.to(self.device, non_blocking=True)  # (N, T+1, 3, H, W)
        target = batch.heatmaps.to(self.device, non_blocking=True)  # (N, T+1, K, h, w)
        weight = batch.target_weight.to(self.device, non_blocking=True)  # (N, T+1, K)
        affines = torch.as_tensor(batch.inverse_affine, dtype=torch.float64)  # (N, T+1, 2, 3)
        length = self.model.space.length
        if images.shape[1] != length + 1:
            raise ValueError(f"clips of {images.shape[1]} frames, the temporal space has T={length} (T+1 frames)")
        self.key.eval()
        with torch.no_grad(), self.precision.autocast():
            start = self.key(images[:, 0]).float()  # H^0 from the S-ViPNet
        losses: dict[str, float] = {}
        teacher: list[torch.Tensor] = []
        for name, arch in self.archs:
            previous, total = start, 0.0
            for t, frame in enumerate(arch.frames, start=1):
                self.model.activate(frame)
                warped = warp_heatmaps(previous, affines[:, t - 1], affines[:, t], self.input_size, udp=self.udp)
                freeze = self.freeze_bn_stats and name != "largest"
                with frozen_bn_stats(self.model.network, freeze), self.precision.autocast():
                    heatmaps = self.model(images[:, t], warped)
                    loss = self.criterion(heatmaps, target[:, t], weight[:, t])
                    if teacher and name != "largest":
                        loss = loss + distillation_loss(heatmaps, teacher[t - 1])
                self.precision.backward(loss)  # H^{t-1} is detached: each frame's graph is freed at once
                previous = heatmaps.detach().float()
                if name == "largest" and self.distill:
                    teacher.append(previous)
                total += loss.item()
            losses[name] = total
        self.model.activate(self.model.space.extreme("largest", random.Random(0)).frames[0])
        return losses
