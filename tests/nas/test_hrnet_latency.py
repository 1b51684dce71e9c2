"""HRNet latency-table units (vipnas.space.hrnet_units): the space's units are exactly those its archs contain
(checked by enumerating every arch of a small space), built alone they partition the network (MACs and parameters),
multi-input fuse units run in every runtime, tables of an HRNet space predict and validate, whole-network measured
latency covers HRNet archs, and `vipnas latency-table --count` reports the full space's unit count."""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter

import numpy as np
import pytest
import torch
from torch import nn

from vipnas.cli import main
from vipnas.models.hrnet_complexity import hrnet_complexity
from vipnas.models.hrnet_network import build_hrnet_network
from vipnas.nas.budget import Budget
from vipnas.nas.latency import LatencyTable, build_table, make_runner, space_units, units_of, validate_table
from vipnas.nas.measured import MeasuredLatency
from vipnas.nas.search import random_search
from vipnas.nn.hrnet_units import build_hrnet_unit
from vipnas.space import (
    HRNET_W32_ARCH,
    HRNET_W32_SPACE,
    HRNET_W32_TINY_SPACE,
    MOBILENETV3_TINY_SPACE,
    BranchArch,
    BranchSpace,
    HRNetArch,
    HRNetSearchSpace,
    HRStageArch,
    HRStageSpace,
    get_search_space,
)
from vipnas.space.hrnet_units import HRNetUnit, hrnet_space_units, hrnet_units

SIZE = (64, 64)

# Small enough to enumerate every arch (4,096), with what the HRNet-W32 space keeps fixed: kernels {3, 5}, blocks
# {1, 2}, a transition that is the identity for some archs (stage 2 -> 3, branch 2: width 16), depthwise groups,
# and a last stage of one or two modules (fuse layers into every branch and into branch 1 only).
SMALL = HRNetSearchSpace(
    name="hrnet_small",
    stem_widths=(8, 16),
    stages=(
        HRStageSpace(depths=(1, 2), blocks=(1,), branches=(BranchSpace(widths=(4, 8), groups=(1, 4)),)),
        HRStageSpace(
            depths=(1,),
            blocks=(1, 2),
            branches=(BranchSpace((4,), (1,), attentions=(False,)), BranchSpace((8, 16), (1,), kernel_sizes=(3, 5))),
        ),
        HRStageSpace(
            depths=(1, 2),
            branches=(
                BranchSpace((4, 8), (1,), attentions=(False,)),
                BranchSpace((16,), (1,), attentions=(False,)),
                BranchSpace((8,), (1, 8), attentions=(False,)),
            ),
            blocks=(1,),
        ),
    ),
)


def every_arch(space: HRNetSearchSpace):
    """Every arch of ``space``, from its raw choices (not from the space's own width_choices)."""

    def branches(stage: HRStageSpace) -> list[tuple[BranchArch, ...]]:
        options = [
            [
                BranchArch(width, kernel, groups, attention)
                for width in branch.widths
                for groups in branch.groups
                if width % groups == 0
                for kernel in branch.kernel_sizes
                for attention in branch.attentions
            ]
            for branch in stage.branches
        ]
        return list(itertools.product(*options))

    per_stage = [
        [
            HRStageArch(depth, chosen, blocks)
            for depth in stage.depths
            for blocks in stage.blocks
            for chosen in branches(stage)
        ]
        for stage in space.stages
    ]
    for stem in space.stem_widths:
        for stages in itertools.product(*per_stage):
            yield HRNetArch(stem, stages)


def test_space_units_are_exactly_the_units_of_its_archs() -> None:
    archs = list(every_arch(SMALL))
    assert len(archs) == SMALL.size() == 4096 and all(SMALL.contains(arch) for arch in archs[::97])
    enumerated: set[HRNetUnit] = set()
    for arch in archs:
        enumerated.update(hrnet_units(arch, input_size=SIZE))
    units = hrnet_space_units(SMALL, input_size=SIZE)
    assert len(units) == len(set(units)) == len(enumerated) and set(units) == enumerated
    assert len({unit.key() for unit in units}) == len(units)  # keys tell every unit apart
    kinds = Counter(unit.kind for unit in units)
    # stage 2: 2 width combinations; stage 3 (the last): 2, each fused into all branches or into branch 1 only
    assert kinds["hr_fuse"] == 2 + 2 * 2 and kinds["hr_stem"] == 2


