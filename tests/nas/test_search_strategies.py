"""Search strategies: budgets respected, determinism for a seed, cached resume replays the same search, outputs.

The objective here is a fixed function of the arch (a stand-in for AP that needs no training), so these tests
isolate the search logic; tests/nas/test_search_pipeline.py runs the real supernet evaluation.
"""

from __future__ import annotations

import itertools
import json
import random

import pytest

from vipnas.models.complexity import arch_complexity
from vipnas.nas.budget import Budget, InfeasibleBudgetError, parse_quantity, sample_under_budget
from vipnas.nas.report import pareto_front, write_search_outputs
from vipnas.nas.search import ResultStore, evolutionary_search, random_search
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
