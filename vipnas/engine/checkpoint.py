"""Training checkpoints: a model checkpoint (``vipnas.models.checkpoint``) plus everything a resume needs.

Layout (one ``torch.save`` dict, written atomically: temp file, fsync, rename)::

    {**checkpoint_payload(model),           # format, kind, metadata, arch/space, state_dict: vipnas.load_model works
     "training": {"optimizer", "scheduler", "grad_scaler", "epoch", "iter_in_epoch", "iteration",
                  "iters_per_epoch", "world_size", "rng": [per-rank RNG states], "best", "train_time",
                  "step": {...}},       # the training step's own state; only when it has any (none so far)
     "config": {...resolved config...}}

:class:`CheckpointManager` writes ``last.pth`` (and ``best.pth``) of a run, tracks the best validation and restores
a run from a checkpoint; the trainer only tells it when. ``--resume-from`` restores all of it; ``--load-from``
takes only the weights (:func:`load_weights`), and also accepts a plain model checkpoint, or a supernet checkpoint
for a static network of an arch in its space (the sub-network's weights are extracted).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from torch import nn

from vipnas.config import Config, config_to_dict, diff_configs
from vipnas.engine.distributed import DistributedInfo, all_gather_object
from vipnas.models.checkpoint import atomic_save, checkpoint_payload, model_from_payload, read_checkpoint
from vipnas.models.hrnet_network import hrnet_space_to_dict
from vipnas.models.hrnet_supernet import HRNetSupernet
from vipnas.models.pose import PoseNetwork
from vipnas.models.supernet import PoseSupernet
from vipnas.nn.hrnet import HRNetPose

if TYPE_CHECKING:
    from vipnas.engine.schedule import LRSchedule
    from vipnas.engine.steps import TrainStep

__all__ = [
    "CheckpointManager",
    "NonFiniteLossError",
    "Position",
    "capture_rng_state",
    "check_same_model",
    "load_weights",
    "read_training_checkpoint",
    "restore_rng_state",
]


def capture_rng_state() -> dict[str, Any]:
    """Python, numpy, torch (and CUDA) generator states, in types ``torch.load(weights_only=True)`` accepts."""
    _, keys, position, has_gauss, cached = cast(tuple[Any, ...], np.random.get_state())
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    random.setstate(state["python"])
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            "MT19937",
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["position"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def read_training_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by ``vipnas train`` (for ``--resume-from``).

    Raises:
        FileNotFoundError: no such file.
        ValueError: corrupt, foreign, or a model checkpoint without training state (says to use ``--load-from``).
    """
    payload = read_checkpoint(path)
    training = payload.get("training")
    required = {"optimizer", "scheduler", "epoch", "iter_in_epoch", "iteration", "rng"}
    if not isinstance(training, dict) or not required <= set(training):
        raise ValueError(
            f"{path} is a model checkpoint without training state (no optimizer, schedule, epoch or RNG states), so "
            "it cannot be resumed; start a new run from its weights with --load-from"
        )
    return payload


def _describe(payload: dict[str, Any]) -> str:
    if payload["kind"] == "supernet":
        return f"a supernet of the {payload['space']['name']!r} search space"
    if payload["kind"] == "temporal_supernet":
        return f"a temporal supernet (T={payload.get('length')}) of the {payload['space']['name']!r} search space"
    if payload["kind"] == "t_vipnet":
        return f"the T-ViPNet {payload['metadata'].get('name', '?')!r}"
    return f"the network {payload['metadata'].get('name', '?')!r}"


def check_same_model(
    payload: dict[str, Any],
    model: nn.Module,
    source: str,
    metadata: tuple[str, ...] = ("num_joints", "input_size"),
    *,
    temporal_length: bool = True,
) -> None:
    """Raise unless ``payload`` holds a checkpoint of exactly ``model``'s kind, arch or space, and the same
    ``metadata`` fields (weights fit any input size, so ``--load-from`` checks only the joints). A temporal
    supernet's key arch and, with ``temporal_length``, its T must match too (its weights do not depend on T, so
    ``--load-from`` may change it).

    Raises:
        ValueError: names what differs (kind, search space, arch, key arch, T, joints, input size).
    """
    own = checkpoint_payload_header(model)
    problems = []
    if payload["kind"] != own["kind"]:
        problems.append(f"it holds {_describe(payload)}, the config builds {_describe(own)}")
    elif own["kind"] in ("supernet", "temporal_supernet") and payload["space"] != own["space"]:
        problems.append(
            f"its search space {payload['space']['name']!r} differs from the config's {own['space']['name']!r}"
        )
    elif own["kind"] == "network" and payload["arch"] != own["arch"]:
        problems.append("its arch differs from the config's model")
    elif own["kind"] == "temporal_supernet" and payload["arch"] != own["arch"]:
        problems.append("its key arch differs from the arch of the config's key network (temporal.key)")
    elif own["kind"] == "temporal_supernet" and temporal_length and payload.get("length") != own["length"]:
        problems.append(f"its T={payload.get('length')} differs from the config's temporal.length {own['length']}")
    for key in metadata:
        theirs, ours = payload["metadata"].get(key), own["metadata"][key]
        if theirs is not None and list(np.ravel(theirs)) != list(np.ravel(ours)):
            problems.append(f"{key} {theirs} != {ours} of the config")
    if problems:
        raise ValueError(f"checkpoint {source} does not fit the model being trained: " + "; ".join(problems))


