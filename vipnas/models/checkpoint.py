"""Model checkpoints: one self-describing file per model, written atomically, loadable with
:func:`load_model` into a ready network.

A vipnas checkpoint is a dict saved with ``torch.save``::

    {"format": "vipnas", "format_version": 1, "vipnas_version": "...",
     "kind": "network" | "supernet" | "t_vipnet" | "temporal_supernet",
     "metadata": {...ModelMetadata...},
     "arch": {...} | None,            # networks: the arch they were built from (T-ViPNets: the spatial arch;
                                      # temporal supernets: the key arch); an HRNet's has family "hrnet"
     "space": {...} | None,           # supernets: the search space they cover (HRNet's: family "hrnet")
     "state_dict": {...},
     "frame": {...},                  # T-ViPNets only: FrameChoice (arch, fusion point, op)
     "length": T,                     # temporal supernets only
     ...}                             # training adds optimizer, scheduler, epoch, RNG states, config

Other parts (training, extraction, conversion) add their own keys; :func:`load_model` reads only the above.
"""

from __future__ import annotations

import os
import pickle
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vipnas.models.hrnet_network import build_hrnet_network, hrnet_space_from_dict, hrnet_space_to_dict
from vipnas.models.metadata import ModelMetadata
from vipnas.models.pose import PoseNetwork, build_static
from vipnas.nn.hrnet import HRNetPose
from vipnas.permissions import new_file_mode
from vipnas.space.arch import Arch
from vipnas.space.hrnet import HRNetArch
from vipnas.space.search_space import SearchSpace

__all__ = [
    "FORMAT",
    "atomic_save",
    "checkpoint_payload",
    "load_model",
    "read_checkpoint",
    "read_foreign_checkpoint",
    "save_model",
]

FORMAT = "vipnas"
FORMAT_VERSION = 1


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temporary file in the target folder, then rename over ``path``: a crash never leaves
    a truncated checkpoint behind. The file gets the permissions the umask allows, as ``open()`` would."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            torch.save(obj, stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def checkpoint_payload(model: nn.Module) -> dict[str, Any]:
    """The model part of a checkpoint: format tag, kind, metadata, arch or space, and weights."""
    from vipnas.models.temporal import TemporalNetwork
    from vipnas.version import __version__

    # a supernet can only exist if vipnas.elastic was imported: checkpointing a static network does not load it
    elastic = "vipnas.models.supernet" in sys.modules
    extra: dict[str, Any] = {}
    if elastic and isinstance(model, sys.modules["vipnas.models.supernet"].PoseSupernet):
        kind, arch, space = "supernet", None, model.space.to_dict()
    elif "vipnas.models.hrnet_supernet" in sys.modules and isinstance(
        model, sys.modules["vipnas.models.hrnet_supernet"].HRNetSupernet
    ):
        kind, arch, space = "supernet", None, hrnet_space_to_dict(model.space)
    elif isinstance(model, HRNetPose):
        kind, arch, space = "network", model.arch.to_dict(), None
    elif isinstance(model, PoseNetwork):
        kind, arch, space = "network", (model.arch.to_dict() if model.arch else None), None
    elif isinstance(model, TemporalNetwork):  # a T-ViPNet: its frame choice (spatial arch, fusion point and op)
        kind, arch, space = "t_vipnet", model.frame.arch.to_dict(), None
        extra = {"frame": model.frame.to_dict()}
    elif "vipnas.models.temporal_supernet" in sys.modules and isinstance(
        model, sys.modules["vipnas.models.temporal_supernet"].TemporalSupernet
    ):
        temporal = model.space
        kind, arch, space = "temporal_supernet", temporal.key.to_dict(), temporal.space.to_dict()
        extra = {"length": temporal.length}
    else:
        raise TypeError(
            f"cannot checkpoint a {type(model).__module__}.{type(model).__qualname__}; expected a PoseNetwork, "
            "PoseSupernet, HRNetNetwork, HRNetSupernet, TemporalNetwork or TemporalSupernet (from "
            "vipnas.create_model or vipnas.load_model)"
        )
    metadata: ModelMetadata | None = getattr(model, "metadata", None)
    if not isinstance(metadata, ModelMetadata):
        raise TypeError(f"cannot checkpoint this {type(model).__name__}: it has no ModelMetadata in model.metadata")
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "vipnas_version": __version__,
        "kind": kind,
        "metadata": metadata.to_dict(),
        "arch": arch,
        "space": space,
        "state_dict": {key: value.detach().cpu() for key, value in model.state_dict().items()},
        **extra,
    }


