"""ThreadTuner: follows a simulated machine load (step time by thread count), paying little for its probes."""

from __future__ import annotations

import itertools

import pytest
import torch

from vipnas.engine.threads import ThreadTuner

IDLE = {1: 1.0, 2: 0.6}  # seconds per step: two threads faster on an idle machine
BUSY = {1: 1.1, 2: 8.0}  # one core taken by another program: the second thread stalls every step


@pytest.fixture(autouse=True)
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _run(tuner: ThreadTuner, loads: list[dict[int, float]]) -> list[tuple[int, float]]:
    """Run one step per entry of ``loads``; returns (threads used, seconds) per step."""
    steps = []
    for load in loads:
        threads = tuner.before_step()
        assert torch.get_num_threads() == threads
        steps.append((threads, load[threads]))
        tuner.after_step(load[threads])
    return steps


def test_keeps_the_default_on_an_idle_machine_and_probes_ever_less_often() -> None:
    tuner = ThreadTuner((1, 2), interval=20, max_interval=160)
    steps = _run(tuner, [IDLE] * 1000)
    assert tuner.current == 2 and tuner.history == []
    probed = [i for i, (threads, _) in enumerate(steps) if threads == 1]
    starts = [i for i in probed if i - 1 not in probed]
    assert 3 <= len(starts) <= 10 and len(probed) <= 2 * len(starts)  # after warmup, then every 20, 40, 80, 160...
    assert all(b - a >= 20 for a, b in itertools.pairwise(starts))
    total = sum(seconds for _, seconds in steps)
    assert total / (1000 * IDLE[2]) < 1.02  # probing costs under 2%


def test_drops_to_one_thread_when_a_core_gets_busy_and_comes_back_when_it_is_free() -> None:
    tuner = ThreadTuner((1, 2), interval=20, max_interval=160)
    steps = _run(tuner, [IDLE] * 200 + [BUSY] * 600 + [IDLE] * 400)
    busy = steps[200:800]
    slow = sum(1 for threads, _ in busy if threads == 2)
    assert slow <= 8  # the step that showed the load, then one per (doubling) re-probe
    assert sum(seconds for _, seconds in busy) / (600 * BUSY[1]) < 1.1  # within 10% of the best choice
    assert tuner.current == 2 and [threads for _, threads in tuner.history] == [1, 2]
    assert 800 < tuner.history[1][0] <= 800 + 160 + 10  # back to two threads by the next probe


def test_a_machine_busy_from_the_start_costs_only_the_warmup() -> None:
    steps = _run(ThreadTuner((1, 2)), [BUSY] * 300)
    assert [threads for threads, _ in steps[:3]] == [2, 2, 1]  # two warmup steps at the default, then the probe
    assert sum(1 for threads, _ in steps if threads == 2) <= 5
    assert sum(seconds for _, seconds in steps) / (300 * BUSY[1]) < 1.15


def test_a_single_choice_never_probes() -> None:
    tuner = ThreadTuner((1,))
    assert [threads for threads, _ in _run(tuner, [IDLE] * 50)] == [1] * 50 and not tuner.active
    with pytest.raises(ValueError, match="positive integers"):
        ThreadTuner((0, 2))
