"""A deployment opened as a network: the runtime's backend behind the call every evaluator makes.

:class:`DeployedNetwork` is a ``torch.nn.Module`` only so that the torch evaluators (``vipnas eval``,
:func:`vipnas.evaluation.pipeline.evaluate_model`) take it unchanged: its ``forward`` hands the tensors to the
deployment's ONNX Runtime or OpenVINO session as numpy and returns the heatmaps as a tensor; it has no parameters.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vipnas.deploy.manifest import Deployment, read_deployment
from vipnas.models.metadata import ModelMetadata

__all__ = [
    "DeployedNetwork",
    "frame_number",
    "load_deployment",
    "load_network",
    "runtime_precision",
    "stream_backend",
    "t_vipnet_files",
]

T_VIPNET_PREFIX = "t_vipnet_frame"


def runtime_precision(deployment: Deployment) -> str:
    """OpenVINO's inference precision hint for a deployment: ``bf16`` for bf16, ``f32`` otherwise (an int8 IR's
    quantised layers run int8 whatever the hint; the hint sets the rest)."""
    return "bf16" if deployment.precision == "bf16" else "f32"


class DeployedNetwork(nn.Module):
    """The network of a deployment folder, run by its runtime.

    Attributes:
        deployment: the folder's manifest.
        backend: the runtime backend (:mod:`vipnas.runtime.backends`), ``backend(crops, heatmaps=None)``.
        metadata: the network's metadata (input size, normalisation, joints, codec, arch).
        frame: a T-ViPNet's frame choice (``None`` for an S-ViPNet).
    """

    def __init__(self, folder: str | Path, *, threads: int = 1) -> None:
        super().__init__()
        from vipnas.runtime.backends import make_backend

        self.folder = Path(folder)
        self.deployment = read_deployment(self.folder)
        self.metadata = ModelMetadata.from_dict(self.deployment.metadata)
        self.backend = make_backend(
            self.deployment.backend,
            onnx=self.folder / self.deployment.file,
            threads=threads,
            precision=runtime_precision(self.deployment),
        )
        self.frame: Any = None
        if self.deployment.frame is not None:
            from vipnas.space.temporal import FrameChoice

            self.frame = FrameChoice.from_dict(self.deployment.frame, source=f"{self.folder}/deployment.json:frame")
        self.arch = self.metadata.arch

    @property
    def temporal(self) -> bool:
        return self.frame is not None

    def forward(self, crops: torch.Tensor, heatmaps: torch.Tensor | None = None) -> torch.Tensor:
        images = crops.detach().cpu().float().numpy()
        previous = None if heatmaps is None else heatmaps.detach().cpu().float().numpy()
        return torch.from_numpy(self.backend(images, previous))

    def extra_repr(self) -> str:
        return f"{self.folder}: {self.deployment.backend} {self.deployment.precision} ({self.deployment.file})"


def load_deployment(folder: str | Path, *, threads: int = 1) -> DeployedNetwork:
    """Open deployment ``folder`` (``vipnas export`` writes it) for inference, in eval mode."""
    return DeployedNetwork(folder, threads=threads).eval()


def load_network(path: str | Path, *, threads: int = 1) -> Any:
    """What a video stream runs for ``path``: a deployment folder's network (on its own runtime and precision), or
    a torch checkpoint's network in eval mode."""
    from vipnas.deploy.manifest import is_deployment

    if is_deployment(path):
        return load_deployment(path, threads=threads)
    from vipnas.models.checkpoint import load_model

    return load_model(path).eval()


def frame_number(path: str | Path) -> int | None:
    """N of a T-ViPNet file or folder named ``t_vipnet_frameN`` (``.pth`` or a deployment), else None."""
    stem = Path(path).stem
    tail = stem[len(T_VIPNET_PREFIX) :]
    return int(tail) if stem.startswith(T_VIPNET_PREFIX) and tail.isdigit() else None


def t_vipnet_files(folder: str | Path, names: Iterable[str] | None = None) -> list[Path]:
    """The T-ViPNets of ``folder``, frame 1 first: checkpoints ``t_vipnet_frameN.pth`` or deployment folders
    ``t_vipnet_frameN/`` (``vipnas export``), numbered 1..T once each. ``names``: the folder's entries when the
    caller has listed it already (a directory walk), so that it is not listed twice.

    Raises:
        FileNotFoundError: none in ``folder``.
        ValueError: the frame numbers are not 1..T once each (names the numbers found).
    """
    from vipnas.deploy.manifest import is_deployment

    found: dict[int, list[Path]] = {}
    entries = Path(folder).glob(f"{T_VIPNET_PREFIX}*") if names is None else (Path(folder) / n for n in names)
    for path in entries:
        number = frame_number(path)
        if number is not None and (path.suffix == ".pth" or is_deployment(path)):
            found.setdefault(number, []).append(path)
    if not found:
        raise FileNotFoundError(
            f"{folder}: no {T_VIPNET_PREFIX}1.pth … nor deployment folders {T_VIPNET_PREFIX}1/ … in it "
            "(vipnas demo --video writes the checkpoints, vipnas export the folders)"
        )
    numbers = sorted(n for n, paths in found.items() for _ in paths)
    if numbers != list(range(1, len(numbers) + 1)):
        raise ValueError(f"{folder}: T-ViPNets of frames {numbers}; expected 1..{len(numbers)}, once each")
    return [found[number][0] for number in sorted(found)]


def stream_backend(kind: str, network: Any, folder: Path, name: str, *, threads: int = 1) -> Any:
    """The runtime backend that runs ``network`` in a stream: a deployment's own, else ``kind`` (``torch``,
    ``onnxruntime``, ``openvino``; the latter two run an ONNX export written to ``folder/onnx/NAME.onnx``)."""
    from vipnas.runtime.backends import make_backend

    if getattr(network, "deployment", None) is not None:  # a deployment runs on its own runtime, at its precision
        return network.backend
    onnx = None
    if kind != "torch":
        from vipnas.models.export import export_onnx

        onnx = folder / "onnx" / f"{name}.onnx"
        onnx.parent.mkdir(parents=True, exist_ok=True)
        export_onnx(network, onnx)
    return make_backend(kind, network, onnx, threads=threads)
