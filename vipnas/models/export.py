"""ONNX export of static pose networks, checked against ONNX Runtime.

The graph takes ``image`` (N, 3, H, W) float32 normalised RGB and returns ``heatmaps`` (N, K, H/4, W/4); the batch
axis is dynamic. The model's metadata (input size, mean, std, joints, dataset, arch) is stored in the ONNX
``metadata_props`` so a deployment needs only onnxruntime and numpy.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vipnas.permissions import new_file_mode

__all__ = ["check_onnx", "export_onnx", "onnx_bytes", "read_onnx_metadata"]


def _inputs(module: nn.Module) -> tuple[str, ...]:
    """The ONNX input names: ``image``, and for a T-ViPNet also ``previous_heatmaps`` (warped into the crop)."""
    return ("image", "previous_heatmaps") if hasattr(module, "fusion") else ("image",)


def _examples(module: nn.Module, batch: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
    height, width = module.metadata.input_size  # type: ignore[union-attr]
    stride, joints = module.metadata.heatmap_stride, module.metadata.num_joints  # type: ignore[union-attr]
    image = torch.randn(batch, 3, height, width, generator=generator)
    if len(_inputs(module)) == 1:
        return (image,)
    return image, torch.rand(batch, joints, height // stride, width // stride, generator=generator)


def onnx_bytes(
    module: nn.Module, example: torch.Tensor | tuple[torch.Tensor, ...], *, dynamic_batch: bool = False, opset: int = 17
) -> bytes:
    """Serialise an eval-mode module to ONNX with the TorchScript exporter (exact for these networks; the newer
    torch.export path would need onnxscript). A T-ViPNet takes ``(image, previous_heatmaps)``."""
    buffer = io.BytesIO()
    names = _inputs(module)
    examples = example if isinstance(example, tuple) else (example,)
    axes = {name: {0: "batch"} for name in (*names, "heatmaps")} if dynamic_batch else None
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            module,
            examples,
            buffer,
            dynamo=False,
            opset_version=opset,
            input_names=list(names),
            output_names=["heatmaps"],
            dynamic_axes=axes,
        )
    return buffer.getvalue()


def export_onnx(model: nn.Module, path: str | Path, *, opset: int = 17, check: bool = True) -> float | None:
    """Write ``model`` (a static network with ``metadata``) as ONNX, atomically.

    Returns:
        With ``check``, the largest absolute difference between ONNX Runtime's and PyTorch's heatmaps on random
        inputs of batch 1 and 2 (also relative to the output magnitude in the raised error).

    Raises:
        ValueError: ONNX Runtime's output differs from PyTorch's beyond float tolerance.
    """
    import onnx

    model = model.eval()
    metadata = model.metadata
    proto = onnx.load_from_string(onnx_bytes(model, _examples(model, 1), dynamic_batch=True, opset=opset))
    props = {"vipnas_metadata": json.dumps(metadata.to_dict()), "producer": "vipnas"}
    if hasattr(model, "frame"):  # a T-ViPNet says where its heatmaps enter
        props["vipnas_frame"] = json.dumps(model.frame.to_dict())
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(handle, "wb") as stream:
        stream.write(proto.SerializeToString())
    os.chmod(tmp, new_file_mode())  # mkstemp creates 0600
    os.replace(tmp, path)
    return check_onnx(model, path) if check else None


def check_onnx(model: nn.Module, path: str | Path, *, batches: tuple[int, ...] = (1, 2)) -> float:
    """Run the ONNX file in ONNX Runtime and the model in PyTorch on the same random inputs; return the max abs
    difference, raising ``ValueError`` when it exceeds 1e-4 of the output's magnitude (+1e-5)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(0)
    worst = 0.0
    for batch in batches:
        inputs = _examples(model, batch, generator)
        with torch.no_grad():
            expected = model(*inputs).numpy()
        feeds = {name: tensor.numpy() for name, tensor in zip(_inputs(model), inputs, strict=True)}
        got = session.run(None, feeds)[0]
        difference = float(np.abs(got - expected).max())
        tolerance = 1e-4 * float(np.abs(expected).max()) + 1e-5
        if got.shape != expected.shape or difference > tolerance:
            raise ValueError(
                f"ONNX Runtime output of {path} differs from PyTorch: shape {got.shape} vs {expected.shape}, "
                f"max |difference| {difference:.3g} > tolerance {tolerance:.3g}"
            )
        worst = max(worst, difference)
    return worst


def read_onnx_metadata(path: str | Path) -> dict:
    """The vipnas metadata stored in an exported ONNX file."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    props = {entry.key: entry.value for entry in proto.metadata_props}
    if "vipnas_metadata" not in props:
        raise ValueError(f"{path} carries no vipnas metadata (was it exported by vipnas?)")
    return json.loads(props["vipnas_metadata"])
