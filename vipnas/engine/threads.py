"""Thread count that follows the machine's load: a laptop is never idle.

With torch's default (one OpenMP thread per core), one core taken by another program makes every parallel region
wait for the thread that shares that core: on 2 cores a concurrent ``pip install`` slowed training steps from
0.6 s to 5–10 s. OpenMP's passive wait policy does not help (the waiting is for the descheduled thread, not the
spinning) and halves the idle speed of small-op steps, so the wait policy is left as it is; instead the thread
count is measured, not guessed: :class:`ThreadTuner` times a step at each candidate count now and then and keeps
the fastest. ``benchmarks/train_under_load.py`` measures the effect (idle vs one core busy).

The probing is cheap where it matters: a probe times only the other counts (the current one's recent steps are its
measurement), stops at its first step when that step is more than 1.3 times as slow as the best so far, and the
interval between probes doubles each time the choice stands (up to a limit); a step much slower than usual probes
at once.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import torch

__all__ = ["ThreadTuner"]


class ThreadTuner:
    """Chooses ``torch.set_num_threads`` per training step from measured step times.

    Call :meth:`before_step` before and :meth:`after_step` after each step, with the step's seconds.

    Args:
        choices: thread counts to compare (default: 1 and torch's current count, when that is larger).
        warmup: steps run before the first probe (the very first step is slow for other reasons and is not
            counted).
        probe_steps: timed steps per candidate in a probe.
        interval: steps between probes at first; doubles each time the choice stands, up to ``max_interval``.
        max_interval: the longest gap between probes.
        slow_factor: a step this many times slower than the current choice's typical time starts a probe at once.
        give_up: a probed count whose step is this many times slower than the best so far is not timed again.
    """

    def __init__(
        self,
        choices: Sequence[int] | None = None,
        *,
        warmup: int = 2,
        probe_steps: int = 2,
        interval: int = 50,
        max_interval: int = 800,
        slow_factor: float = 3.0,
        give_up: float = 1.3,
    ) -> None:
        current = torch.get_num_threads()
        values = sorted(set(choices if choices is not None else (1, current)))
        if not values or values[0] < 1:
            raise ValueError(f"thread choices must be positive integers, got {choices!r}")
        self.choices = values
        self.current = max(values)
        self.warmup, self.probe_steps = warmup, probe_steps
        self.interval, self.base_interval, self.max_interval = interval, interval, max_interval
        self.slow_factor, self.give_up = slow_factor, give_up
        self.steps = 0
        self.next_probe = warmup
        self.recent: list[float] = []  # the current choice's recent step times
        self.probe: dict[int, list[float]] | None = None  # thread count -> step times, while probing
        self.queue: list[int] = []  # thread counts still to time in this probe
        self.history: list[tuple[int, int]] = []  # (step, thread count) at each change, for the log
        torch.set_num_threads(self.current)

    @property
    def active(self) -> bool:
        return len(self.choices) > 1

    def before_step(self) -> int:
        """Set the thread count for the next step; returns it."""
        if self.active and self.probe is None and self.steps >= self.next_probe:
            self.probe = {}
            self.queue = [c for c in self.choices if c != self.current]
            if not self.recent:  # nothing measured at the current count yet: time it too
                self.queue.append(self.current)
        threads = self.queue[0] if self.probe is not None else self.current
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        return threads

    def after_step(self, seconds: float) -> None:
        """Record the step just run (``seconds`` of wall time)."""
        self.steps += 1
        if not self.active:
            return
        if self.probe is None:
            if self.steps == 1:
                return  # the first step pays one-off set-up: not a measurement
            self.recent = [*self.recent[-9:], seconds]
            typical = statistics.median(self.recent)
            if len(self.recent) >= 3 and seconds > self.slow_factor * typical:
                self.next_probe = self.steps  # the load changed: measure again now, this step standing for the
                self.interval = self.base_interval  # current count (older steps ran under the old load)
                self.recent = [seconds]
            return
        threads = self.queue[0]
        times = self.probe.setdefault(threads, [])
        times.append(seconds)
        references = [min(t) for c, t in self.probe.items() if c != threads and t]
        if self.recent and threads != self.current:
            references.append(statistics.median(self.recent))
        hopeless = bool(references) and seconds > self.give_up * min(references)  # no need to time it again
        if len(times) >= self.probe_steps or hopeless:
            self.queue.pop(0)
        if not self.queue:
            self._decide()

    def _decide(self) -> None:
        assert self.probe is not None
        measured = {count: statistics.median(times) for count, times in self.probe.items()}
        if self.current not in measured and self.recent:
            measured[self.current] = statistics.median(self.recent)
        best = min(measured, key=measured.__getitem__)
        if best == self.current:
            self.interval = min(2 * self.interval, self.max_interval)
        else:
            self.current = best
            self.interval = self.base_interval
            self.history.append((self.steps, best))
        self.recent = list(self.probe.get(best, self.recent))
        self.probe, self.queue = None, []
        self.next_probe = self.steps + self.interval
        torch.set_num_threads(self.current)
