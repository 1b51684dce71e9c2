"""Search strategies: budgets respected, determinism for a seed, cached resume replays the same search, outputs.

The objective here is a fixed function of the arch (a stand-in for AP that needs no training), so these tests
isolate the search logic; tests/nas/test_search_pipeline.py runs the real supernet evaluation.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import random

import pytest

from vipnas.models.complexity import arch_complexity
from vipnas.nas.budget import Budget, InfeasibleBudgetError, parse_quantity, sample_under_budget
from vipnas.nas.report import pareto_front, write_search_outputs
from vipnas.nas.search import ProvenanceMismatchError, ResultStore, evolutionary_search, random_search
from vipnas.space import MOBILENETV3_TINY_SPACE, RESNET50_SPACE

SPACE = MOBILENETV3_TINY_SPACE
SIZE = (64, 64)


def objective(arch) -> dict[str, float]:
    """Deterministic, arch-dependent, not monotone in cost: rewards depth and kernel 5 in odd stages, SE, width."""
    score = sum(
        s.depth * (1.0 if (i % 2 and s.kernel_size == 5) else 0.5) + 0.3 * s.attention
        for i, s in enumerate(SPACE.validate(arch).stages)
    )
    score += 0.01 * arch.head.width - 0.002 * sum(s.groups for s in arch.stages)
    return {"AP": score / 20.0, "AR": score / 18.0}


def budget(fraction: float = 0.5) -> Budget:
    low = arch_complexity(SPACE.smallest(), input_size=SIZE).macs
    high = arch_complexity(SPACE.largest(), input_size=SIZE).macs
    return Budget(max_macs=low + fraction * (high - low), input_size=SIZE)


def test_sampling_under_budget_and_infeasible_budgets() -> None:
    rng = random.Random(0)
    b = budget(0.3)
    for _ in range(100):
        assert b.fits(sample_under_budget(SPACE, rng, b))
    smallest = arch_complexity(SPACE.smallest(), input_size=SIZE)
    with pytest.raises(InfeasibleBudgetError, match="below the smallest arch"):
        sample_under_budget(SPACE, rng, Budget(max_macs=smallest.macs - 1, input_size=SIZE))
    with pytest.raises(InfeasibleBudgetError, match=r"in 5 uniform draws"):
        sample_under_budget(SPACE, rng, Budget(max_macs=smallest.macs + 1, input_size=SIZE), max_tries=5)
    with pytest.raises(ValueError, match="needs a latency table"):
        Budget(max_latency_ms=5.0)
    assert parse_quantity("0.5G") == 5e8 and parse_quantity("3M") == 3e6 and parse_quantity("750k") == 7.5e5
    with pytest.raises(ValueError, match="cannot read 'lots'"):
        parse_quantity("lots")
    assert RESNET50_SPACE.smallest() and Budget(max_params=3e6).fits(RESNET50_SPACE.smallest())


def test_random_search_respects_budget_and_is_deterministic(tmp_path) -> None:
    b = budget(0.4)
    first = random_search(SPACE, objective, b, num_candidates=40, seed=3, progress=False)
    second = random_search(SPACE, objective, b, num_candidates=40, seed=3, progress=False)
    other = random_search(SPACE, objective, b, num_candidates=40, seed=4, progress=False)
    assert len(first.candidates) == 40 and len({c.arch for c in first.candidates}) == 40
    assert all(c.macs <= b.max_macs for c in first.candidates)
    assert [c.arch for c in first.candidates] == [c.arch for c in second.candidates]
    assert [c.arch for c in first.candidates] != [c.arch for c in other.candidates]
    assert first.best.score("AP") == max(objective(c.arch)["AP"] for c in first.candidates)


def test_evolution_improves_on_its_initial_population_within_budget() -> None:
    b = budget(0.5)
    result = evolutionary_search(
        SPACE, objective, b, population=12, generations=4, parents=4, mutations=6, crossovers=6, seed=1, progress=False
    )
    assert len(result.candidates) == 12 + 4 * 12
    assert all(c.macs <= b.max_macs for c in result.candidates)
    initial_best = max(c.score("AP") for c in result.candidates[:12])
    assert result.best.score("AP") > initial_best
    again = evolutionary_search(
        SPACE, objective, b, population=12, generations=4, parents=4, mutations=6, crossovers=6, seed=1, progress=False
    )
    assert [c.arch for c in again.candidates] == [c.arch for c in result.candidates]


def test_resuming_from_the_store_replays_without_re_evaluating(tmp_path) -> None:
    path = tmp_path / "store.json"
    calls: list = []

    def counted(arch):
        calls.append(arch)
        if len(calls) == 25:
            raise KeyboardInterrupt  # the "kill": 24 results are already on disk
        return objective(arch)

    b = budget(0.5)
    kwargs = dict(population=10, generations=3, parents=3, mutations=5, crossovers=5, seed=7, progress=False)
    with pytest.raises(KeyboardInterrupt):
        evolutionary_search(SPACE, counted, b, store=ResultStore(path), **kwargs)
    assert len(ResultStore(path)) == 24
    calls.clear()
    resumed = evolutionary_search(SPACE, counted, b, store=ResultStore(path), **kwargs)
    uninterrupted = evolutionary_search(SPACE, objective, b, **kwargs)
    assert len(calls) == len({c.arch for c in uninterrupted.candidates}) - 24  # only the missing ones ran
    assert [c.arch for c in resumed.candidates] == [c.arch for c in uninterrupted.candidates]


def test_outputs_pareto_front_and_figures(tmp_path) -> None:
    result = random_search(SPACE, objective, budget(0.8), num_candidates=30, seed=0, progress=False)
    front = pareto_front(result.candidates, "macs")
    assert front and all(a.macs < b.macs and a.score("AP") < b.score("AP") for a, b in itertools.pairwise(front))
    for member in front:  # no candidate is at most as costly and better
        assert not any(c.macs <= member.macs and c.score("AP") > member.score("AP") for c in result.candidates)
    off_front = [c for c in result.candidates if c not in front]
    assert all(any(f.macs <= c.macs and f.score("AP") >= c.score("AP") for f in front) for c in off_front)
    paths = write_search_outputs(tmp_path, result)
    assert {"candidates", "pareto_macs", "pareto_macs_png", "best_arch", "best_arch_png"} <= set(paths)
    best = json.loads((tmp_path / "best_arch.json").read_text())
    assert best["AP"] == result.best.score("AP")
    records = json.loads((tmp_path / "candidates.json").read_text())["candidates"]
    assert len(records) == 30 and {"arch", "macs", "params", "latency_ms", "AP", "metrics"} <= set(records[0])
    assert (tmp_path / "best_arch.png").stat().st_size > 10_000


def _few_archs_space():
    """The tiny space narrowed to 4 archs: stage 2 depth 1 or 2, kernel 3 or 5; every other choice fixed."""
    fixed = dict(depths=(1,), kernel_sizes=(3,), attentions=(False,), expand_ratios=(2,), channels_per_group=(1,))
    stages = [dataclasses.replace(stage, **fixed) for stage in SPACE.stages[1:]]
    stages[0] = dataclasses.replace(stages[0], depths=(1, 2), kernel_sizes=(3, 5))
    first = dataclasses.replace(SPACE.stages[0], attentions=(False,), channels_per_group=(1,))
    head = dataclasses.replace(SPACE.head, widths=(32,), channels_per_group=(1,))
    return dataclasses.replace(SPACE, name="few", stages=(first, *stages), head=head)


def _all_but_the_largest(space) -> tuple[set, Budget]:
    archs = {space.largest(), space.smallest()}
    rng = random.Random(0)
    while len(archs) < space.size():
        archs.add(space.sample(rng))
    costs = sorted(arch_complexity(a, input_size=SIZE).macs for a in archs)
    assert len(archs) == 4 and costs[-2] < costs[-1]
    limit = Budget(max_macs=costs[-2], input_size=SIZE)
    return {a for a in archs if limit.fits(a)}, limit


@pytest.mark.timeout(120)  # the old loop never ended: it waited for 4 distinct archs where 3 fit
def test_random_search_stops_when_fewer_archs_fit_than_requested(caplog) -> None:
    space = _few_archs_space()
    fitting, limit = _all_but_the_largest(space)
    with caplog.at_level(logging.WARNING, logger="vipnas.search"):
        result = random_search(space, objective, limit, num_candidates=4, seed=0, progress=False)
    assert {c.arch for c in result.candidates} == fitting and len(result.candidates) == 3
    assert "only 3 distinct archs of few meet the budget" in caplog.text and "3 candidates instead of 4" in caplog.text


@pytest.mark.timeout(120)
def test_evolution_never_evaluates_an_arch_twice(caplog) -> None:
    space = _few_archs_space()
    fitting, limit = _all_but_the_largest(space)
    kwargs = dict(population=2, generations=3, parents=1, mutations=2, crossovers=1, seed=0, progress=False)
    with caplog.at_level(logging.WARNING, logger="vipnas.search"):
        result = evolutionary_search(space, objective, limit, max_tries=50, **kwargs)
    archs = [c.arch for c in result.candidates]
    assert len(archs) == len(set(archs)) == 3 and set(archs) == fitting  # the old fallback repeated archs
    assert "distinct candidates evaluated" in caplog.text and "3 distinct" in caplog.text
    # a space with room to spare is unaffected: every requested candidate, all distinct
    roomy = evolutionary_search(SPACE, objective, budget(0.5), **{**kwargs, "population": 6})
    assert len({c.arch for c in roomy.candidates}) == len(roomy.candidates) == 6 + 3 * 3


def test_budgets_refuse_nan_and_infinity(capsys) -> None:
    from vipnas.cli import main

    for value in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ValueError, match="must be a finite positive number"):
            Budget(max_macs=value, input_size=SIZE)
    for option, value in (("--budget-macs", "nan"), ("--budget-macs", "inf"), ("--budget-params", "-3M")):
        with pytest.raises(SystemExit) as exit_status:  # a usage error, before the checkpoint is even read
            main(["search", "missing.pth", f"{option}={value}"])
        assert exit_status.value.code == 2
        assert f"argument {option}: expected a finite positive quantity" in capsys.readouterr().err


def _store_provenance(**changes) -> dict:
    base = {
        "checkpoint": "sha256:aaaa",
        "space": SPACE.name,
        "budget": {"max_macs": 2.2e6, "input_size": (64, 64)},
        "evaluation": {"flip": True, "val_limit": 2, "calibration_images": 4, "codec": "msra"},
    }
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            base[section] = {**base[section], field: value}
        else:
            base[section] = value
    return base


def test_store_refuses_results_of_another_setup(tmp_path) -> None:
    path = tmp_path / "search" / "store.json"
    first = random_search(
        SPACE, objective, budget(0.5), num_candidates=3, progress=False,
        store=ResultStore(path, provenance=_store_provenance()),
    )  # fmt: skip
    same = ResultStore(path, provenance=_store_provenance())  # tuples and lists compare alike after JSON
    assert len(same) == 3 and same.get(first.candidates[0].arch).metrics == first.candidates[0].metrics
    assert json.loads(path.read_text())["provenance"]["evaluation"]["val_limit"] == 2
    changed = _store_provenance(checkpoint="sha256:bbbb", evaluation__val_limit=5, evaluation__flip=False)
    with pytest.raises(ProvenanceMismatchError) as error:
        ResultStore(path, provenance=changed)
    message = str(error.value)
    assert 'checkpoint: stored "sha256:aaaa", now "sha256:bbbb"' in message
    assert "evaluation.val_limit: stored 2, now 5" in message and "evaluation.flip: stored true, now false" in message
    assert "budget" not in message and "space" not in message  # only what differs is named
    assert "another --out" in message and f"delete {path.parent}" in message
    with pytest.raises(ProvenanceMismatchError, match=r"budget\.max_macs: stored 2200000\.0, now 3000000\.0"):
        ResultStore(path, provenance=_store_provenance(budget__max_macs=3e6))
    assert len(ResultStore(path)) == 3  # no provenance given: no check (callers from before provenance)
    legacy = tmp_path / "legacy" / "store.json"
    legacy.parent.mkdir()
    legacy.write_text(json.dumps({"candidates": [c.to_dict() for c in first.candidates]}))
    with pytest.raises(ProvenanceMismatchError, match="record no provenance"):
        ResultStore(legacy, provenance=_store_provenance())
