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
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vipnas.data.files import file_digest, write_bytes_atomic
from vipnas.nas.budget import Budget, sample_under_budget
from vipnas.space.archs import AnyArch, arch_from_dict
from vipnas.space.hrnet import HRNetSearchSpace
from vipnas.space.search_space import SearchSpace

__all__ = [
    "Candidate",
    "ProvenanceMismatchError",
    "ResultStore",
    "SearchResult",
    "evolutionary_search",
    "file_digest",
    "random_search",
    "search_provenance",
]

logger = logging.getLogger("vipnas.search")

Evaluator = Callable[[Any], dict[str, float]]  # arch -> metrics


@dataclass
class Candidate:
    """One evaluated arch (an :class:`Arch` or :class:`~vipnas.space.hrnet.HRNetArch`, or a ``TemporalArch`` in the
    temporal search); its record names the arch's family, which :meth:`from_dict` dispatches on."""

    arch: Any
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
            record = data["arch"]
            arch: Any
            if isinstance(record, dict) and "frames" in record:  # a temporal search's candidate
                from vipnas.space.temporal import TemporalArch

                arch = TemporalArch.from_dict(record, source=f"{source}:arch")
            else:
                arch = arch_from_dict(record, source=f"{source}:arch")
            return cls(
                arch,
                int(data["macs"]),
                int(data["params"]),
                data["latency_ms"],
                dict(data["metrics"]),
                float(data.get("seconds", 0.0)),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"{source}: malformed candidate record ({error})") from None


class ProvenanceMismatchError(ValueError):
    """A result store was written by a different setup (supernet, space, budget, evaluation or data)."""


def _plain(value: Any) -> Any:
    """``value`` as JSON reads it back (tuples become lists), so stored and current provenance compare equal."""
    return json.loads(json.dumps(value, sort_keys=True))


def _flatten(value: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"budget": {"max_macs": 1}}`` → ``{"budget.max_macs": "1"}`` (values as JSON text), for naming differences."""
    flat: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, dict) and item:
            flat.update(_flatten(item, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = json.dumps(item)
    return flat


class ResultStore:
    """Evaluated candidates keyed by arch; with a ``path`` they are loaded from and saved to one JSON file.

    The file also records the store's *provenance*: what produced the metrics (supernet checkpoint digest, search
    space, budget, evaluation settings, data). A candidate's metrics are only valid for that setup, so opening a
    store with a provenance that differs from the stored one raises :class:`ProvenanceMismatchError` naming every
    field that differs, instead of silently replaying another setup's results.

    Args:
        path: the JSON file (``None``: in memory only).
        provenance: JSON-ready description of the setup (see :func:`search_provenance`). ``None`` means "no check"
            and exists only for callers written before provenance was recorded; such a store keeps whatever
            provenance its file already has. New callers should always pass one.
        writer: whether :meth:`save` writes (rank 0 only under ``torchrun``).

    Raises:
        ValueError: the file is unreadable.
        ProvenanceMismatchError: the file was written with another provenance (or with none).
    """

    def __init__(
        self, path: str | Path | None = None, *, provenance: dict[str, Any] | None = None, writer: bool = True
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.writer = writer
        self.provenance = _plain(provenance) if provenance is not None else None
        self._candidates: dict[Any, Candidate] = {}  # arch -> candidate
        if self.path is not None and self.path.is_file():
            try:
                data = json.loads(self.path.read_text())
                records = data["candidates"]
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                raise ValueError(f"search results {self.path} are unreadable ({error}); move the file away") from None
            stored = data.get("provenance")
            if self.provenance is None:
                self.provenance = stored
            elif stored != self.provenance:
                raise ProvenanceMismatchError(self._mismatch(stored))
            for record in records:
                candidate = Candidate.from_dict(record, source=str(self.path))
                self._candidates[candidate.arch] = candidate

    def _mismatch(self, stored: Any) -> str:
        folder = self.path.parent if self.path is not None else None
        ways_out = f"write to another --out, or delete {folder} to start over"
        if not isinstance(stored, dict):
            return (
                f"search results {self.path} record no provenance (written by an older vipnas), so they cannot be "
                f"trusted for this search; {ways_out}"
            )
        before, now = _flatten(stored), _flatten(self.provenance or {})
        differences = [
            f"{key}: stored {before.get(key, '(absent)')}, now {now.get(key, '(absent)')}"
            for key in sorted(set(before) | set(now))
            if before.get(key) != now.get(key)
        ]
        return (
            f"search results {self.path} were produced by another setup ({'; '.join(differences)}); "
            f"they would be replayed as this search's results. {ways_out[0].upper()}{ways_out[1:]}"
        )

    def __len__(self) -> int:
        return len(self._candidates)

    def __contains__(self, arch: Any) -> bool:
        return arch in self._candidates

    def get(self, arch: Any) -> Candidate | None:
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
        data: dict[str, Any] = {"candidates": [c.to_dict() for c in self._candidates.values()]}
        if self.provenance is not None:
            data = {"provenance": self.provenance, **data}
        write_bytes_atomic(self.path, json.dumps(data).encode("utf-8"))


def search_provenance(
    checkpoint: str | Path, space: SearchSpace | HRNetSearchSpace, budget: Budget, evaluation: dict[str, Any]
) -> dict[str, Any]:
    """The provenance of a search's results: the supernet file's digest, the space, the budget (bounds, input size,
    joints, latency table) and the evaluator's own settings (:meth:`SupernetEvaluator.provenance`)."""
    table = budget.latency_table
    table_digest = table.digest() if table is not None else None
    return _plain(
        {
            "checkpoint": file_digest(checkpoint),
            "space": space.name,
            "budget": {
                "max_macs": budget.max_macs,
                "max_params": budget.max_params,
                "max_latency_ms": budget.max_latency_ms,
                "latency_table": table_digest,
                "input_size": list(budget.input_size),
                "num_joints": budget.num_joints,
            },
            "evaluation": evaluation,
        }
    )


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
    archs: Sequence[Any],
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
    space: SearchSpace | HRNetSearchSpace,
    evaluate: Evaluator,
    budget: Budget,
    *,
    num_candidates: int = 500,
    seed: int = 0,
    store: ResultStore | None = None,
    objective: str = "AP",
    progress: bool = True,
    max_repeats: int = 1000,
) -> SearchResult:
    """The paper's search (§4.2): ``num_candidates`` archs sampled uniformly under the budget, best objective wins.

    When fewer distinct archs meet the budget than requested (``max_repeats`` draws in a row all repeat an arch
    already drawn), the search evaluates those it found and logs how many that is.
    """
    store = store if store is not None else ResultStore()
    rng = random.Random(seed)
    archs: list[AnyArch] = []
    seen: set[AnyArch] = set()
    repeats = 0
    while len(archs) < num_candidates:
        arch = sample_under_budget(space, rng, budget)
        if arch not in seen:
            seen.add(arch)
            archs.append(arch)
            repeats = 0
            continue
        repeats += 1
        if repeats >= max_repeats or len(seen) >= space.size():
            logger.warning(
                "random search: only %d distinct archs of %s meet the budget (%s) as far as %d draws in a row that "
                "all repeated one can tell; evaluating %d candidates instead of %d",
                len(archs), space.name, budget.describe(), repeats, len(archs), num_candidates,
            )  # fmt: skip
            break
    bar = _progress(len(archs), f"random search ({budget.describe()})", progress)
    candidates = evaluate_all(archs, evaluate, budget, store, progress=bar)
    if bar is not None:
        bar.close()
    return SearchResult("random", objective, budget.describe(), candidates)


