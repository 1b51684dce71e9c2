"""Where the runtime's networks run: torch, ONNX Runtime, or OpenVINO (when installed), behind one numpy call.

A backend maps a batch of crops ``(N, 3, H, W)`` float32 — and, for a T-ViPNet, the previous heatmaps warped into
those crops ``(N, K, h, w)`` — to heatmaps ``(N, K, h, w)`` float32. Every backend gets the same numpy inputs
from :mod:`vipnas.runtime.crops`, so their outputs can be compared directly. ONNX files are those
``vipnas extract --onnx`` and :func:`vipnas.models.export.export_onnx` write: inputs ``image`` and, for a T-ViPNet,
``previous_heatmaps``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

__all__ = ["BACKENDS", "Backend", "OnnxRuntimeBackend", "OpenVinoBackend", "TorchBackend", "make_backend"]

BACKENDS = ("torch", "onnxruntime", "openvino")


class Backend(Protocol):
    """``backend(crops, heatmaps=None) -> heatmaps``; ``temporal`` says whether it takes previous heatmaps."""

    temporal: bool

    def __call__(self, crops: np.ndarray, heatmaps: np.ndarray | None = None) -> np.ndarray: ...


def _check(crops: np.ndarray, heatmaps: np.ndarray | None, temporal: bool, name: str) -> None:
    if crops.ndim != 4 or crops.shape[1] != 3:
        raise ValueError(f"{name}: crops must have shape (N, 3, H, W), got {crops.shape}")
    if temporal and (heatmaps is None or heatmaps.ndim != 4 or len(heatmaps) != len(crops)):
        shape = None if heatmaps is None else heatmaps.shape
        raise ValueError(f"{name}: a T-ViPNet needs previous heatmaps of shape (N, K, h, w) for N crops, got {shape}")


class TorchBackend:
    """A torch network (a ``PoseNetwork`` or a ``TemporalNetwork``) in eval mode, on the CPU."""

    def __init__(self, network: Any, *, threads: int | None = None) -> None:
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.network = network.eval()
        self.temporal = type(network).__name__ == "TemporalNetwork"
        self.name = f"torch:{getattr(getattr(network, 'metadata', None), 'name', type(network).__name__)}"

    def __call__(self, crops: np.ndarray, heatmaps: np.ndarray | None = None) -> np.ndarray:
        import torch

        _check(crops, heatmaps, self.temporal, self.name)
        with torch.inference_mode():
            images = torch.from_numpy(np.ascontiguousarray(crops, np.float32))
            if self.temporal:
                output = self.network(images, torch.from_numpy(np.ascontiguousarray(heatmaps, np.float32)))
            else:
                output = self.network(images)
        return output.float().numpy()


class OnnxRuntimeBackend:
    """An ONNX file in an ONNX Runtime CPU session (``threads`` intra-op threads)."""

    def __init__(self, path: str | Path, *, threads: int = 1) -> None:
        from vipnas.models.sessions import onnxruntime_session

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such ONNX file")
        # no busy-waiting between runs: the stream's own numpy/torch work (crops, heatmap warp) needs the cores
        self.session = onnxruntime_session(path, threads, quiet=False)
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.temporal = "previous_heatmaps" in self.inputs
        self.name = f"onnxruntime:{path.name}"

    def __call__(self, crops: np.ndarray, heatmaps: np.ndarray | None = None) -> np.ndarray:
        _check(crops, heatmaps, self.temporal, self.name)
        feed = {self.inputs[0]: np.ascontiguousarray(crops, np.float32)}
        if self.temporal:
            feed["previous_heatmaps"] = np.ascontiguousarray(heatmaps, np.float32)
        return np.asarray(self.session.run(None, feed)[0], np.float32)


class OpenVinoBackend:
    """An ONNX file or OpenVINO IR (``.xml``) compiled by OpenVINO for the CPU (``pip install openvino``; an
    optional extra).

    ``precision`` is OpenVINO's inference precision hint: ``f32`` by default (its CPU plugin otherwise picks bf16 on
    CPUs with AVX-512 bf16, such as this project's, moving keypoints by up to ~0.5 px); ``bf16`` trades that for
    speed.
    """

    def __init__(self, path: str | Path, *, threads: int = 1, precision: str = "f32") -> None:
        from vipnas.models.sessions import compile_openvino

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such ONNX or OpenVINO IR file")
        self.compiled = compile_openvino(path, threads, precision)
        self.inputs = [port.get_any_name() for port in self.compiled.inputs]
        self.temporal = "previous_heatmaps" in self.inputs
        self.name = f"openvino:{path.name}"

    def __call__(self, crops: np.ndarray, heatmaps: np.ndarray | None = None) -> np.ndarray:
        _check(crops, heatmaps, self.temporal, self.name)
        feed = {self.inputs[0]: np.ascontiguousarray(crops, np.float32)}
        if self.temporal:
            feed["previous_heatmaps"] = np.ascontiguousarray(heatmaps, np.float32)
        return np.asarray(self.compiled(feed)[self.compiled.output(0)], np.float32)


def make_backend(
    kind: str, network: Any = None, onnx: str | Path | None = None, *, threads: int = 1, precision: str = "f32"
) -> Backend:
    """The backend ``kind`` (one of :data:`BACKENDS`): ``torch`` runs ``network``; the others run ``onnx`` (for
    OpenVINO also an IR ``.xml``, compiled at inference ``precision``).

    Raises:
        ValueError: an unknown kind, or the network / file the kind needs is missing.
    """
    if kind not in BACKENDS:
        raise ValueError(f"backend {kind!r}: choose one of {', '.join(BACKENDS)}")
    if kind == "torch":
        if network is None:
            raise ValueError("the torch backend needs a torch network")
        return TorchBackend(network, threads=threads)
    if onnx is None:
        raise ValueError(f"the {kind} backend needs an ONNX file (vipnas extract --onnx, or export_onnx)")
    if kind == "onnxruntime":
        return OnnxRuntimeBackend(onnx, threads=threads)
    return OpenVinoBackend(onnx, threads=threads, precision=precision)
