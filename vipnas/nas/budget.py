"""Budgets (MACs, parameters, predicted CPU latency) and uniform sampling of archs that meet them."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from vipnas.models.complexity import complexity_of
from vipnas.space.arch import Arch
from vipnas.space.hrnet import HRNetArch, HRNetSearchSpace
from vipnas.space.search_space import SearchSpace

__all__ = ["ArchCost", "Budget", "InfeasibleBudgetError", "parse_quantity", "sample_under_budget"]


class InfeasibleBudgetError(ValueError):
    """No arch of the space meets the budget (or none was found in the allowed number of draws)."""


@dataclass(frozen=True)
class ArchCost:
    """What an arch costs: multiply-accumulates, parameters, and predicted latency (ms; ``None`` without a table)."""

    macs: int
    params: int
    latency_ms: float | None = None


@dataclass(frozen=True)
class Budget:
    """Upper bounds an arch must meet; ``None`` means unbounded.

    Attributes:
        max_macs: multiply-accumulates at the budget's input size.
        max_params: parameters.
        max_latency_ms: latency predicted by ``latency_table`` (required when this is set).
        latency_table: where latency comes from: a measured per-unit lookup table of the deployment runtime
            (:class:`vipnas.nas.latency.LatencyTable`) or whole networks measured as they are asked about
            (:class:`vipnas.nas.measured.MeasuredLatency`); anything with ``predict(arch)`` (ms), ``digest()`` and
            ``describe()``.
        input_size: network input (height, width) the MACs refer to.
        num_joints: heatmaps of the head.
    """

    max_macs: float | None = None
    max_params: float | None = None
    max_latency_ms: float | None = None
    latency_table: Any = None
    input_size: tuple[int, int] = (256, 192)
    num_joints: int = 17

    per = ""  # how MACs and latency are counted, in messages (the temporal budget: " per frame")
    table_command = "vipnas latency-table"

    def __post_init__(self) -> None:
        if self.max_latency_ms is not None and self.latency_table is None:
            raise ValueError(f"a latency budget needs a latency table (build one with `{self.table_command}`)")
        for name in ("max_macs", "max_params", "max_latency_ms"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):  # nan would compare as "fits"
                raise ValueError(f"budget {name} must be a finite positive number, got {value}")

    def cost(self, arch: Arch | HRNetArch, *, latency: bool = True) -> ArchCost:
        """MACs, parameters and (with a table, unless ``latency=False``) predicted latency of ``arch`` (of any
        family: :func:`vipnas.models.complexity.complexity_of`)."""
        complexity = complexity_of(arch, num_joints=self.num_joints, input_size=self.input_size)
        latency_ms = self.latency_table.predict(arch) if latency and self.latency_table is not None else None
        return ArchCost(complexity.macs, complexity.params, latency_ms)

    def violations(self, cost: Any) -> list[str]:
        """Human-readable reasons ``cost`` exceeds the budget (empty when it fits)."""
        reasons = []
        if self.max_macs is not None and cost.macs > self.max_macs:
            reasons.append(f"{cost.macs / 1e9:.4f} G MACs{self.per} > {self.max_macs / 1e9:.4f} G")
        if self.max_params is not None and cost.params > self.max_params:
            reasons.append(f"{cost.params / 1e6:.3f} M params > {self.max_params / 1e6:.3f} M")
        if self.max_latency_ms is not None and cost.latency_ms is not None and cost.latency_ms > self.max_latency_ms:
            reasons.append(f"{cost.latency_ms:.2f} ms{self.per} > {self.max_latency_ms:.2f} ms")
        return reasons

    def cheapest(self, space: Any) -> Any:
        """The arch of ``space`` that costs least (MACs and parameters grow with every choice: the smallest)."""
        return space.smallest()

    def fits(self, arch: Any) -> bool:
        """Whether ``arch`` meets the budget; MACs and parameters are checked before latency is asked for (a
        measured latency source times every arch it is asked about)."""
        if self.latency_table is not None and self.violations(self.cost(arch, latency=False)):
            return False
        return not self.violations(self.cost(arch))

    def describe(self) -> str:
        parts = []
        if self.max_macs is not None:
            parts.append(f"MACs{self.per} <= {self.max_macs / 1e9:.4g} G")
        if self.max_params is not None:
            parts.append(f"params <= {self.max_params / 1e6:.4g} M")
        if self.max_latency_ms is not None:
            parts.append(f"latency{self.per} <= {self.max_latency_ms:.4g} ms ({self.latency_table.describe()})")
        return ", ".join(parts) or "unconstrained"


def check_feasible(space: SearchSpace | HRNetSearchSpace, budget: Budget) -> None:
    """Raise :class:`InfeasibleBudgetError` when even the space's cheapest arch (:meth:`Budget.cheapest`: the
    smallest, since MACs and parameters grow with every choice) exceeds a MACs or parameter budget."""
    smallest = budget.cheapest(space)
    cost = budget.cost(smallest)
    monotone = type(budget)(
        budget.max_macs, budget.max_params, input_size=budget.input_size, num_joints=budget.num_joints
    )
    reasons = monotone.violations(cost)
    if reasons:
        raise InfeasibleBudgetError(
            f"budget ({budget.describe()}) is below the smallest arch of search space {space.name}: "
            + "; ".join(reasons)
        )


def sample_under_budget(
    space: SearchSpace | HRNetSearchSpace, rng: random.Random, budget: Budget, *, max_tries: int = 10_000
) -> Arch | HRNetArch:
    """A uniformly random arch among those meeting ``budget`` (rejection sampling).

    Raises:
        InfeasibleBudgetError: the budget is below the smallest arch, or ``max_tries`` draws found none.
    """
    check_feasible(space, budget)
    for _ in range(max_tries):
        arch = space.sample(rng)
        if budget.fits(arch):
            return arch
    smallest = budget.cost(budget.cheapest(space))
    latency = f", {smallest.latency_ms:.2f} ms" if smallest.latency_ms is not None else ""
    raise InfeasibleBudgetError(
        f"no arch meeting ({budget.describe()}) found in {max_tries} uniform draws from {space.name}; "
        f"the smallest arch costs {smallest.macs / 1e9:.4f} G MACs, {smallest.params / 1e6:.3f} M params{latency}. "
        "Loosen the budget."
    )


def parse_quantity(text: str) -> float:
    """``"0.5G"`` -> 5e8, ``"3M"`` -> 3e6, ``"750k"`` -> 7.5e5, plain numbers as they are."""
    factors = {"k": 1e3, "m": 1e6, "g": 1e9}
    cleaned = text.strip().lower()
    try:
        if cleaned and cleaned[-1] in factors:
            return float(cleaned[:-1]) * factors[cleaned[-1]]
        return float(cleaned)
    except ValueError:
        raise ValueError(f"cannot read {text!r} as a quantity; use e.g. 0.5G, 3M, 750k or 1e9") from None
