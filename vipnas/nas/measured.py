"""Whole-network latency measured on this machine, for the runtimes whose per-unit tables do not predict whole
networks (OpenVINO bf16 on every space, NNCF int8 on the full spaces: docs/deploy.md).

:class:`MeasuredLatency` answers the same questions as :class:`vipnas.nas.latency.LatencyTable` (``predict(arch)``
in ms, ``runtime``, ``digest()``), so a :class:`vipnas.nas.budget.Budget` and every search take either. Each arch
it is asked about is built, converted exactly as ``vipnas export`` deploys it (:func:`vipnas.nas.latency.make_runner`:
ONNX, then ONNX Runtime or OpenVINO at the precision, int8 calibrated on random crops: its speed, not its accuracy)
and timed whole at batch 1. Results go to a cache file that records what produced them (runtime, precision, threads,
input size, timing settings, CPU and library versions): a cache made under other conditions is refused, never mixed
in. Under ``torchrun`` rank 0 measures and broadcasts, so that every rank sees the same latencies (and the ranks'
timings do not disturb each other's measurements).

Cost: about 1-3 s per arch at fp32/bf16 and 5-20 s at int8 (conversion and calibration dominate) on 2 cores, so a
budget that rejects most of a space is best combined with a MACs budget, which is checked first.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from pathlib import Path
from typing import Any

from vipnas.data.files import write_bytes_atomic
from vipnas.models.registry import build_network
from vipnas.nas.latency import check_runtime, machine_info, make_runner, measure_latency
from vipnas.space.arch import Arch
from vipnas.space.hrnet import HRNetArch

__all__ = ["FORMAT", "MeasuredLatency", "MeasuredLatencyMismatchError"]

FORMAT = "vipnas-measured-latency"
logger = logging.getLogger(__name__)


class MeasuredLatencyMismatchError(ValueError):
    """A measured-latency cache was made under other conditions than the ones asked for."""


class MeasuredLatency:
    """Latency (ms) of whole networks, measured once per arch and cached with its conditions.

    Args:
        runtime: ``onnxruntime``, ``openvino`` or ``torch``.
        precision: one of :data:`vipnas.nas.latency.PRECISIONS` for the runtime.
        threads: intra-op threads of the runtime.
        input_size: network input (height, width).
        num_joints: heatmaps of the head.
        space: name of the search space (recorded, not checked: any arch can be measured).
        repeats: timed runs per measurement (the median is kept) after 3 warm-up runs.
        min_seconds: keep timing until this much time was spent (fast networks get more runs).
        rounds: separate measurements per arch, each on a freshly converted and compiled network; the median is
            kept and the spread recorded (a compiled graph's kernels can differ from one compilation to the next).
        cache: JSON file of measured archs (``None``: in memory only).

    Raises:
        ValueError: unknown runtime or precision.
        MeasuredLatencyMismatchError: ``cache`` exists and was made under other conditions (names every difference).
    """

    def __init__(
        self,
        runtime: str,
        precision: str = "fp32",
        *,
        threads: int = 1,
        input_size: tuple[int, int] = (256, 192),
        num_joints: int = 17,
        space: str = "",
        repeats: int = 20,
        min_seconds: float = 0.2,
        rounds: int = 1,
        cache: str | Path | None = None,
    ) -> None:
        check_runtime(runtime, precision)
        if rounds < 1 or repeats < 1 or threads < 1:
            raise ValueError(f"rounds, repeats and threads must be >= 1, got {rounds}, {repeats}, {threads}")
        self.runtime, self.precision, self.threads = runtime, precision, threads
        self.input_size, self.num_joints, self.space = (int(input_size[0]), int(input_size[1])), num_joints, space
        self.repeats, self.min_seconds, self.rounds = repeats, min_seconds, rounds
        self.cache = Path(cache) if cache is not None else None
        machine = machine_info()  # read once: every save and digest records the same machine
        self._machine = {key: machine[key] for key in sorted(machine) if key != "system"}
        self.entries: dict[str, float] = {}
        self.spreads: dict[str, float] = {}
        if self.cache is not None and self.cache.is_file():
            self._load()

    # ------------------------------------------------------------------------------------------ provenance
    @property
    def conditions(self) -> dict[str, Any]:
        """What a measurement depends on; a cache must match it exactly to be reused."""
        return {
            "runtime": self.runtime,
            "precision": self.precision,
            "threads": self.threads,
            "batch": 1,
            "input_size": list(self.input_size),
            "num_joints": self.num_joints,
            "repeats": self.repeats,
            "min_seconds": self.min_seconds,
            "rounds": self.rounds,
            "machine": dict(self._machine),
        }

    def digest(self) -> str:
        """How a search's provenance names this latency source (the conditions, not the values: those are
        measured as the search goes and recorded with each candidate)."""
        return f"{self.runtime} {self.precision} measured whole, " + json.dumps(self.conditions, sort_keys=True)

    def describe(self) -> str:
        height, width = self.input_size
        threads = f"{self.threads} thread{'s' if self.threads > 1 else ''}"
        return f"{self.runtime} {self.precision}, measured at {height}x{width}, {threads}"

    def _load(self) -> None:
        assert self.cache is not None
        try:
            data = json.loads(self.cache.read_text())
            stored, entries = data["conditions"], data["entries"]
            if data.get("format") != FORMAT or not isinstance(entries, dict):
                raise KeyError("format")
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise ValueError(
                f"measured-latency cache {self.cache} is unreadable ({error}); move it away or pick another file"
            ) from None
        now = self.conditions
        if stored != now:
            differences = [
                f"{key}: stored {json.dumps(stored.get(key))}, now {json.dumps(now.get(key))}"
                for key in sorted(set(stored) | set(now))
                if stored.get(key) != now.get(key)
            ]
            raise MeasuredLatencyMismatchError(
                f"measured-latency cache {self.cache} was made under other conditions ({'; '.join(differences)}); "
                "its latencies do not hold here. Use another cache file, or delete it to measure again"
            )
        self.entries = {key: float(value) for key, value in entries.items()}
        self.spreads = {key: float(value) for key, value in data.get("spreads", {}).items()}

    def _save(self) -> None:
        if self.cache is None:
            return
        self.cache.parent.mkdir(parents=True, exist_ok=True)
        data = {"format": FORMAT, "conditions": self.conditions, "entries": self.entries, "spreads": self.spreads}
        write_bytes_atomic(self.cache, json.dumps(data, indent=1, sort_keys=True).encode())

    # --------------------------------------------------------------------------------------------- measure
    def measure(self, arch: Arch | HRNetArch) -> tuple[float, float]:
        """Time ``arch`` (of any family, HRNet included) now (no cache): the median over rounds of each round's
        median (ms), and the spread ``(max - min) / median`` of the rounds (0 for one round)."""
        network = build_network(arch, num_joints=self.num_joints, input_size=self.input_size)
        values = []
        for _ in range(self.rounds):
            run = make_runner(network, (1, 3, *self.input_size), self.runtime, self.threads, precision=self.precision)
            values.append(measure_latency(run, repeats=self.repeats, min_seconds=self.min_seconds))
            del run
        median = statistics.median(values)
        return median, (max(values) - min(values)) / median if median > 0 else 0.0

    def predict(self, arch: Arch | HRNetArch) -> float:
        """Latency of ``arch`` (ms): from the cache, else measured now (on rank 0 under ``torchrun``) and cached."""
        key = arch.to_json()
        if key not in self.entries:
            began = time.perf_counter()
            value, spread = _on_rank_zero(lambda: self.measure(arch))
            self.entries[key], self.spreads[key] = value, spread
            if _rank() == 0:
                self._save()
            logger.info(
                "measured %.3f ms (%s) in %.1f s; %d archs measured", value, self.describe(),
                time.perf_counter() - began, len(self.entries),
            )  # fmt: skip
        return self.entries[key]

    def predict_temporal(self, arch: Any) -> list[float]:
        raise ValueError(
            "measured whole-network latency covers spatial archs; a temporal search needs a latency table "
            "(vipnas latency-table --fusion)"
        )


def _rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def _on_rank_zero(measure: Any) -> tuple[float, float]:
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return measure()
    result: list[Any] = [measure() if dist.get_rank() == 0 else None]
    dist.broadcast_object_list(result, src=0)
    return result[0]
