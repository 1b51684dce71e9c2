"""Interleaved timing shared by the latency benchmarks: every runner timed in each round, in a fresh shuffled order
per round, so that a slow spell of a shared machine lands on all of them alike."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Hashable
from typing import Any


def interleaved_rounds(
    runners: dict[Hashable, Callable[[], Any]], *, rounds: int, runs: int, warmup: int = 3
) -> dict[Hashable, list[float]]:
    """Per runner, the median milliseconds of ``runs`` calls in each of ``rounds`` rounds (after ``warmup`` calls
    each); round ``r`` visits the runners in the order of ``random.Random(r)``'s shuffle."""
    from tqdm import tqdm

    for run in runners.values():
        for _ in range(warmup):
            run()
    medians: dict[Hashable, list[float]] = {key: [] for key in runners}
    order = list(runners)
    for round_index in tqdm(range(rounds), desc="timing rounds", unit="round"):
        random.Random(round_index).shuffle(order)
        for key in order:
            times = []
            for _ in range(runs):
                began = time.perf_counter()
                runners[key]()
                times.append(1e3 * (time.perf_counter() - began))
            medians[key].append(statistics.median(times))
    return medians
