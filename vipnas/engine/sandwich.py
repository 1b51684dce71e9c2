"""The sandwich rule (BigNAS; ViPNAS §3.4.1): which sub-networks one supernet training step runs.

Per mini-batch: the largest, the smallest and ``num_random`` uniformly sampled sub-networks (paper: N=2), the
largest first because its detached heatmaps are the soft labels of the others (in-place distillation).

The archs of step ``t`` are a pure function of ``(seed, t)``: every rank of a ``torchrun`` job draws the same ones
without communicating, and a resumed run draws what the interrupted one would have.

Losses (see :class:`vipnas.engine.steps.SandwichStep`): the largest sub-network's loss is its ground-truth MSE;
every other one's is its ground-truth MSE plus its MSE to the soft labels, with equal weights. The step's objective
is the **sum** of the four sub-networks' losses (each is back-propagated as computed and the gradients accumulate;
nothing is divided by 4), as in BigNAS, OFA and AttentiveNAS. With Adam, which normalises the gradient scale,
summing or averaging gives nearly the same update; with SGD, averaging would equal a 4× smaller learning rate.
"""

from __future__ import annotations

import hashlib
import random

from vipnas.space.arch import Arch
from vipnas.space.search_space import SearchSpace

__all__ = ["arch_digest", "sandwich_archs"]


def sandwich_archs(space: SearchSpace, *, seed: int, step: int, num_random: int = 2) -> list[tuple[str, Arch]]:
    """The named sub-networks of training step ``step``: ``largest``, ``smallest``, ``random1`` .. ``randomN``.

    Args:
        space: the supernet's search space.
        seed: the run's seed (shared by every rank).
        step: the global iteration (0-based).
        num_random: uniformly sampled sub-networks besides the two extremes.
    """
    rng = random.Random(f"vipnas-sandwich:{seed}:{step}")  # str seeds hash deterministically (not PYTHONHASHSEED)
    archs = [("largest", space.largest()), ("smallest", space.smallest())]
    archs += [(f"random{index + 1}", space.sample(rng)) for index in range(num_random)]
    return archs


def arch_digest(arch: Arch) -> str:
    """A short stable fingerprint of an arch (for logs and cross-rank checks)."""
    return hashlib.sha1(arch.to_json().encode()).hexdigest()[:12]
