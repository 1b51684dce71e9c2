"""Latency tables: coverage of every arch's units, save/load/resume, runtimes produce the model's output."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
import torch

from vipnas.models.complexity import measure_complexity
from vipnas.models.pose import build_static
from vipnas.nas.latency import LatencyTable, build_table, make_runner, validate_table
from vipnas.nn.blocks import build_block
from vipnas.space import MOBILENETV3_SPACE, MOBILENETV3_TINY_SPACE, RESNET50_SPACE
from vipnas.space.blocks import arch_blocks, space_blocks

SIZE = (64, 64)


@pytest.mark.parametrize("space", [RESNET50_SPACE, MOBILENETV3_SPACE, MOBILENETV3_TINY_SPACE], ids=lambda s: s.name)
def test_space_blocks_cover_every_arch(space) -> None:
    units = set(space_blocks(space, input_size=SIZE))
    rng = random.Random(0)
    for arch in [space.largest(), space.smallest(), *(space.sample(rng) for _ in range(200))]:
        assert set(arch_blocks(arch, input_size=SIZE)) <= units


@pytest.fixture(scope="module")
def tiny_table(tmp_path_factory) -> tuple[LatencyTable, object]:
    path = tmp_path_factory.mktemp("latency") / "table.json"
    table = build_table(
        MOBILENETV3_TINY_SPACE,
        input_size=SIZE,
        repeats=2,
        min_seconds=0.0,
        out=path,
        progress=False,
        save_every=50,
        calibrate=3,
    )
    return table, path


def test_table_predicts_every_arch_and_round_trips(tiny_table) -> None:
    table, path = tiny_table
    assert len(table.entries) == len(space_blocks(MOBILENETV3_TINY_SPACE, input_size=SIZE))
    assert all(v > 0 and math.isfinite(v) for v in table.entries.values())
    loaded = LatencyTable.load(path)
    assert loaded == table
    assert loaded.machine["cpu"] and loaded.threads == 1 and loaded.runtime == "torch" and loaded.precision == "fp32"
    assert len(table.calibration) == 3 and table.scale > 0


@pytest.mark.parametrize("space", [RESNET50_SPACE, MOBILENETV3_SPACE, MOBILENETV3_TINY_SPACE], ids=lambda s: s.name)
def test_units_partition_the_network(space) -> None:
    """A table whose "milliseconds" are each unit's MACs, counted by hooks on the unit built alone, must sum to the
    MACs hook-counted on the whole static network (built by another path): no layer missed or counted twice. The
    units chained in order also carry the network's shapes from input to heatmaps."""
    rng = random.Random(5)
    for arch in [space.largest(), space.smallest(), space.sample(rng), space.sample(rng)]:
        units = list(arch_blocks(arch, input_size=SIZE))
        entries, params = {}, 0
        x = torch.zeros(1, 3, *SIZE)
        with torch.no_grad():
            for unit in units:
                module = build_block(unit).eval()
                assert x.shape[1:] == (unit.in_channels, unit.in_height, unit.in_width), unit
                counted = measure_complexity(module, (unit.in_height, unit.in_width), channels=unit.in_channels)
                entries[unit.key()], params = float(counted.macs), params + counted.params
                x = module(x)
        whole = build_static(arch, input_size=SIZE)
        network = measure_complexity(whole, SIZE)
        assert network.macs > 0 and params == network.params
        table = LatencyTable("torch", 1, SIZE, 17, space.name, entries=entries, scale=2.0, offset_ms=1.0)
        assert table.unit_sum(arch) == network.macs
        assert table.predict(arch) == 2.0 * network.macs + 1.0
        assert tuple(x.shape) == tuple(whole(torch.zeros(1, 3, *SIZE)).shape)


def test_build_resumes_a_partial_table(tiny_table, tmp_path) -> None:
    table, _ = tiny_table
    partial = LatencyTable(**{**table.__dict__, "entries": dict(list(table.entries.items())[:10])})
    path = partial.save(tmp_path / "partial.json")
    kept = dict(partial.entries)
    resumed = build_table(
        MOBILENETV3_TINY_SPACE, input_size=SIZE, repeats=1, min_seconds=0.0, out=path, progress=False, calibrate=0
    )
    assert len(resumed.entries) == len(table.entries)
    assert all(resumed.entries[k] == v for k, v in kept.items())  # measured entries are not re-measured
    with pytest.raises(ValueError, match="other conditions"):
        build_table(MOBILENETV3_TINY_SPACE, input_size=(96, 64), out=path, progress=False)


def test_validation_reports_errors_per_arch(tiny_table) -> None:
    table, _ = tiny_table
    checks = validate_table(table, MOBILENETV3_TINY_SPACE, count=2, repeats=2, min_seconds=0.0, progress=False)
    assert len(checks) == 2 and all(c.measured_ms > 0 and math.isfinite(c.error) for c in checks)