def checkpoint_payload_header(model: nn.Module) -> dict[str, Any]:
    """The identifying part of ``model``'s checkpoint (kind, metadata, arch, space), without copying weights."""
    if isinstance(model, PoseSupernet):
        return {"kind": "supernet", "metadata": model.metadata.to_dict(), "arch": None, "space": model.space.to_dict()}
    if isinstance(model, HRNetSupernet):
        space = hrnet_space_to_dict(model.space)
        return {"kind": "supernet", "metadata": model.metadata.to_dict(), "arch": None, "space": space}
    if isinstance(model, PoseNetwork | HRNetPose):
        arch = model.arch.to_dict() if model.arch is not None else None
        return {"kind": "network", "metadata": model.metadata.to_dict(), "arch": arch, "space": None}
    from vipnas.models.temporal_supernet import TemporalSupernet

    if isinstance(model, TemporalSupernet):
        temporal = model.space
        return {
            "kind": "temporal_supernet",
            "metadata": model.metadata.to_dict(),
            "arch": temporal.key.to_dict(),
            "space": temporal.space.to_dict(),
            "length": temporal.length,
        }
    raise TypeError(
        f"cannot checkpoint a {type(model).__name__}; expected a PoseNetwork, PoseSupernet, HRNetNetwork, "
        "HRNetSupernet or TemporalSupernet"
    )


def load_weights(model: nn.Module, path: str | Path) -> str:
    """``--load-from``: copy weights (only) from a vipnas checkpoint into ``model``; returns what was done.

    Accepted: the same network or supernet; a supernet checkpoint for a static network whose arch lies in the
    supernet's space (its sub-network is extracted); a temporal supernet of the same space and key arch (any T).
    Everything is loaded strictly.

    Raises:
        ValueError: the checkpoint is of another model (names the difference), or corrupt/foreign.
    """
    payload = read_checkpoint(path)
    if payload["kind"] == "supernet" and isinstance(model, PoseNetwork | HRNetPose):
        supernet = model_from_payload(payload, source=str(path))
        assert isinstance(supernet, PoseSupernet | HRNetSupernet)
        if model.arch is None or not supernet.space.contains(model.arch):
            raise ValueError(f"checkpoint {path} is a supernet whose search space does not contain the model's arch")
        if supernet.metadata.num_joints != model.metadata.num_joints:
            raise ValueError(
                f"checkpoint {path} predicts {supernet.metadata.num_joints} joints, "
                f"the model {model.metadata.num_joints}"
            )
        model.load_state_dict(supernet.subnet_state_dict(model.arch), strict=True)
        return f"extracted the sub-network of the model's arch from supernet checkpoint {path}"
    check_same_model(payload, model, str(path), metadata=("num_joints",), temporal_length=False)
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as error:
        raise ValueError(f"checkpoint {path}: weights do not fit the model: {error}") from None
    return f"loaded weights from {path}"


class NonFiniteLossError(ValueError):
    """A loss became NaN or infinite: training stopped before the optimizer step, the last checkpoint is kept."""


@dataclass(frozen=True)
class Position:
    """Where a run stands: completed epochs, iterations into the current epoch, iterations done, seconds trained."""

    epoch: int
    iter_in_epoch: int
    iteration: int
    train_time: float