def save_model(model: nn.Module, path: str | Path, **extra: Any) -> Path:
    """Write ``model`` (and any ``extra`` entries) as a vipnas checkpoint, atomically.

    Raises:
        TypeError: ``model`` is not a vipnas network or supernet.
        ValueError: ``path`` is an existing folder.
    """
    payload = checkpoint_payload(model)
    if Path(path).is_dir():
        raise ValueError(f"cannot save the model to {path}: it is a folder; expected a file name such as model.pth")
    return atomic_save({**payload, **extra}, path)


def _check_checkpoint_file(path: Path) -> None:
    """Refuse a missing path, a folder, or a file that is not a ``torch.save`` archive, naming what was found."""
    if path.is_dir():
        held = sorted(p.name for p in path.glob("*.pth"))[:4]
        hint = f" (it holds {', '.join(held)})" if held else ""
        raise ValueError(f"checkpoint {path} is a folder{hint}; expected a .pth file written by torch.save")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    with path.open("rb") as stream:
        head = stream.read(4)
    # torch.save writes a zip archive; files from before PyTorch 1.6 are a pickle (protocol 2 starts with 0x80)
    if head[:4] != b"PK\x03\x04" and head[:1] != b"\x80":
        found = head.hex(" ") if head else "an empty file"
        raise ValueError(
            f"checkpoint {path} is not a torch file: it starts with {found}, "
            "expected a zip archive (50 4b 03 04) as torch.save writes"
        )


