"""Search strategies over a search space under a budget: the paper's random search and an evolutionary search.

Both take ``evaluate(arch) -> metrics`` (a dict holding at least the objective, ``AP`` by default) and a
:class:`ResultStore`. Every evaluated candidate is stored with its arch, MACs, parameters, predicted latency and
metrics, and the store is rewritten atomically after each one. A search is a deterministic function of its seed
and of the metrics it observes, so resuming a killed search is rerunning it with the same store: cached
candidates are replayed without evaluation and the RNG follows the same path.

Under ``torchrun`` every rank draws the same candidates (shared seed), evaluates its share (candidate ``i`` on
rank ``i % world``), and the results are gathered to every rank; rank 0 writes the store.
"""

from __future__ import annotations

import json
import logging
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vipnas.nas.budget import Budget, sample_under_budget
from vipnas.space.arch import Arch
from vipnas.space.search_space import SearchSpace

__all__ = ["Candidate", "ResultStore", "SearchResult", "evolutionary_search", "random_search"]

logger = logging.getLogger("vipnas.search")

Evaluator = Callable[[Arch], dict[str, float]]


@dataclass
class Candidate:
    """One evaluated arch."""

    arch: Arch
    macs: int
    params: int
    latency_ms: float | None
    metrics: dict[str, float]
    seconds: float = 0.0

    def score(self, objective: str) -> float:
        if objective not in self.metrics:
            raise ValueError(f"the evaluator returned {sorted(self.metrics)}, not the objective {objective!r}")
        return float(self.metrics[objective])

    def to_dict(self) -> dict[str, Any]:
        return {
            "arch": self.arch.to_dict(),
            "macs": self.macs,
            "params": self.params,
            "latency_ms": self.latency_ms,
            "metrics": self.metrics,
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "candidates") -> Candidate:
        try:
            return cls(
                Arch.from_dict(data["arch"], source=f"{source}:arch"),
                int(data["macs"]),
                int(data["params"]),
                data["latency_ms"],
                dict(data["metrics"]),
                float(data.get("seconds", 0.0)),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"{source}: malformed candidate record ({error})") from None


class ResultStore:
    """Evaluated candidates keyed by arch; with a ``path`` they are loaded from and saved to one JSON file."""

    def __init__(self, path: str | Path | None = None, *, writer: bool = True) -> None:
        self.path = Path(path) if path is not None else None
        self.writer = writer
        self._candidates: dict[Arch, Candidate] = {}
        if self.path is not None and self.path.is_file():
            try:
                records = json.loads(self.path.read_text())["candidates"]
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                raise ValueError(f"search results {self.path} are unreadable ({error}); move the file away") from None
            for record in records:
                candidate = Candidate.from_dict(record, source=str(self.path))
                self._candidates[candidate.arch] = candidate

    def __len__(self) -> int:
        return len(self._candidates)

    def __contains__(self, arch: Arch) -> bool:
        return arch in self._candidates

    def get(self, arch: Arch) -> Candidate | None:
        return self._candidates.get(arch)

    def add(self, candidates: Iterable[Candidate]) -> None:
        for candidate in candidates:
            self._candidates[candidate.arch] = candidate
        self.save()

    def all(self) -> list[Candidate]:
        return list(self._candidates.values())

    def save(self) -> None:
        if self.path is None or not self.writer:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        with os.fdopen(handle, "w") as stream:
            json.dump({"candidates": [c.to_dict() for c in self._candidates.values()]}, stream)
        os.replace(tmp, self.path)


@dataclass
class SearchResult:
    """What a search found: every candidate it considered, in order, and the best one."""

    strategy: str
    objective: str
    budget: str
    candidates: list[Candidate] = field(default_factory=list)

    @property
    def best(self) -> Candidate:
        if not self.candidates:
            raise ValueError("the search evaluated no candidate")
        return max(self.candidates, key=lambda c: c.score(self.objective))


def _rank_and_world() -> tuple[int, int]:
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return 0, 1


def _gather(items: list[Any]) -> list[list[Any]]:
    _, world = _rank_and_world()
    if world == 1:
        return [items]
    import torch.distributed as dist

    gathered: list[Any] = [None] * world
    dist.all_gather_object(gathered, items)
    return gathered


