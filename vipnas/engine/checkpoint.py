"""Training checkpoints: a model checkpoint (``vipnas.models.checkpoint``) plus everything a resume needs.

Layout (one ``torch.save`` dict, written atomically: temp file, fsync, rename)::

    {**checkpoint_payload(model),           # format, kind, metadata, arch/space, state_dict: vipnas.load_model works
     "training": {"optimizer", "scheduler", "grad_scaler", "epoch", "iter_in_epoch", "iteration",
                  "rng": [per-rank RNG states], "world_size", "best"},
     "config": {...resolved config...}}

``--resume-from`` restores all of it; ``--load-from`` takes only the weights (:func:`load_weights`), and also
accepts a plain model checkpoint, or a supernet checkpoint for a static network of an arch in its space (the
sub-network's weights are extracted).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from vipnas.models.checkpoint import atomic_save, checkpoint_payload, model_from_payload, read_checkpoint
from vipnas.models.pose import PoseNetwork
from vipnas.models.supernet import PoseSupernet

__all__ = [
    "capture_rng_state",
    "check_same_model",
    "load_weights",
    "read_training_checkpoint",
    "restore_rng_state",
    "save_training_checkpoint",
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


def save_training_checkpoint(
    path: str | Path, model: nn.Module, *, training: dict[str, Any], config: dict[str, Any]
) -> Path:
    """Write ``model`` with its training state and resolved config, atomically.

    Args:
        path: target file.
        model: the network or supernet being trained.
        training: optimizer/scheduler/scaler state dicts, epoch, iteration, RNG states, best metric.
        config: the resolved config as a dict.
    """
    return atomic_save({**checkpoint_payload(model), "training": training, "config": config}, path)


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
    return f"the network {payload['metadata'].get('name', '?')!r}"


def check_same_model(
    payload: dict[str, Any], model: nn.Module, source: str, metadata: tuple[str, ...] = ("num_joints", "input_size")
) -> None:
    """Raise unless ``payload`` holds a checkpoint of exactly ``model``'s kind, arch or space, and the same
    ``metadata`` fields (weights fit any input size, so ``--load-from`` checks only the joints).

    Raises:
        ValueError: names what differs (kind, search space, arch, joints, input size).
    """
    own = checkpoint_payload_header(model)
    problems = []
    if payload["kind"] != own["kind"]:
        problems.append(f"it holds {_describe(payload)}, the config builds {_describe(own)}")
    elif own["kind"] == "supernet" and payload["space"] != own["space"]:
        problems.append(
            f"its search space {payload['space']['name']!r} differs from the config's {own['space']['name']!r}"
        )
    elif own["kind"] == "network" and payload["arch"] != own["arch"]:
        problems.append("its arch differs from the config's model")
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
    if isinstance(model, PoseNetwork):
        arch = model.arch.to_dict() if model.arch is not None else None
        return {"kind": "network", "metadata": model.metadata.to_dict(), "arch": arch, "space": None}
    raise TypeError(f"cannot checkpoint a {type(model).__name__}; expected a PoseNetwork or PoseSupernet")


def load_weights(model: nn.Module, path: str | Path) -> str:
    """``--load-from``: copy weights (only) from a vipnas checkpoint into ``model``; returns what was done.

    Accepted: the same network or supernet; a supernet checkpoint for a static network whose arch lies in the
    supernet's space (its sub-network is extracted). Everything is loaded strictly.

    Raises:
        ValueError: the checkpoint is of another model (names the difference), or corrupt/foreign.
    """
    payload = read_checkpoint(path)
    if payload["kind"] == "supernet" and isinstance(model, PoseNetwork):
        supernet = model_from_payload(payload, source=str(path))
        assert isinstance(supernet, PoseSupernet)
        if model.arch is None or not supernet.space.contains(model.arch):
            raise ValueError(f"checkpoint {path} is a supernet whose search space does not contain the model's arch")
        if supernet.metadata.num_joints != model.metadata.num_joints:
            raise ValueError(
                f"checkpoint {path} predicts {supernet.metadata.num_joints} joints, "
                f"the model {model.metadata.num_joints}"
            )
        model.load_state_dict(supernet.subnet_state_dict(model.arch), strict=True)
        return f"extracted the sub-network of the model's arch from supernet checkpoint {path}"
    check_same_model(payload, model, str(path), metadata=("num_joints",))
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as error:
        raise ValueError(f"checkpoint {path}: weights do not fit the model: {error}") from None
    return f"loaded weights from {path}"
