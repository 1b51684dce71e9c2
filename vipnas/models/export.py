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
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vipnas.permissions import new_file_mode

__all__ = [
    "check_onnx",
    "convert_openvino",
    "export_onnx",
    "onnx_bytes",
    "quantize_onnxruntime_int8",
    "read_onnx_metadata",
]


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
    module: nn.Module,
    example: torch.Tensor | tuple[torch.Tensor, ...],
    *,
    dynamic_batch: bool = False,
    opset: int = 17,
    input_names: Sequence[str] | None = None,
) -> bytes:
    """Serialise an eval-mode module to ONNX with the TorchScript exporter (exact for these networks; the newer
    torch.export path would need onnxscript). A T-ViPNet takes ``(image, previous_heatmaps)``; ``input_names``
    names the inputs of any other multi-input module (an HRNet fuse layer timed alone)."""
    buffer = io.BytesIO()
    names = tuple(input_names) if input_names is not None else _inputs(module)
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


def quantize_onnxruntime_int8(source: Path, target: Path, inputs: list[dict[str, np.ndarray]], work: Path) -> None:
    """ONNX file ``source`` quantised to int8 static QDQ at ``target``, min-max calibrated on ``inputs``."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(inputs)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

    import onnx

    prepared = work / "prepared.onnx"
    quant_pre_process(str(source), str(prepared))
    # ONNX Runtime's per-channel quantiser takes a grouped ConvTranspose's weight axis 1 (O/g) for its O output
    # channels and fails on the bias; those deconvolutions stay fp32 (OpenVINO keeps them fp32 too)
    graph = onnx.load(str(prepared), load_external_data=False).graph
    grouped = [
        node.name
        for node in graph.node
        if node.op_type == "ConvTranspose" and any(a.name == "group" and a.i > 1 for a in node.attribute)
    ]
    quantize_static(
        str(prepared),
        str(target),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        nodes_to_exclude=grouped,
    )


def convert_openvino(source: Path, target: Path, precision: str, inputs: list[dict[str, np.ndarray]]) -> None:
    """ONNX file ``source`` as an OpenVINO IR at ``target`` (``.xml`` + ``.bin``, fp32 weights); for ``int8``
    quantised by NNCF on ``inputs``."""
    try:
        import openvino
    except ImportError:
        raise ImportError("the openvino backend needs OpenVINO: pip install 'vipnas[openvino]'") from None
    model = openvino.convert_model(str(source))
    if precision == "int8":
        try:
            import nncf
            from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
        except ImportError:
            raise ImportError("OpenVINO int8 needs NNCF: pip install 'vipnas[openvino]'") from None
        options = {"subset_size": len(inputs), "target_device": nncf.TargetDevice.CPU}
        try:
            model = nncf.quantize(model, nncf.Dataset(inputs), **options)
        except ValueError:
            # NNCF 3.4's bias correction fails on some grouped transposed convolutions (S-ViPNAS-MBv3's head:
            # "cannot reshape array of size 16 into shape (1,1,1,1)"); quantise without it
            advanced = AdvancedQuantizationParameters(disable_bias_correction=True)
            model = nncf.quantize(
                openvino.convert_model(str(source)), nncf.Dataset(inputs), advanced_parameters=advanced, **options
            )
    openvino.save_model(model, str(target), compress_to_fp16=False)