def evaluate_all(
    archs: Sequence[Arch],
    evaluate: Evaluator,
    budget: Budget,
    store: ResultStore,
    *,
    progress: Any = None,
) -> list[Candidate]:
    """Evaluate ``archs`` (skipping cached ones), spreading the new ones over ranks; returns them in order."""
    rank, world = _rank_and_world()
    todo = list(dict.fromkeys(a for a in archs if a not in store))  # unique, in order
    for start in range(0, len(todo), world):
        chunk = todo[start : start + world]
        mine = []
        if rank < len(chunk):
            arch = chunk[rank]
            began = time.perf_counter()
            metrics = {key: float(value) for key, value in evaluate(arch).items()}
            cost = budget.cost(arch)
            mine.append(Candidate(arch, cost.macs, cost.params, cost.latency_ms, metrics, time.perf_counter() - began))
        done = [c for part in _gather(mine) for c in part]
        store.add(done)
        if progress is not None:
            progress.update(len(done))
    if progress is not None:
        progress.update(len(archs) - len(todo))
    return [store.get(a) for a in archs]  # type: ignore[misc]


def _progress(total: int, description: str, enabled: bool) -> Any:
    if not enabled or _rank_and_world()[0] != 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit="arch", dynamic_ncols=True)


def random_search(
    space: SearchSpace,
    evaluate: Evaluator,
    budget: Budget,
    *,
    num_candidates: int = 500,
    seed: int = 0,
    store: ResultStore | None = None,
    objective: str = "AP",
    progress: bool = True,
) -> SearchResult:
    """The paper's search (§4.2): ``num_candidates`` archs sampled uniformly under the budget, best objective wins."""
    store = store if store is not None else ResultStore()
    rng = random.Random(seed)
    archs: list[Arch] = []
    seen: set[Arch] = set()
    while len(archs) < num_candidates:
        arch = sample_under_budget(space, rng, budget)
        if arch not in seen:
            seen.add(arch)
            archs.append(arch)
        elif len(seen) >= space.size():
            break
    bar = _progress(len(archs), f"random search ({budget.describe()})", progress)
    candidates = evaluate_all(archs, evaluate, budget, store, progress=bar)
    if bar is not None:
        bar.close()
    return SearchResult("random", objective, budget.describe(), candidates)


def evolutionary_search(
    space: SearchSpace,
    evaluate: Evaluator,
    budget: Budget,
    *,
    population: int = 50,
    generations: int = 10,
    parents: int = 10,
    mutations: int = 25,
    crossovers: int = 25,
    mutation_probability: float = 0.1,
    seed: int = 0,
    store: ResultStore | None = None,
    objective: str = "AP",
    progress: bool = True,
    max_tries: int = 1000,
) -> SearchResult:
    """Evolution under the budget (AttentiveNAS-style): a random initial population; each generation the ``parents``
    best of the population produce ``mutations`` mutants and ``crossovers`` crossed children (redrawn until they
    meet the budget), and the ``population`` best of parents and children survive."""
    if parents < 1 or population < parents:
        raise ValueError(f"need 1 <= parents ({parents}) <= population ({population})")
    store = store if store is not None else ResultStore()
    rng = random.Random(seed)
    total = population + generations * (mutations + crossovers)
    bar = _progress(total, f"evolutionary search ({budget.describe()})", progress)
    history: list[Candidate] = []

    def draw_unique(make: Callable[[], Arch], seen: set[Arch]) -> Arch:
        for _ in range(max_tries):
            arch = make()
            if arch not in seen and budget.fits(arch):
                seen.add(arch)
                return arch
        return sample_under_budget(space, rng, budget)  # the neighbourhood is exhausted: explore instead

    seen: set[Arch] = set()
    initial = [draw_unique(lambda: sample_under_budget(space, rng, budget), seen) for _ in range(population)]
    pool = evaluate_all(initial, evaluate, budget, store, progress=bar)
    history += pool
    for _ in range(generations):
        ranked = sorted(pool, key=lambda c: c.score(objective), reverse=True)
        elite = [c.arch for c in ranked[:parents]]
        children = [
            draw_unique(lambda elite=elite: space.mutate(rng.choice(elite), rng, mutation_probability), seen)
            for _ in range(mutations)
        ]
        children += [
            draw_unique(lambda elite=elite: space.crossover(rng.choice(elite), rng.choice(elite), rng), seen)
            for _ in range(crossovers)
        ]
        evaluated = evaluate_all(children, evaluate, budget, store, progress=bar)
        history += evaluated
        pool = sorted(ranked + evaluated, key=lambda c: c.score(objective), reverse=True)[:population]
    if bar is not None:
        bar.close()
    return SearchResult("evolution", objective, budget.describe(), history)
