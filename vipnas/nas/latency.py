"""Latency lookup tables: measured per-unit CPU latency on the user's machine, summed to predict an arch.

A table is built for one runtime and precision (:data:`PRECISIONS`: ``torch`` eager with BatchNorm folded at
fp32; ``onnxruntime`` at fp32 or int8 static QDQ; ``openvino`` at fp32, bf16 or NNCF int8 — the paths ``vipnas
export`` deploys, converted by the same functions), thread count (1 by default, as the paper's single-core
figures), batch 1 and input size. Every unit
(stem, block, head layer: a :class:`vipnas.space.blocks.BlockSpec`, from the one walk over archs) that any arch
of a search space can contain is timed alone; an arch's predicted latency is the sum of its units.
:func:`validate_table` measures whole networks of random archs against the prediction.

HRNet spaces (:class:`~vipnas.space.hrnet.HRNetSearchSpace`) are not chains of blocks; their units are
:class:`vipnas.space.hrnet_units.HRNetUnit` objects (stem, Bottleneck, transition, one branch's BasicBlocks in a
module, one module's fuse layer, head), built by :func:`vipnas.nn.hrnet_units.build_hrnet_unit`; a fuse layer is
timed with one input per branch. Both kinds of key share the table's ``entries``.

Why MACs are not enough here: grouped convolutions with few channels per group run many times slower per MAC
than dense ones on CPUs, so two archs of equal MACs can differ several-fold in time.
"""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vipnas.models.export import onnx_bytes
from vipnas.models.fuse import fold_batchnorm
from vipnas.models.registry import build_network
from vipnas.nn.blocks import build_block
from vipnas.nn.hrnet_units import build_hrnet_unit
from vipnas.permissions import new_file_mode
from vipnas.space.arch import Arch
from vipnas.space.blocks import BlockSpec, arch_blocks, fusion_block, space_blocks, space_fusion_blocks
from vipnas.space.hrnet import HRNetArch, HRNetSearchSpace
from vipnas.space.hrnet_units import HRNetUnit, hrnet_space_units, hrnet_units
from vipnas.space.search_space import SearchSpace
from vipnas.space.temporal import FrameChoice, TemporalArch

__all__ = [
    "PRECISIONS",
    "RUNTIMES",
    "LatencyTable",
    "build_table",
    "machine_info",
    "make_runner",
    "measure_latency",
    "prepare_for_timing",
    "space_units",
    "unit_runner",
    "units_of",
    "validate_table",
]

RUNTIMES = ("torch", "onnxruntime", "openvino")
# runtime -> precisions a table can be timed at (int8 units are calibrated on random inputs: speed only)
PRECISIONS = {"torch": ("fp32",), "onnxruntime": ("fp32", "int8"), "openvino": ("fp32", "bf16", "int8")}
FORMAT = "vipnas-latency-table"


