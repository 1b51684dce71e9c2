"""Distributed helpers as free functions (detectron2's ``comm``), and ``torchrun`` detection (nanoGPT).

A process launched by ``torchrun`` has ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` in its environment;
:func:`init_distributed` reads them, picks nccl on GPU and gloo on CPU, and pins the local GPU. Without them
everything here degrades to single-process no-ops, so the training code has one path.

Gradients are synchronised by :func:`all_reduce_gradients`, not by ``DistributedDataParallel``: a supernet step
runs four sub-networks with four backward passes, and elastic depth leaves whole blocks without gradients, which
DDP's reducer handles badly (``find_unused_parameters`` per backward, or an error). Every rank samples the same
archs, so the same parameters have gradients on every rank; one flat all-reduce per step averages them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

__all__ = [
    "DistributedInfo",
    "all_gather_object",
    "all_reduce_gradients",
    "all_reduce_mean",
    "all_reduce_sum",
    "average_buffers",
    "barrier",
    "broadcast_module",
    "broadcast_object",
    "destroy_distributed",
    "get_rank",
    "get_world_size",
    "init_distributed",
    "is_main_process",
]


@dataclass(frozen=True)
class DistributedInfo:
    """Where this process runs: rank, local rank, world size, and its device."""

    rank: int
    local_rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def get_rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def get_world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main_process() -> bool:
    return get_rank() == 0


def init_distributed(device: str = "auto") -> DistributedInfo:
    """Join the ``torchrun`` process group if this process was launched by ``torchrun``.

    Args:
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.

    Returns:
        This process's rank, world size and device (``cuda:<LOCAL_RANK>`` on GPU).
    """
    use_cuda = torch.cuda.is_available() if device == "auto" else device == "cuda"
    if use_cuda and not torch.cuda.is_available():
        raise ValueError("runtime.device is 'cuda' but no CUDA device is available; use 'cpu' or 'auto'")
    launched = int(os.environ.get("RANK", -1)) != -1  # torchrun sets RANK, LOCAL_RANK, WORLD_SIZE
    if not launched:
        return DistributedInfo(0, 0, 1, torch.device("cuda" if use_cuda else "cpu"))
    rank, local_rank, world = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"]), int(os.environ["WORLD_SIZE"])
    if use_cuda:
        torch.cuda.set_device(local_rank)
        target = torch.device("cuda", local_rank)
    else:
        target = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo", rank=rank, world_size=world)
    return DistributedInfo(rank, local_rank, world, target)


def destroy_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if get_world_size() > 1:
        dist.barrier()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over ranks in place (identity in a single process)."""
    if get_world_size() > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Average ``tensor`` over ranks in place (identity in a single process)."""
    world = get_world_size()
    if world > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        tensor.div_(world)
    return tensor


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order, on every rank."""
    world = get_world_size()
    if world == 1:
        return [obj]
    gathered: list[Any] = [None] * world
    dist.all_gather_object(gathered, obj)
    return gathered


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank."""
    if get_world_size() == 1:
        return obj
    box = [obj if get_rank() == src else None]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_reduce_gradients(parameters: list[torch.nn.Parameter]) -> int:
    """Average the gradients of ``parameters`` over ranks with one flat all-reduce; returns how many had one.

    Parameters without a gradient (blocks that elastic depth skipped) keep ``grad = None`` — the optimizer then
    leaves them alone exactly as in a single process. That set is the same on every rank because every rank runs
    the same archs; a tiny all-reduce of (count, size) checks it first, so a mismatch raises instead of hanging or
    mixing up gradients.

    Raises:
        RuntimeError: ranks disagree on which parameters have gradients (they ran different archs).
    """
    grads = [p.grad for p in parameters if p.grad is not None]
    world = get_world_size()
    if world == 1:
        return len(grads)
    device = parameters[0].device
    shape = torch.tensor([len(grads), sum(g.numel() for g in grads)], dtype=torch.float64, device=device)
    extremes = torch.cat([shape, -shape])
    dist.all_reduce(extremes, op=dist.ReduceOp.MAX)  # (max count, max size, -min count, -min size)
    if not torch.equal(extremes[:2], -extremes[2:]):
        raise RuntimeError(
            f"rank {get_rank()}: {len(grads)} parameters have gradients here, but between {-extremes[2].item():.0f} "
            f"and {extremes[0].item():.0f} on other ranks: ranks ran different sub-networks (archs must come from "
            "the shared seed)"
        )
    if not grads:
        return 0
    flat = torch.cat([g.reshape(-1) for g in grads])  # one message for the whole model
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat.div_(world)
    offset = 0
    for grad in grads:
        grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
        offset += grad.numel()
    return len(grads)


def average_buffers(module: torch.nn.Module) -> None:
    """Average floating-point buffers (BatchNorm running statistics) over ranks, so every rank holds the same
    model (MMPose's ``SyncBuffersHook`` does the same once per epoch; running statistics are exponential averages,
    linear in the batch statistics, so averaging them equals running them on the averaged statistics)."""
    if get_world_size() == 1:
        return
    buffers = [b for b in module.buffers() if b.is_floating_point()]
    if not buffers:
        return
    flat = torch.cat([b.reshape(-1) for b in buffers])
    all_reduce_mean(flat)
    offset = 0
    for buffer in buffers:
        buffer.copy_(flat[offset : offset + buffer.numel()].view_as(buffer))
        offset += buffer.numel()


def broadcast_module(module: torch.nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s parameters and buffers to every rank (one flat broadcast per dtype)."""
    if get_world_size() == 1:
        return
    tensors = [t for t in [*module.parameters(), *module.buffers()]]
    for dtype in sorted({t.dtype for t in tensors}, key=str):
        group = [t for t in tensors if t.dtype == dtype]
        flat = torch.cat([t.detach().reshape(-1) for t in group])
        dist.broadcast(flat, src=src)
        offset = 0
        with torch.no_grad():
            for tensor in group:
                tensor.copy_(flat[offset : offset + tensor.numel()].view_as(tensor))
                offset += tensor.numel()
