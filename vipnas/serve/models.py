"""The networks the video page offers, found in the run folders, and how a job loads them.

Offered as the key network (S-ViPNet): every vipnas checkpoint of a static network (``kind: network``: extracted,
fine-tuned, ``key.pth``, ``s_vipnet.pth``), every deployment folder of ``vipnas export`` that is not a T-ViPNet,
and, always, the largest network of the shipped SynthPose supernet. Offered as T-ViPNets: every folder holding
``t_vipnet_frame1.pth`` … or deployment folders ``t_vipnet_frame1/`` … (``vipnas demo --video``'s ``t_vipnas/``
with its ``temporal_arch.json``; ``vipnas export`` of each). Supernets are not offered: ``vipnas extract`` makes
a network of one of their archs.

Loading and the backends follow ``vipnas video`` (:mod:`vipnas.commands.video`) step for step: a deployment runs
on its own runtime and precision, a torch network on the backend asked for (exported to ONNX first for ONNX
Runtime and OpenVINO).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "BUILTIN",
    "PRETRAINED_SUPERNET",
    "Catalogue",
    "NetworkChoice",
    "TemporalChoice",
    "backend_for",
    "discover",
    "display_path",
    "load_network",
    "path_id",
]

BUILTIN = "builtin:synthpose-largest"
PRETRAINED_SUPERNET = Path(__file__).resolve().parent.parent / "pretrained" / "synthpose_tiny_supernet.pth"
SKIPPED_FOLDERS = {"images", "__pycache__", "onnx"}  # SynthPose frames, caches: thousands of files, no network
MAX_FILES = 20000


def path_id(path: Path) -> str:
    """A short stable id of a path for the page (the page never sends paths back)."""
    return hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]


def display_path(path: Path) -> str:
    """``path`` relative to the working folder when it lies below it, else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path.resolve())


@dataclass(frozen=True)
class NetworkChoice:
    """A key network: ``kind`` ``builtin``, ``checkpoint`` or ``deployment``; ``detail`` says what it is."""

    id: str
    label: str
    kind: str
    path: Path | None
    input_size: tuple[int, int] | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        size = list(self.input_size) if self.input_size else None
        return {"id": self.id, "label": self.label, "kind": self.kind, "input_size": size, "detail": self.detail}


@dataclass(frozen=True)
class TemporalChoice:
    """A folder of T-ViPNets, ``networks`` frame 1 first (checkpoints or deployment folders)."""

    id: str
    label: str
    folder: Path
    networks: tuple[Path, ...]

    @property
    def length(self) -> int:
        return len(self.networks)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "length": self.length}


@dataclass
class Catalogue:
    """What :func:`discover` found; ``checkpoints`` lists every ``.pth`` seen (supernets too)."""

    networks: list[NetworkChoice] = field(default_factory=list)
    temporal: list[TemporalChoice] = field(default_factory=list)
    checkpoints: list[Path] = field(default_factory=list)

    def network(self, choice: str) -> NetworkChoice:
        """The key network ``choice`` (an id :meth:`to_dict` gave). Raises ValueError naming it."""
        for network in self.networks:
            if network.id == choice:
                return network
        raise ValueError(f"model {choice!r}: not among the {len(self.networks)} networks found (reload the page)")

    def temporal_folder(self, choice: str) -> TemporalChoice:
        """The T-ViPNet folder ``choice``. Raises ValueError naming it."""
        for folder in self.temporal:
            if folder.id == choice:
                return folder
        raise ValueError(f"T-ViPNets {choice!r}: not among the {len(self.temporal)} folders found (reload the page)")

    def to_dict(self) -> dict[str, Any]:
        return {"models": [n.to_dict() for n in self.networks], "temporal": [t.to_dict() for t in self.temporal]}


def _checkpoint_summary(path: Path) -> tuple[str, dict[str, Any]] | None:
    """(kind, metadata) of a vipnas checkpoint, read without loading its tensors; None for any other file."""
    import torch

    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # not a torch file, damaged, or pickled objects weights_only refuses: not offered
        return None
    if not isinstance(payload, dict) or payload.get("format") != "vipnas":
        return None
    return str(payload.get("kind")), dict(payload.get("metadata") or {})