def machine_info() -> dict[str, str]:
    """CPU, host and library versions recorded with every table and benchmark."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as stream:
            cpu = next((line.split(":", 1)[1].strip() for line in stream if line.startswith("model name")), cpu)
    except OSError:
        pass
    info = {
        "host": platform.node(),
        "cpu": cpu,
        "logical_cores": str(os.cpu_count()),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    try:
        import openvino

        info["openvino"] = openvino.get_version()
    except ImportError:
        pass
    return info


# ------------------------------------------------------------------------------------------------ runners
def prepare_for_timing(module: nn.Module, *, realistic_weights: bool = True) -> nn.Module:
    """A deployment copy of ``module`` for timing: BatchNorm folded, eval mode, and (by default) PyTorch's default
    initialisation instead of the training init N(0, 0.001), whose activations shrink through the layers into
    subnormal floats that CPUs process many times slower (an untrained network would otherwise time 3-4x slower
    than a trained one)."""
    import copy

    module = copy.deepcopy(module)
    if realistic_weights:
        torch.manual_seed(0)
        for child in module.modules():
            if child is not module and hasattr(child, "reset_parameters"):
                child.reset_parameters()
    return fold_batchnorm(module, inplace=True)


def check_runtime(runtime: str, precision: str) -> None:
    """One-line errors for a runtime or precision a table cannot be timed at."""
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}; expected one of {RUNTIMES}")
    if precision not in PRECISIONS[runtime]:
        raise ValueError(f"precision {precision!r} for {runtime}: choose one of {', '.join(PRECISIONS[runtime])}")


def make_runner(
    module: nn.Module,
    input_shape: tuple[int, ...] | tuple[tuple[int, ...], ...],
    runtime: str,
    threads: int,
    *,
    precision: str = "fp32",
    realistic_weights: bool = True,
) -> Callable[[], Any]:
    """A zero-argument callable running ``module`` once on a fixed random input in ``runtime`` at ``precision``
    (see :func:`prepare_for_timing`; subnormals are flushed to zero in every runtime, as in deployment; int8 is
    calibrated on 8 random inputs, which sets its speed, not its accuracy). ``input_shape`` is one shape, or a
    tuple of shapes for a module of several inputs (an HRNet fuse layer: named ``input0``, ``input1``, ... in the
    exported graph)."""
    check_runtime(runtime, precision)
    module = prepare_for_timing(module, realistic_weights=realistic_weights)
    shapes = input_shape if isinstance(input_shape[0], tuple) else (input_shape,)
    examples = tuple(torch.randn(*shape) for shape in shapes)  # type: ignore[misc]
    names = ("image",) if len(shapes) == 1 else tuple(f"input{number}" for number in range(len(shapes)))
    if runtime == "torch":
        torch.set_num_threads(threads)
        torch.set_flush_denormal(True)

        def run_torch() -> Any:
            with torch.inference_mode():
                return module(*examples)

        return run_torch
    graph = onnx_bytes(module, examples if len(examples) > 1 else examples[0], input_names=names)
    feed = {name: example.numpy() for name, example in zip(names, examples, strict=True)}
    if runtime == "onnxruntime" and precision == "fp32":
        return _onnxruntime_runner(graph, feed, threads)
    from vipnas.models.export import convert_openvino, quantize_onnxruntime_int8

    generator = torch.Generator().manual_seed(0)
    calibration = [
        {name: torch.randn(*shape, generator=generator).numpy() for name, shape in zip(names, shapes, strict=True)}  # type: ignore[misc]
        for _ in range(8)
    ]
    with tempfile.TemporaryDirectory(prefix="vipnas-unit-") as folder:
        source = Path(folder) / "unit.onnx"
        source.write_bytes(graph)
        if runtime == "onnxruntime":
            quantize_onnxruntime_int8(source, Path(folder) / "int8.onnx", calibration, Path(folder))
            return _onnxruntime_runner((Path(folder) / "int8.onnx").read_bytes(), feed, threads)
        from vipnas.models.sessions import compile_openvino

        convert_openvino(source, Path(folder) / "unit.xml", precision, calibration)
        compiled = compile_openvino(Path(folder) / "unit.xml", threads, "bf16" if precision == "bf16" else "f32")
    request = compiled.create_infer_request()
    return lambda: request.infer(feed)


def _onnxruntime_runner(graph: bytes, feed: dict[str, np.ndarray], threads: int) -> Callable[[], Any]:
    from vipnas.models.sessions import onnxruntime_session

    session = onnxruntime_session(graph, threads, denormal_as_zero=True, sequential=True)  # no spinning: as deployed
    return lambda: session.run(None, feed)


class _WithHeatmaps(nn.Module):
    """A fusion module with a fixed heatmap input, so that it times like any one-input unit."""

    def __init__(self, fusion: nn.Module, num_joints: int, input_size: tuple[int, int]) -> None:
        super().__init__()
        self.fusion = fusion
        self.register_buffer("heatmaps", torch.rand(1, num_joints, input_size[0] // 4, input_size[1] // 4))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.fusion(features, self.heatmaps)


def measure_latency(run: Callable[[], Any], *, repeats: int = 15, warmup: int = 3, min_seconds: float = 0.05) -> float:
    """Median wall time of ``run`` in milliseconds over at least ``repeats`` calls (more for very fast units, until
    ``min_seconds`` have been spent)."""
    for _ in range(warmup):
        run()
    times: list[float] = []
    spent = 0.0
    while len(times) < repeats or spent < min_seconds:
        start = time.perf_counter()
        run()
        elapsed = time.perf_counter() - start
        times.append(elapsed)
        spent += elapsed
        if len(times) >= 20 * repeats:
            break
    return 1000.0 * statistics.median(times)


# ----------------------------------------------------------------------------------------- enumeration
Unit = BlockSpec | HRNetUnit  # what a table times: a block of the block-walk families, or an HRNet unit


def units_of(arch: Arch | HRNetArch, *, num_joints: int, input_size: tuple[int, int]) -> list[Unit]:
    """The units of ``arch``'s network in execution order (:func:`vipnas.space.blocks.arch_blocks`, or
    :func:`vipnas.space.hrnet_units.hrnet_units` for an HRNet arch)."""
    if isinstance(arch, HRNetArch):
        return list(hrnet_units(arch, num_joints=num_joints, input_size=input_size))
    return list(arch_blocks(arch, num_joints=num_joints, input_size=input_size))


def space_units(space: SearchSpace | HRNetSearchSpace, *, num_joints: int, input_size: tuple[int, int]) -> list[Unit]:
    """Every distinct unit an arch of ``space`` can contain (what :func:`build_table` times)."""
    if isinstance(space, HRNetSearchSpace):
        return list(hrnet_space_units(space, num_joints=num_joints, input_size=input_size))
    return list(space_blocks(space, num_joints=num_joints, input_size=input_size))


def unit_runner(
    unit: Unit, runtime: str, threads: int, *, precision: str = "fp32", num_joints: int = 17,
    input_size: tuple[int, int] = (256, 192),
) -> Callable[[], Any]:  # fmt: skip
    """A runner (:func:`make_runner`) of ``unit`` built alone, on random inputs of its shapes at batch 1
    (``num_joints`` and ``input_size`` set a fusion module's fixed heatmap input)."""
    if isinstance(unit, HRNetUnit):
        shapes = tuple((1, *shape) for shape in unit.input_shapes())
        module = build_hrnet_unit(unit).eval()
        return make_runner(module, shapes if len(shapes) > 1 else shapes[0], runtime, threads, precision=precision)
    module = build_block(unit).eval()
    channels = unit.in_channels
    if unit.kind == "fusion":  # its input is the stage's features; the heatmaps are the fixed second input
        module, channels = _WithHeatmaps(module, num_joints, input_size), unit.out_channels
    return make_runner(module, (1, channels, unit.in_height, unit.in_width), runtime, threads, precision=precision)


# ----------------------------------------------------------------------------------------------- table
@dataclass
class LatencyTable:
    """Measured milliseconds per unit key, with the conditions they were measured under."""

    runtime: str
    threads: int
    input_size: tuple[int, int]
    num_joints: int
    space: str
    precision: str = "fp32"
    batch: int = 1
    machine: dict[str, str] = field(default_factory=machine_info)
    entries: dict[str, float] = field(default_factory=dict)
    scale: float = 1.0
    offset_ms: float = 0.0
    calibration: list[dict[str, Any]] = field(default_factory=list)
    rounds: int = 1
    # timing noise: the median over units of (max - min) / median of a unit's per-round medians (None: 1 round)
    noise: float | None = None
    spreads: dict[str, float] = field(default_factory=dict)

    def unit_sum(self, arch: Arch | HRNetArch) -> float:
        """Sum of the measured latencies (ms) of ``arch``'s units (an arch of any family).

        Raises:
            ValueError: a unit of the arch is not in the table (built for another space or input size).
        """
        total = 0.0
        for unit in units_of(arch, num_joints=self.num_joints, input_size=self.input_size):
            key = unit.key()
            if key not in self.entries:
                raise ValueError(
                    f"latency table ({self.space}, {self.runtime}, input {self.input_size}) has no entry for {key}; "
                    "rebuild it for this search space and input size"
                )
            total += self.entries[key]
        return total

    def fusion_ms(self, frame: FrameChoice) -> float:
        """Measured latency (ms) of a T-ViPNet's fusion module.

        Raises:
            ValueError: the table has no fusion entries (build it with ``fusion=True`` / ``--fusion``).
        """
        key = fusion_block(
            frame.arch, frame.fusion, frame.op, num_joints=self.num_joints, input_size=self.input_size
        ).key()
        if key not in self.entries:
            raise ValueError(
                f"latency table ({self.space}, {self.runtime}) has no entry for the fusion module {key}; rebuild "
                "it with vipnas latency-table --fusion"
            )
        return self.entries[key]

    def predict_frame(self, frame: FrameChoice) -> float:
        """Predicted latency (ms) of one non-key frame's T-ViPNet: its spatial network and its fusion module."""
        return self.scale * (self.unit_sum(frame.arch) + self.fusion_ms(frame)) + self.offset_ms

    def predict_temporal(self, arch: TemporalArch) -> list[float]:
        """Predicted latency (ms) per frame of a key frame (the S-ViPNet) and its T non-key frames."""
        return [self.predict(arch.key)] + [self.predict_frame(frame) for frame in arch.frames]

    def predict(self, arch: Arch | HRNetArch) -> float:
        """Predicted latency (ms) of ``arch``: ``scale * unit_sum + offset_ms``. The linear correction is fitted on
        a few whole networks measured when the table was built (units timed alone run from warm caches and
        skip the per-network overheads); without calibration it is the identity.

        Raises:
            ValueError: a unit of the arch is not in the table (built for another space or input size).
        """
        return self.scale * self.unit_sum(arch) + self.offset_ms

    def digest(self) -> str:
        """How a search's provenance names this table: the runtime and a hash of what its predictions depend on
        (the entries and the calibration fit)."""
        import hashlib

        fitted = {"entries": self.entries, "scale": self.scale, "offset_ms": self.offset_ms}
        measured = json.dumps(fitted, sort_keys=True)
        return f"{self.runtime}, sha256:{hashlib.sha256(measured.encode()).hexdigest()}"

    def describe(self) -> str:
        return self.runtime

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["format"] = FORMAT
        data["input_size"] = list(self.input_size)
        return data

    def save(self, path: str | Path) -> Path:
        """Write the table as JSON, atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(handle, "w") as stream:
            json.dump(self.to_dict(), stream, indent=1, sort_keys=True)
        os.chmod(tmp, new_file_mode())  # mkstemp creates 0600
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> LatencyTable:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"latency table {path} does not exist; build one with `vipnas latency-table`")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"latency table {path} is not valid JSON: {error}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"{path} is not a vipnas latency table (missing format tag {FORMAT!r})")
        data.pop("format")
        try:
            data["input_size"] = tuple(data["input_size"])
            return cls(**data)
        except (KeyError, TypeError) as error:
            raise ValueError(f"latency table {path} is malformed: {error}") from None


def build_table(
    space: SearchSpace | HRNetSearchSpace,
    *,
    runtime: str = "torch",
    precision: str = "fp32",
    rounds: int = 1,
    threads: int = 1,
    input_size: tuple[int, int] = (256, 192),
    num_joints: int = 17,
    repeats: int = 15,
    min_seconds: float = 0.05,
    out: str | Path | None = None,
    progress: bool = True,
    save_every: int = 25,
    calibrate: int = 5,
    fusion: bool = False,
) -> LatencyTable:
    """Time every unit of ``space``, then fit the linear correction on ``calibrate`` whole random networks
    (drawn with a seed that :func:`validate_table` does not use). With ``out``, the partial table is saved every
    ``save_every`` units and a table already at ``out`` (same conditions) is resumed instead of re-measured. With
    ``fusion``, the temporal fusion modules a T-ViPNet of the space can contain are timed too (fed with a fixed
    K x H/4 x W/4 heatmap input, as at run time).

    With ``rounds`` > 1 the units are timed in chunks of ``save_every``: each chunk's runners are built once and
    timed ``rounds`` times, interleaved (unit 1, 2, …, then 1, 2, … again), so that a slow moment of a shared
    machine spreads over many units instead of biasing one; a unit's entry is the median of its round medians, and
    the table records the timing noise (:attr:`LatencyTable.noise`).

    An :class:`~vipnas.space.hrnet.HRNetSearchSpace` is timed unit by unit as :mod:`vipnas.space.hrnet_units`
    decomposes it (``fusion`` is for the temporal search, which covers the block-walk families only).

    Raises:
        ValueError: unknown runtime or precision, ``rounds`` < 1, ``fusion`` for an HRNet space, or ``out`` holds a
            table of other conditions.
    """
    check_runtime(runtime, precision)
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    if fusion and isinstance(space, HRNetSearchSpace):
        raise ValueError(f"fusion modules: the temporal search covers ResNet and MobileNetV3 spaces, not {space.name}")
    table = LatencyTable(
        runtime=runtime, threads=threads, input_size=tuple(input_size), num_joints=num_joints, space=space.name,
        precision=precision, rounds=rounds,
    )  # fmt: skip
    conditions = (runtime, precision, rounds, threads, tuple(input_size), num_joints, space.name)
    if out is not None and Path(out).is_file():
        previous = LatencyTable.load(out)
        same = (previous.runtime, previous.precision, previous.rounds, previous.threads, previous.input_size,
                previous.num_joints, previous.space)  # fmt: skip
        if same != conditions:
            raise ValueError(f"{out} holds a table for other conditions {same}; choose another --out")
        table.entries, table.spreads = previous.entries, previous.spreads
        table.calibration, table.scale, table.offset_ms = previous.calibration, previous.scale, previous.offset_ms
    wanted = space_units(space, num_joints=num_joints, input_size=input_size)
    if fusion:
        wanted += space_fusion_blocks(space, num_joints=num_joints, input_size=input_size)
    units = [u for u in wanted if u.key() not in table.entries]
    iterator: Iterable[Unit] = units
    if progress:
        from tqdm import tqdm

        iterator = tqdm(units, desc=f"latency table {space.name}/{runtime}", unit="unit", dynamic_ncols=True)
    torch.manual_seed(0)
    chunk: list[tuple[str, Callable[[], Any]]] = []

    def flush() -> None:
        per_round: dict[str, list[float]] = {key: [] for key, _ in chunk}
        for _ in range(rounds):
            for key, run in chunk:
                per_round[key].append(measure_latency(run, repeats=repeats, min_seconds=min_seconds))
        for key, values in per_round.items():
            table.entries[key] = float(statistics.median(values))
            if rounds > 1:
                table.spreads[key] = (max(values) - min(values)) / max(statistics.median(values), 1e-9)
        chunk.clear()
        if out is not None:
            table.save(out)

    for unit in iterator:
        run = unit_runner(
            unit, runtime, threads, precision=precision, num_joints=num_joints, input_size=table.input_size
        )
        chunk.append((unit.key(), run))
        if len(chunk) >= save_every:
            flush()
    if chunk:
        flush()
    if table.spreads:
        table.noise = float(statistics.median(table.spreads.values()))
    if calibrate > 0 and len(table.calibration) < calibrate:
        rng = random.Random(1_000_003)
        table.calibration = []
        # the extremes make the fit well conditioned; validation uses other (random) archs
        archs = [space.smallest(), space.largest()] + [space.sample(rng) for _ in range(calibrate - 2)]
        for arch in archs[:calibrate]:
            model = build_network(arch, num_joints=num_joints, input_size=table.input_size).eval()
            run = make_runner(model, (1, 3, *input_size), runtime, threads, precision=precision)
            measured = measure_latency(run, repeats=repeats, min_seconds=min_seconds)
            table.calibration.append(
                {"arch": arch.to_dict(), "unit_sum_ms": table.unit_sum(arch), "measured_ms": measured}
            )
        sums = np.array([c["unit_sum_ms"] for c in table.calibration])
        measured = np.array([c["measured_ms"] for c in table.calibration])
        scale, offset = float(np.median(measured / sums)), 0.0
        if len(sums) >= 2 and np.ptp(sums) > 0:
            fitted_scale, fitted_offset = np.polyfit(sums, measured, 1)
            if fitted_scale > 0 and fitted_offset >= 0:  # otherwise noise dominates: keep the plain ratio
                scale, offset = float(fitted_scale), float(fitted_offset)
        table.scale, table.offset_ms = scale, offset
    if out is not None:
        table.save(out)
    return table


@dataclass(frozen=True)
class LatencyCheck:
    arch: Arch | HRNetArch
    predicted_ms: float
    measured_ms: float

    @property
    def error(self) -> float:
        """Relative error of the prediction, (predicted - measured) / measured."""
        return (self.predicted_ms - self.measured_ms) / self.measured_ms


def validate_table(
    table: LatencyTable,
    space: SearchSpace | HRNetSearchSpace,
    *,
    count: int = 20,
    seed: int = 0,
    repeats: int = 15,
    min_seconds: float = 0.05,
    progress: bool = True,
) -> list[LatencyCheck]:
    """Measure whole networks of ``count`` random archs under the table's conditions and compare them with the
    prediction (the archs differ from the calibration archs)."""
    rng = random.Random(seed)
    archs = [space.sample(rng) for _ in range(count)]
    iterator: Iterable[Arch | HRNetArch] = archs
    if progress:
        from tqdm import tqdm

        iterator = tqdm(archs, desc="validating latency predictions", unit="arch", dynamic_ncols=True)
    checks = []
    for arch in iterator:
        model = build_network(arch, num_joints=table.num_joints, input_size=table.input_size).eval()
        run = make_runner(model, (1, 3, *table.input_size), table.runtime, table.threads, precision=table.precision)
        measured = measure_latency(run, repeats=repeats, min_seconds=min_seconds)
        checks.append(LatencyCheck(arch, table.predict(arch), measured))
    return checks


def summarize(checks: list[LatencyCheck]) -> dict[str, float]:
    errors = np.abs([c.error for c in checks])
    return {
        "archs": len(checks),
        "median_abs_error": float(np.median(errors)),
        "mean_abs_error": float(np.mean(errors)),
        "max_abs_error": float(np.max(errors)),
        "mean_signed_error": float(np.mean([c.error for c in checks])),
    }