def test_the_hrnet_w32_space_has_1100_units_covering_its_archs() -> None:
    units = set(hrnet_space_units(HRNET_W32_SPACE))
    assert len(units) == 1100
    kinds = Counter(unit.kind for unit in units)
    assert kinds == {"hr_fuse": 592, "hr_bottleneck": 200, "hr_branch": 200, "hr_transition": 100, "hr_stem": 4,
                     "hr_head": 4}  # fmt: skip
    rng = random.Random(0)
    for arch in [HRNET_W32_ARCH, HRNET_W32_SPACE.largest(), *(HRNET_W32_SPACE.sample(rng) for _ in range(100))]:
        assert set(hrnet_units(arch)) <= units
    # stem, 4 Bottlenecks, per stage its transitions (widths kept: the identity) and modules (branches + fuse), head
    assert len(hrnet_units(HRNET_W32_ARCH)) == 1 + 4 + (2 + 1 * 3) + (1 + 4 * 4) + (1 + 3 * 5) + 1
    assert len(space_units(HRNET_W32_TINY_SPACE, num_joints=17, input_size=SIZE)) == 126


def _hooked(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> tuple[int, int]:
    """(MACs of every Conv2d, parameters) of ``module`` run on ``inputs``."""
    macs = 0

    def hook(conv: nn.Conv2d, _: object, output: torch.Tensor) -> None:
        nonlocal macs
        macs += output.numel() * (conv.in_channels // conv.groups) * conv.kernel_size[0] * conv.kernel_size[1]

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        module.eval()(*inputs)
    for handle in handles:
        handle.remove()
    return macs, sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("size", [SIZE, (96, 64)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_units_built_alone_partition_the_network(size) -> None:
    """Each unit built alone, hook-counted on inputs of its own shapes, sums to the whole network's MACs and
    parameters: no layer missed or counted twice, and every unit sees its resolution."""
    rng = random.Random(1)
    archs = [HRNET_W32_ARCH, SMALL.largest(), SMALL.smallest(), SMALL.sample(rng), HRNET_W32_TINY_SPACE.sample(rng)]
    for arch in archs:
        macs = params = 0
        for unit in hrnet_units(arch, input_size=size):
            inputs = tuple(torch.zeros(1, *shape) for shape in unit.input_shapes())
            counted = _hooked(build_hrnet_unit(unit), inputs)
            macs, params = macs + counted[0], params + counted[1]
        network = _hooked(build_hrnet_network(arch, input_size=(64, 64)), (torch.zeros(1, 3, *size),))
        analytic = hrnet_complexity(arch, input_size=size)
        assert (macs, params) == network == (analytic.macs, analytic.params), arch.describe()


def test_multi_input_fuse_units_run_in_each_runtime(randomized) -> None:
    pytest.importorskip("onnxruntime")
    unit = next(u for u in hrnet_units(SMALL.largest(), input_size=SIZE) if u.kind == "hr_fuse" and u.outputs == 3)
    shapes = tuple((1, *shape) for shape in unit.input_shapes())
    assert shapes == ((1, 8, 16, 16), (1, 16, 8, 8), (1, 8, 4, 4))
    module = randomized(build_hrnet_unit(unit), seed=2).eval()
    torch.manual_seed(0)
    inputs = tuple(torch.randn(*shape) for shape in shapes)
    with torch.no_grad():
        expected = [tensor.numpy() for tensor in module(*inputs)]
    for runtime in ("torch", "onnxruntime"):
        torch.manual_seed(0)  # the runner draws its inputs the same way
        outputs = make_runner(module, shapes, runtime, threads=1, realistic_weights=False)()
        got = [np.asarray(o.numpy() if isinstance(o, torch.Tensor) else o) for o in outputs]
        assert [g.shape for g in got] == [e.shape for e in expected] == [(1, 8, 16, 16), (1, 16, 8, 8), (1, 8, 4, 4)]
        for g, e in zip(got, expected, strict=True):
            np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-4 * float(np.abs(e).max()))


def test_a_table_of_an_hrnet_space_predicts_and_validates(tmp_path) -> None:
    path = tmp_path / "hrnet.json"
    table = build_table(SMALL, input_size=SIZE, repeats=1, min_seconds=0.0, out=path, progress=False, calibrate=2)
    assert len(table.entries) == len(hrnet_space_units(SMALL, input_size=SIZE))
    assert all(key.startswith("kind=hr_") and value > 0 for key, value in table.entries.items())
    assert LatencyTable.load(path) == table and len(table.calibration) == 2
    arch = SMALL.sample(random.Random(3))
    keys = [unit.key() for unit in units_of(arch, num_joints=17, input_size=SIZE)]
    assert table.unit_sum(arch) == pytest.approx(sum(table.entries[key] for key in keys))
    assert table.predict(arch) == pytest.approx(table.scale * table.unit_sum(arch) + table.offset_ms)
    checks = validate_table(table, SMALL, count=2, repeats=1, min_seconds=0.0, progress=False)
    assert len(checks) == 2 and all(isinstance(c.arch, HRNetArch) and c.measured_ms > 0 for c in checks)
    assert all(np.isfinite(c.error) for c in checks)
    with pytest.raises(ValueError, match="has no entry for kind=hr_stem"):
        table.predict(HRNET_W32_ARCH)
    with pytest.raises(ValueError, match="not hrnet_small"):
        build_table(SMALL, input_size=SIZE, fusion=True, progress=False)
    # one table may hold both kinds of unit: a block-walk arch predicts from its BlockSpec keys as before
    mixed = LatencyTable(**{**table.__dict__, "entries": dict(table.entries)})
    small_mobile = MOBILENETV3_TINY_SPACE.smallest()
    mixed.entries.update({unit.key(): 1.0 for unit in units_of(small_mobile, num_joints=17, input_size=SIZE)})
    assert mixed.unit_sum(small_mobile) == len(units_of(small_mobile, num_joints=17, input_size=SIZE))


def test_measured_latency_times_hrnet_archs_and_a_search_respects_it(tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    source = MeasuredLatency("onnxruntime", input_size=SIZE, repeats=1, min_seconds=0.0, cache=tmp_path / "m.json")
    small, large = SMALL.smallest(), SMALL.largest()
    assert source.predict(small) > 0 and source.predict(large) > 0
    stored = json.loads((tmp_path / "m.json").read_text())
    assert set(stored["entries"]) == {small.to_json(), large.to_json()}
    ceiling = 100 * source.predict(large)  # every arch fits: the point is that the search asks and records
    budget = Budget(max_latency_ms=ceiling, latency_table=source, input_size=SIZE)
    result = random_search(SMALL, lambda arch: {"AP": arch.stem_width / 16}, budget, num_candidates=2, progress=False)
    assert all(c.latency_ms is not None and 0 < c.latency_ms <= ceiling for c in result.candidates)
    assert len(json.loads((tmp_path / "m.json").read_text())["entries"]) >= 3


def test_latency_table_command_counts_the_hrnet_spaces(capsys) -> None:
    assert get_search_space("hrnet") is HRNET_W32_SPACE and get_search_space("hrnet_w32_tiny") is HRNET_W32_TINY_SPACE
    assert main(["latency-table", "--space", "hrnet_w32", "--count", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["units"] == 1100 and summary["kinds"]["hr_fuse"] == 592
    assert main(["latency-table", "--space", "hrnet_w32_tiny", "--count", "--input-size", "64", "64"]) == 0
    assert "hrnet_w32_tiny at 64x64: 126 units" in capsys.readouterr().out