def evolutionary_search(
    space: SearchSpace | HRNetSearchSpace,
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
    max_repeats: int = 100,
) -> SearchResult:
    """Evolution under the budget (AttentiveNAS-style): a random initial population; each generation the ``parents``
    best of the population produce ``mutations`` mutants and ``crossovers`` crossed children (redrawn until they
    meet the budget), and the ``population`` best of parents and children survive.

    Every candidate is a distinct arch. A child whose neighbourhood is exhausted (``max_tries`` draws found no new
    arch meeting the budget) is replaced by a uniform draw under the budget; when ``max_repeats`` of those in a
    row repeat archs already seen, the child is dropped, and the search logs how many were dropped.
    """
    if parents < 1 or population < parents:
        raise ValueError(f"need 1 <= parents ({parents}) <= population ({population})")
    store = store if store is not None else ResultStore()
    rng = random.Random(seed)
    total = population + generations * (mutations + crossovers)
    bar = _progress(total, f"evolutionary search ({budget.describe()})", progress)
    history: list[Candidate] = []

    dropped = 0

    def draw_unique(make: Callable[[], Any], seen: set[AnyArch]) -> list[AnyArch]:
        """``[a new arch meeting the budget]``, or ``[]`` when none can be found."""
        nonlocal dropped
        for _ in range(max_tries):
            arch = make()
            if arch not in seen and budget.fits(arch):
                seen.add(arch)
                return [arch]
        for _ in range(max_repeats):  # the neighbourhood is exhausted: explore instead
            arch = sample_under_budget(space, rng, budget)
            if arch not in seen:
                seen.add(arch)
                return [arch]
        dropped += 1
        return []

    seen: set[AnyArch] = set()
    initial = [a for _ in range(population) for a in draw_unique(lambda: sample_under_budget(space, rng, budget), seen)]
    pool = evaluate_all(initial, evaluate, budget, store, progress=bar)
    history += pool
    for _ in range(generations):
        ranked = sorted(pool, key=lambda c: c.score(objective), reverse=True)
        elite = [c.arch for c in ranked[:parents]]
        children = [
            arch
            for _ in range(mutations)
            for arch in draw_unique(
                lambda elite=elite: space.mutate(rng.choice(elite), rng, mutation_probability), seen
            )
        ]
        children += [
            arch
            for _ in range(crossovers)
            for arch in draw_unique(
                lambda elite=elite: space.crossover(rng.choice(elite), rng.choice(elite), rng), seen
            )
        ]
        evaluated = evaluate_all(children, evaluate, budget, store, progress=bar)
        history += evaluated
        pool = sorted(ranked + evaluated, key=lambda c: c.score(objective), reverse=True)[:population]
    if bar is not None:
        bar.close()
    if dropped:
        logger.warning(
            "evolutionary search: %d of %d draws found no arch of %s meeting the budget (%s) that was not already "
            "evaluated; %d distinct candidates evaluated",
            dropped, total, space.name, budget.describe(), len(history),
        )  # fmt: skip
    return SearchResult("evolution", objective, budget.describe(), history)