def _temporal_folder(folder: Path, names: Sequence[str]) -> TemporalChoice | None:
    from vipnas.deploy.network import t_vipnet_files

    try:
        networks = tuple(t_vipnet_files(folder, names))
    except (FileNotFoundError, ValueError):  # none here, or not numbered 1..T: not offered
        return None
    return TemporalChoice(path_id(folder), f"{display_path(folder)} (T={len(networks)})", folder, networks)


def discover(roots: Sequence[Path]) -> Catalogue:
    """The networks under ``roots`` (missing roots are skipped), plus the built-in one, each listed once."""
    from vipnas.deploy.manifest import is_deployment, read_deployment
    from vipnas.deploy.network import frame_number

    catalogue = Catalogue()
    catalogue.networks.append(
        NetworkChoice(
            BUILTIN,
            "built-in: largest network of the shipped SynthPose supernet",
            "builtin",
            PRETRAINED_SUPERNET,
            None,
            "mobilenetv3_tiny, COCO joints",
        )
    )
    seen: set[Path] = set()
    files_seen = 0
    for root in roots:
        if not root.is_dir():
            continue
        for folder_text, folders, files in os.walk(root):
            folder = Path(folder_text)
            folders[:] = sorted(f for f in folders if not f.startswith(".") and f not in SKIPPED_FOLDERS)
            files_seen += len(files)
            if files_seen > MAX_FILES or folder.resolve() in seen:
                folders[:] = []
                continue
            seen.add(folder.resolve())
            temporal = _temporal_folder(folder, [*files, *folders])
            if temporal is not None:
                catalogue.temporal.append(temporal)
            if is_deployment(folder) and frame_number(folder) is None:
                try:
                    deployment = read_deployment(folder, verify=False)
                except (ValueError, FileNotFoundError):
                    continue
                size = tuple(deployment.metadata.get("input_size") or ()) or None
                detail = f"deployment {deployment.backend} {deployment.precision}"
                catalogue.networks.append(
                    NetworkChoice(path_id(folder), display_path(folder), "deployment", folder, size, detail)
                )  # type: ignore[arg-type]
            for name in sorted(files):
                path = folder / name
                if path.suffix != ".pth":
                    continue
                catalogue.checkpoints.append(path)
                summary = _checkpoint_summary(path) if frame_number(path) is None else None
                if summary is None or summary[0] != "network":
                    continue
                metadata = summary[1]
                size = tuple(metadata.get("input_size") or ()) or None
                detail = f"{metadata.get('name', 'network')}, {metadata.get('dataset', '?')} joints"
                catalogue.networks.append(
                    NetworkChoice(path_id(path), display_path(path), "checkpoint", path, size, detail)
                )  # type: ignore[arg-type]
    return catalogue


def load_network(path: Path | None, kind: str, threads: int) -> Any:
    """A key network or T-ViPNet ready to run: a checkpoint's network (eval mode), a deployment folder's, or
    (``kind == "builtin"``) the largest network of the shipped supernet."""
    if kind == "builtin":
        from vipnas.models.checkpoint import load_model

        supernet: Any = load_model(PRETRAINED_SUPERNET)
        return supernet.extract_subnet(supernet.space.largest(), name="key").eval()
    assert path is not None
    from vipnas.deploy.network import load_network as load_stream_network

    return load_stream_network(path, threads=threads)


def backend_for(kind: str, network: Any, folder: Path, name: str, threads: int) -> Any:
    """The runtime backend of ``network``: a deployment's own, else ``kind`` (``torch``, ``onnxruntime``,
    ``openvino``; the latter two run an ONNX export written to ``folder/onnx/NAME.onnx``)."""
    from vipnas.deploy.network import stream_backend

    return stream_backend(kind, network, folder, name, threads=threads)
