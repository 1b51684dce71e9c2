"""BatchNorm statistics of sub-networks: exact re-estimation on cached batches, and freezing them in training.

A supernet's running statistics are shared by every sub-network (elastic BN slices one buffer), but each arch
produces different activations, so the stored statistics fit at most one arch. Before any sub-network is
evaluated its statistics are re-estimated (BigNAS, OFA, AttentiveNAS) with :func:`recalibrate_bn`::

    batches = collect_batches(calibration_loader, 16)           # a fixed list: every candidate sees the same
    subnet = supernet.extract_subnet(arch)                      # or recalibrate the supernet in place
    recalibrate_bn(subnet, None, batches)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from vipnas.data.dataset import describe_loader
from vipnas.elastic.ops import ElasticBatchNorm2d

__all__ = ["BATCH_NORMS", "collect_batches", "frozen_bn_stats", "recalibrate_bn"]

BATCH_NORMS = (nn.BatchNorm2d, ElasticBatchNorm2d)


def collect_batches(loader: Iterable[Any], num_batches: int) -> list[torch.Tensor]:
    """The images of the first ``num_batches`` batches of ``loader`` as a list of (N, 3, H, W) CPU tensors.

    Use a loader whose order and crops are fixed (no shuffling, no augmentation, or a seeded one) so that every
    recalibration sees the same data.
    """
    if num_batches < 1:
        raise ValueError(f"num_batches must be >= 1, got {num_batches}")
    batches = []
    for batch in loader:
        batches.append(_images(batch).detach().cpu())
        if len(batches) == num_batches:
            break
    if not batches:
        raise ValueError(f"{describe_loader(loader)} yielded no batches for BatchNorm recalibration")
    return batches


def _images(batch: Any) -> torch.Tensor:
    images = batch.image if hasattr(batch, "image") else batch
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise TypeError(f"expected (N, 3, H, W) image tensors or Batch objects, got {type(images).__name__}")
    return images


@torch.no_grad()
def recalibrate_bn(
    model: nn.Module,
    arch: Any | None,
    batches: Sequence[torch.Tensor | Any],
    *,
    device: torch.device | str | None = None,
) -> nn.Module:
    """Re-estimate the BatchNorm statistics of one arch by exact averaging over a fixed list of batches.

    Each BatchNorm's ``running_mean`` becomes the mean of its input over every image and pixel of ``batches``, and
    ``running_var`` the average of the per-batch unbiased variances weighted by batch size — for equal batch
    sizes what PyTorch's cumulative average (``momentum=None``) computes, but accumulated in float64, so it is the
    exact average for any number of batches and independent of their order. Layers normalise with batch
    statistics during the pass, as in training. Nothing but the running statistics of the BatchNorms the arch uses
    is written: weights, other buffers (``num_batches_tracked`` included), the BN slices of inactive channels and
    skipped blocks, the train/eval mode and the active arch are left as they were.

    Args:
        model: a static network, or a supernet (``PoseSupernet``, ``HRNetSupernet``) recalibrated in place for
            ``arch``.
        arch: the supernet's arch to recalibrate; for a static network ``None`` or its own arch.
        batches: (N, 3, H, W) image tensors or :class:`vipnas.data.Batch` objects.
        device: where to run (default: the model's device).

    Returns:
        ``model``.

    Raises:
        ValueError: an arch the static network is not, or an empty ``batches``.
    """
    from vipnas.models.hrnet_supernet import HRNetSupernet
    from vipnas.models.supernet import PoseSupernet

    if not batches:
        raise ValueError("recalibrate_bn needs at least one batch")
    if isinstance(model, PoseSupernet | HRNetSupernet):
        with model.using(arch if arch is not None else model.arch):
            return _recalibrate(model, batches, device)
    own = getattr(model, "arch", None)
    if arch is not None and own is not None and arch != own:
        raise ValueError("recalibrate_bn: a static network can only be recalibrated for its own arch (pass None)")
    return _recalibrate(model, batches, device)


def _recalibrate(model: nn.Module, batches: Sequence[Any], device: torch.device | str | None) -> nn.Module:
    norms: list[Any] = [m for m in model.modules() if isinstance(m, BATCH_NORMS)]
    sums: dict[Any, list[Any]] = {}  # module -> [images seen, Σ n·mean, Σ n·var] in float64

    def record(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        x = inputs[0].double()  # (N, C, H, W)
        count = x.shape[0]
        mean = x.mean(dim=(0, 2, 3))
        var = x.var(dim=(0, 2, 3), unbiased=True)  # what BatchNorm folds into running_var
        entry = sums.setdefault(module, [0, torch.zeros_like(mean), torch.zeros_like(var)])
        entry[0] += count
        entry[1] += count * mean
        entry[2] += count * var

    modes = {m: m.training for m in model.modules()}
    saved = {m: (m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone()) for m in norms}
    hooks = [m.register_forward_pre_hook(record) for m in norms]
    device = device or next(model.parameters()).device
    try:
        model.eval()
        for m in norms:
            m.train()  # batch statistics in the forward pass, as in training
        for batch in batches:
            model(_images(batch).to(device))
    finally:
        for hook in hooks:
            hook.remove()
        for m in norms:  # undo the momentum updates of the pass, then write the exact averages
            m.running_mean.copy_(saved[m][0])
            m.running_var.copy_(saved[m][1])
            m.num_batches_tracked.copy_(saved[m][2])
        for m, training in modes.items():
            m.training = training
    for m, (count, mean_sum, var_sum) in sums.items():
        channels = mean_sum.numel()  # the active slice of an elastic BN
        m.running_mean[:channels] = (mean_sum / count).to(m.running_mean.dtype)
        m.running_var[:channels] = (var_sum / count).to(m.running_var.dtype)
    return model


@contextmanager
def frozen_bn_stats(model: nn.Module, frozen: bool = True) -> Iterator[None]:
    """Inside the block, BatchNorms still normalise with batch statistics but leave their running statistics (and
    ``num_batches_tracked``) untouched. Used for every sub-network but the largest while training a supernet.

    ``momentum = 0`` makes the update ``running·1 + batch·0`` — the running value exactly, for finite inputs.
    """
    if not frozen:
        yield
        return
    norms: list[Any] = [m for m in model.modules() if isinstance(m, BATCH_NORMS)]
    saved = [(m.momentum, m.num_batches_tracked.clone()) for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, (momentum, count) in zip(norms, saved, strict=True):
            m.momentum = momentum
            m.num_batches_tracked.copy_(count)