def test_missing_units_and_bad_files_are_named_errors(tiny_table, tmp_path) -> None:
    table, _ = tiny_table
    with pytest.raises(ValueError, match="no entry for kind=stem"):
        table.predict(MOBILENETV3_SPACE.smallest())
    (tmp_path / "x.json").write_text(json.dumps({"entries": {}}))
    with pytest.raises(ValueError, match="not a vipnas latency table"):
        LatencyTable.load(tmp_path / "x.json")
    with pytest.raises(FileNotFoundError, match="vipnas latency-table"):
        LatencyTable.load(tmp_path / "none.json")


@pytest.mark.parametrize(
    ("runtime", "precision"),
    [("torch", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime", "int8"), ("openvino", "fp32"),
     ("openvino", "bf16"), ("openvino", "int8")],
)  # fmt: skip
def test_runners_compute_the_folded_model(runtime: str, precision: str, randomized) -> None:
    """Every timed path computes the network: fp32 to float rounding, bf16 and int8 approximately (OpenVINO is an
    optional extra: its cases skip without it)."""
    if runtime == "openvino":
        pytest.importorskip("openvino")
        if precision == "int8":
            pytest.importorskip("nncf")
    model = randomized(build_static(MOBILENETV3_TINY_SPACE.sample(random.Random(2)), input_size=SIZE), seed=4).eval()
    torch.manual_seed(0)
    run = make_runner(model, (1, 3, *SIZE), runtime, threads=1, precision=precision, realistic_weights=False)
    torch.manual_seed(0)
    x = torch.randn(1, 3, *SIZE)
    with torch.no_grad():
        expected = model(x).numpy()
    out = run()
    got = np.asarray(out.numpy() if isinstance(out, torch.Tensor) else out[0])
    assert got.shape == expected.shape
    if precision == "fp32":
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3 * float(np.abs(expected).max()))
    else:  # reduced precision: the same function, not the same numbers
        correlation = np.corrcoef(got.reshape(-1), expected.reshape(-1))[0, 1]
        assert correlation > 0.9 and not np.allclose(got, expected, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="unknown runtime"):
        make_runner(model, (1, 3, *SIZE), "tensorrt", threads=1)
    with pytest.raises(ValueError, match="precision 'bf16' for torch"):
        make_runner(model, (1, 3, *SIZE), "torch", threads=1, precision="bf16")


def test_interleaved_rounds_record_the_timing_noise(tmp_path) -> None:
    path = tmp_path / "t.json"
    table = build_table(MOBILENETV3_TINY_SPACE, input_size=SIZE, repeats=1, min_seconds=0.0, progress=False,
                        calibrate=0, rounds=3, out=path)  # fmt: skip
    assert table.rounds == 3 and set(table.spreads) == set(table.entries)
    assert table.noise is not None and table.noise >= 0 and table.noise == np.median(list(table.spreads.values()))
    assert LatencyTable.load(path).noise == table.noise
    with pytest.raises(ValueError, match="other conditions"):  # another precision or round count is another table
        build_table(MOBILENETV3_TINY_SPACE, input_size=SIZE, runtime="onnxruntime", precision="int8", out=path,
                    progress=False)  # fmt: skip


def test_latency_table_command(tmp_path, capsys) -> None:
    from vipnas.cli import main

    out = tmp_path / "t.json"
    args = ["latency-table", "--space", "mobilenetv3_tiny", "--input-size", "64", "64", "--repeats", "1"]
    assert main([*args, "--validate", "1", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["archs"] == 1 and summary["units"] == len(LatencyTable.load(out).entries)
    assert main([*args, "--space", "vgg"]) == 1
    assert "unknown search space" in capsys.readouterr().err


def test_fusion_units_are_timed_and_predict_t_vipnets(tmp_path) -> None:
    from vipnas.space.blocks import space_fusion_blocks
    from vipnas.space.temporal import FUSION_OPS, FrameChoice, TemporalSpace

    space = MOBILENETV3_TINY_SPACE
    plain = build_table(space, input_size=SIZE, repeats=1, min_seconds=0.0, progress=False, calibrate=0)
    temporal = TemporalSpace(space, space.largest(), length=3)
    arch = temporal.sample(random.Random(2))
    with pytest.raises(ValueError, match="--fusion"):
        plain.predict_frame(arch.frames[0])
    table = build_table(
        space, input_size=SIZE, repeats=1, min_seconds=0.0, progress=False, calibrate=0, fusion=True,
        out=plain.save(tmp_path / "t.json"),
    )  # fmt: skip
    fusions = space_fusion_blocks(space, input_size=SIZE)
    assert {b.op for b in fusions} == set(FUSION_OPS) and {b.stage for b in fusions} == {1, 2, 4, 5}
    assert len(table.entries) == len(plain.entries) + len(fusions)
    assert all(table.entries[k] == v for k, v in plain.entries.items())  # resumed: spatial units not re-timed
    predicted = table.predict_temporal(arch)
    assert len(predicted) == 4 and predicted[0] == table.predict(arch.key)
    for frame, value in zip(arch.frames, predicted[1:], strict=True):
        assert value == pytest.approx(table.predict(frame.arch) + table.fusion_ms(frame)) and table.fusion_ms(frame) > 0
    cat, add = (table.fusion_ms(FrameChoice(space.largest(), 1, op)) for op in ("cat", "add"))
    assert cat != add  # different modules, measured separately