class CheckpointManager:
    """The checkpoints of one run: ``last.pth`` at every save, ``best.pth`` after an improving validation, the best
    validation so far, and the restore of all of it. Every rank calls :meth:`save` and :meth:`resume` (the RNG
    states of all ranks are gathered); only the main rank writes.

    Args:
        directory: ``<work_dir>/checkpoints``.
        info: this process's rank and the world size.
        logger: where saves and resume warnings are reported.
        model: the network or supernet being trained.
        optimizer, schedule, scaler: their state dicts are saved and restored.
        config: the run's resolved config (saved; a resume warns about the fields that differ).
        iters_per_epoch: of this run (a resume from a run with another value warns and clamps the position).

    Attributes:
        saved_iteration: the iteration of the last checkpoint this run wrote or resumed from (``None``: none yet).
        best: ``{"metric", "value", "iteration", "epoch"}`` of the best validation so far, or ``None``.
    """

    def __init__(
        self,
        directory: Path,
        info: DistributedInfo,
        logger: logging.Logger,
        *,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        schedule: LRSchedule,
        scaler: torch.amp.GradScaler,
        config: Config,
        iters_per_epoch: int,
    ) -> None:
        self.directory, self.info, self.logger = Path(directory), info, logger
        self.model, self.optimizer, self.schedule, self.scaler = model, optimizer, schedule, scaler
        self.config, self.iters_per_epoch = config, iters_per_epoch
        self.saved_iteration: int | None = None
        self.best: dict[str, Any] | None = None
        self._improved = False  # set by offer(), consumed by the next save()

    @property
    def last(self) -> Path:
        return self.directory / "last.pth"

    def offer(self, metric: str, value: float, *, iteration: int, epoch: int) -> bool:
        """Record a validation score (lower is better for ``loss``, higher otherwise); returns whether it is the
        best so far, in which case the next :meth:`save` writes ``best.pth`` too."""
        best = self.best
        improved = best is None or (value < best["value"] if metric == "loss" else value > best["value"])
        if improved:
            self.best = {"metric": metric, "value": value, "iteration": iteration, "epoch": epoch}
        self._improved = improved
        return improved

    def save(self, position: Position, step: TrainStep) -> None:
        """Write ``last.pth`` (and ``best.pth`` after an improving validation) at ``position``, with the training
        step's :meth:`~vipnas.engine.steps.TrainStep.state_dict` when it is not empty.

        Raises:
            NonFiniteLossError: a weight or buffer is not finite; nothing is written (``last.pth`` stays good).
        """
        broken = [
            name
            for name, tensor in self.model.state_dict().items()
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
        ]
        if broken:  # never replace a good checkpoint with NaN weights (every rank holds the same weights)
            raise NonFiniteLossError(
                f"iteration {position.iteration}: {len(broken)} weight tensors are not finite (e.g. {broken[0]}); "
                f"not saving, {self.last} keeps iteration {self.saved_iteration}"
            )
        rng = all_gather_object(capture_rng_state())
        improved, self._improved = self._improved, False
        self.saved_iteration = position.iteration  # rank 0 writes it for every rank
        if not self.info.is_main:
            return
        training = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.schedule.state_dict(),
            "grad_scaler": self.scaler.state_dict(),
            "epoch": position.epoch,
            "iter_in_epoch": position.iter_in_epoch,
            "iteration": position.iteration,
            "iters_per_epoch": self.iters_per_epoch,
            "world_size": self.info.world_size,
            "rng": rng,
            "best": self.best,
            "train_time": position.train_time,
        }
        step_state = step.state_dict()
        if step_state:  # absent otherwise: checkpoints of stateless steps keep the original layout
            training["step"] = step_state
        payload = {**checkpoint_payload(self.model), "training": training, "config": config_to_dict(self.config)}
        atomic_save(payload, self.last)
        if improved:
            atomic_save(payload, self.directory / "best.pth")
        self.logger.info(
            "saved checkpoint %s (iteration %d)%s", self.last, position.iteration, " and best.pth" if improved else ""
        )

    def resume(self, path: str | Path, step: TrainStep) -> Position:
        """Restore weights, optimizer, schedule, loss scale, ``step``'s state, best validation and RNG states (this
        rank's, or rank 0's when the process count changed) from a training checkpoint; returns where the run stood.

        Raises:
            ValueError: not a training checkpoint, or one of another model (see :func:`check_same_model`).
        """
        payload = read_training_checkpoint(path)
        check_same_model(payload, self.model, str(path))
        self.model.load_state_dict(payload["state_dict"], strict=True)
        training = payload["training"]
        self.optimizer.load_state_dict(training["optimizer"])
        self.schedule.load_state_dict(training["scheduler"])
        self.scaler.load_state_dict(training["grad_scaler"])
        step.load_state_dict(training.get("step", {}))
        epoch, iter_in_epoch = int(training["epoch"]), int(training["iter_in_epoch"])
        iteration, self.best = int(training["iteration"]), training.get("best")
        self.saved_iteration = iteration
        train_time = float(training.get("train_time", 0.0))
        states = training["rng"]
        restore_rng_state(states[self.info.rank] if len(states) == self.info.world_size else states[0])
        if training.get("iters_per_epoch") != self.iters_per_epoch:
            self.logger.warning(
                "resuming with %d iterations per epoch where the checkpoint had %s (batch size, "
                "process count or data changed)",
                self.iters_per_epoch,
                training.get("iters_per_epoch"),
            )
            iter_in_epoch = min(iter_in_epoch, self.iters_per_epoch - 1)
        changed = diff_configs(payload.get("config", {}), config_to_dict(self.config))
        if changed:
            self.logger.warning("the config differs from the checkpoint's in: %s", ", ".join(changed))
        return Position(epoch=epoch, iter_in_epoch=iter_in_epoch, iteration=iteration, train_time=train_time)
