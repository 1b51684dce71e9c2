"""Inference sessions of exported networks: one place that sets ONNX Runtime's and OpenVINO's CPU options, shared by
the runtime's backends, the ONNX detector and the latency tables (so that a table times what deployment runs).

Torch-free: the runtime's ONNX paths import it without loading torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["OPENVINO_HINTS", "compile_openvino", "onnxruntime_session"]

# OpenVINO inference precision hints (its CPU plugin defaults to bf16 on CPUs with AVX-512 bf16 or AMX)
OPENVINO_HINTS = ("f32", "bf16", "f16")


def onnxruntime_session(
    model: str | Path | bytes,
    threads: int,
    *,
    providers: list[str] | None = None,
    spinning: bool = False,
    quiet: bool = True,
    denormal_as_zero: bool = False,
    sequential: bool = False,
) -> Any:
    """An ONNX Runtime session on ``threads`` intra-op threads (one inter-op thread; ``quiet``: errors only in its
    log). ``spinning``:
    let idle threads busy-wait between runs (off: the stream's own numpy/torch work between calls needs the
    cores); ``denormal_as_zero`` and ``sequential`` as the latency tables time units."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if quiet:
        options.log_severity_level = 3
    if sequential:
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    if denormal_as_zero:
        options.add_session_config_entry("session.set_denormal_as_zero", "1")
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = model if isinstance(model, bytes) else str(model)
    return onnxruntime.InferenceSession(source, options, providers=providers or ["CPUExecutionProvider"])


def compile_openvino(model: str | Path | Any, threads: int, precision: str = "f32") -> Any:
    """An ONNX file, IR ``.xml`` or ``openvino.Model`` compiled for the CPU on ``threads`` threads, latency hint, at
    inference ``precision`` (one of :data:`OPENVINO_HINTS`)."""
    try:
        import openvino
    except ImportError:
        raise ImportError("the openvino backend needs OpenVINO: pip install 'vipnas[openvino]'") from None
    if precision not in OPENVINO_HINTS:
        raise ValueError(f"OpenVINO precision {precision!r}: choose {', '.join(OPENVINO_HINTS)}")
    core = openvino.Core()
    if isinstance(model, str | Path):
        model = core.read_model(str(model))
    config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": precision}
    return core.compile_model(model, "CPU", config)
