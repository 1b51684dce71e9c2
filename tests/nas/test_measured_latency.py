"""Whole-network measured latency (issue 15): measured once per arch, cached with its conditions, refused under
other ones, checked after MACs in a budget, and usable by the searches and by `vipnas search --measure-latency`."""

from __future__ import annotations

import json
import random

import pytest

from vipnas.models.complexity import arch_complexity
from vipnas.nas.budget import Budget, sample_under_budget
from vipnas.nas.measured import MeasuredLatency, MeasuredLatencyMismatchError
from vipnas.nas.search import random_search, search_provenance
from vipnas.space import CPU_EFFICIENT_TINY_SPACE as SPACE

SIZE = (64, 64)


def _source(tmp_path, **options) -> MeasuredLatency:
    settings = {"input_size": SIZE, "repeats": 3, "min_seconds": 0.0, "cache": tmp_path / "measured.json"}
    return MeasuredLatency("onnxruntime", "fp32", **{**settings, **options})


def test_measures_once_per_arch_and_reloads_only_under_the_same_conditions(tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    source = _source(tmp_path)
    small, large = SPACE.smallest(), SPACE.largest()
    first = source.predict(small)
    big = source.predict(large)
    assert 0 < first < big  # 22x the MACs: measured, not made up
    stored = json.loads((tmp_path / "measured.json").read_text())
    assert stored["format"] == "vipnas-measured-latency" and len(stored["entries"]) == 2
    assert stored["conditions"]["runtime"] == "onnxruntime" and stored["conditions"]["threads"] == 1

    again = _source(tmp_path)
    again.measure = lambda arch: pytest.fail("a cached arch was measured again")  # type: ignore[method-assign]
    assert again.predict(small) == first and again.predict(large) == big

    with pytest.raises(MeasuredLatencyMismatchError, match=r"threads: stored 1, now 2"):
        _source(tmp_path, threads=2)
    with pytest.raises(MeasuredLatencyMismatchError, match=r"input_size: stored \[64, 64\], now \[96, 64\]"):
        _source(tmp_path, input_size=(96, 64))
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match=r"broken.json is unreadable"):
        _source(tmp_path, cache=tmp_path / "broken.json")
    with pytest.raises(ValueError, match="precision 'bf16' for onnxruntime"):
        MeasuredLatency("onnxruntime", "bf16")


def test_budget_checks_macs_before_measuring_and_searches_respect_measured_latency(tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    source = _source(tmp_path)
    measured = []
    timed = source.measure
    source.measure = lambda arch: measured.append(arch) or timed(arch)  # type: ignore[method-assign]
    low = arch_complexity(SPACE.smallest(), input_size=SIZE).macs
    high = arch_complexity(SPACE.largest(), input_size=SIZE).macs
    max_macs = low + 0.1 * (high - low)
    ceiling = 10 * source.predict(SPACE.smallest())
    budget = Budget(max_macs=max_macs, max_latency_ms=ceiling, latency_table=source, input_size=SIZE)
    rng = random.Random(0)
    for _ in range(5):
        sample_under_budget(SPACE, rng, budget)
    assert all(arch_complexity(a, input_size=SIZE).macs <= max_macs for a in measured)  # nothing else was timed
    assert "onnxruntime fp32, measured" in budget.describe()

    result = random_search(SPACE, lambda arch: {"AP": arch.head.width / 100}, budget, num_candidates=4, progress=False)
    assert all(c.latency_ms is not None and c.latency_ms <= ceiling for c in result.candidates)
    assert all(c.latency_ms == source.entries[c.arch.to_json()] for c in result.candidates)
    provenance = search_provenance(tmp_path / "measured.json", SPACE, budget, {})
    assert "measured whole" in provenance["budget"]["latency_table"]


def test_openvino_bf16_and_int8_measure_whole_networks(tmp_path) -> None:
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    arch = SPACE.sample(random.Random(2))
    for precision in ("bf16", "int8"):
        source = MeasuredLatency("openvino", precision, input_size=SIZE, repeats=3, min_seconds=0.0, rounds=2)
        value = source.predict(arch)
        assert value > 0 and 0 <= source.spreads[arch.to_json()] < 10