def _load_failure(path: Path, error: Exception) -> ValueError:
    """A one-line error for a file the safe loader refused. torch's own message advises retrying with
    ``weights_only=False``, which would run whatever code the file carries, so it never reaches the user."""
    message = str(error)
    unsafe = re.search(r"Unsupported global: GLOBAL (\S+)", message)
    if unsafe:
        return ValueError(
            f"checkpoint {path} holds a Python object of type {unsafe.group(1)}; a vipnas checkpoint holds only "
            "tensors, numbers, strings and containers, and other objects are not unpickled because that can run "
            "code. MMPose checkpoints are converted with `vipnas convert-mmpose`."
        )
    reason = message.strip().splitlines()[0] if message.strip() else type(error).__name__
    reason = reason.split(". ")[0].rstrip(".")
    if "weights_only" in reason or "Weights only" in reason:
        reason = "the archive's pickle is damaged"
    return ValueError(f"checkpoint {path} cannot be read (corrupt, truncated or not a torch file): {reason}")


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read and check a vipnas checkpoint.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the path is a folder, or the file is corrupt, truncated, or not a vipnas checkpoint (says
            which).
    """
    path = Path(path)
    _check_checkpoint_file(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for damaged archives
        raise _load_failure(path, error) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = sorted(payload)[:8] if isinstance(payload, dict) else type(payload).__name__
        raise ValueError(
            f"{path} is not a vipnas checkpoint (top-level keys: {found}). "
            "MMPose checkpoints are converted with `vipnas convert-mmpose`."
        )
    missing = {"kind", "metadata", "state_dict"} - set(payload)
    if missing:
        raise ValueError(f"checkpoint {path} lacks {sorted(missing)}")
    if payload["format_version"] > FORMAT_VERSION:
        raise ValueError(
            f"checkpoint {path} has format version {payload['format_version']}; "
            f"this vipnas reads up to {FORMAT_VERSION}"
        )
    return payload


def model_from_payload(payload: dict[str, Any], *, source: str = "checkpoint") -> nn.Module:
    """Rebuild the model a checkpoint describes and load its weights (strict).

    A checkpoint written before the codec was recorded in the metadata reads as ``msra`` (the only codec then),
    with σ from its training config when it has one.
    """
    values = dict(payload["metadata"])
    if "codec" not in values:
        values["codec"] = "msra"
        data = (payload.get("config") or {}).get("data") or {}
        values.setdefault("sigma", data.get("sigma", 2.0))
    metadata = ModelMetadata.from_dict(values)
    options = {"num_joints": metadata.num_joints, "input_size": metadata.input_size, "dataset": metadata.dataset}
    if payload["kind"] == "supernet" and _family(payload.get("space")) == HRNetArch.family:
        from vipnas.models.hrnet_supernet import HRNetSupernet

        model: nn.Module = HRNetSupernet(hrnet_space_from_dict(payload["space"], source=f"{source}:space"), **options)
    elif payload["kind"] == "supernet":
        from vipnas.models.supernet import PoseSupernet

        model = PoseSupernet(SearchSpace.from_dict(payload["space"]), **options)
    elif payload["kind"] == "network":
        if payload.get("arch") is None:
            raise ValueError(f"{source}: a network checkpoint needs its arch")
        where, name = f"{source}:arch", metadata.name
        if _family(payload["arch"]) == HRNetArch.family:
            model = build_hrnet_network(HRNetArch.from_dict(payload["arch"], source=where), name=name, **options)
        else:
            model = build_static(Arch.from_dict(payload["arch"], source=where), name=name, **options)
    elif payload["kind"] == "t_vipnet":
        from vipnas.models.temporal import build_t_vipnet
        from vipnas.space.temporal import FrameChoice

        frame = FrameChoice.from_dict(payload.get("frame"), source=f"{source}:frame")
        model = build_t_vipnet(frame, name=metadata.name, **options)
    elif payload["kind"] == "temporal_supernet":
        from vipnas.models.temporal_supernet import TemporalSupernet
        from vipnas.space.temporal import TemporalSpace

        key = Arch.from_dict(payload["arch"], source=f"{source}:arch")
        temporal = TemporalSpace(SearchSpace.from_dict(payload["space"]), key, int(payload.get("length", 3)))
        model = TemporalSupernet(temporal, **options)
    else:
        raise ValueError(
            f"{source}: unknown checkpoint kind {payload['kind']!r}; expected 'network', 'supernet', 't_vipnet' or "
            "'temporal_supernet'"
        )
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as error:
        raise ValueError(f"{source}: weights do not fit the model they describe: {error}") from None
    model.metadata = metadata
    return model


def _family(description: Any) -> Any:
    """The ``family`` field of an arch or space description (``None`` when it has none)."""
    return description.get("family") if isinstance(description, dict) else None


def load_model(path: str | Path) -> nn.Module:
    """Load any model checkpoint vipnas writes (converted, extracted, trained; network or supernet).

    Returns:
        The model in eval mode; ``model.metadata`` holds preprocessing metadata and ``model.arch`` the arch.
    """
    model = model_from_payload(read_checkpoint(path), source=str(path))
    return model.eval()


class _Placeholder:
    """Stands in for classes of packages that are not installed (mmengine, mmcv) inside foreign pickles."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _LenientUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            return type(name, (_Placeholder,), {"__module__": module})


class _LenientPickle:
    """A ``pickle``-like module for ``torch.load`` whose unpickler tolerates missing classes."""

    Unpickler = _LenientUnpickler
    load = pickle.load
    __name__ = "pickle"


def read_foreign_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by another toolbox (MMPose 0.x/1.x). Tries the safe loader first; a file that
    pickles classes of packages absent here (mmengine's message hub, say) is read with those classes replaced by
    placeholders. Only call this on files you trust, as with any pickle."""
    path = Path(path)
    _check_checkpoint_file(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        pass
    except Exception as error:
        raise _load_failure(path, error) from None
    try:
        return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_LenientPickle)
    except Exception as error:
        raise ValueError(f"checkpoint {path} cannot be read: {error}") from None
