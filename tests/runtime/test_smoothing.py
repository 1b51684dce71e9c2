"""``vipnas.runtime.smoothing``: the one-euro filter against closed forms and a scalar transcription of the paper,
the per-track smoother, and the jitter measure."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vipnas.runtime.smoothing import (
    KeypointSmoother,
    OneEuroConfig,
    OneEuroFilter,
    keypoint_jitter,
    one_euro_step,
    smoothing_factor,
)
from vipnas.runtime.tracking import TrackedPerson

FPS = 30.0


def run(one_euro: OneEuroFilter, samples: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
    """Filter (T, K, D) samples; returns (T, K, D)."""
    return np.stack([one_euro(sample, timestamp) for sample, timestamp in zip(samples, timestamps, strict=True)])


def paper_one_euro(signal: list[float], times: list[float], min_cutoff: float, beta: float, d_cutoff: float):
    """Casiez et al. 2012, Algorithm 1, transcribed for one scalar, loop by loop."""

    def alpha(cutoff: float, period: float) -> float:
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / period)

    out, previous, derivative = [signal[0]], signal[0], 0.0
    for index in range(1, len(signal)):
        period = times[index] - times[index - 1]
        speed = (signal[index] - previous) / period
        derivative = alpha(d_cutoff, period) * speed + (1 - alpha(d_cutoff, period)) * derivative
        cutoff = min_cutoff + beta * abs(derivative)
        previous = alpha(cutoff, period) * signal[index] + (1 - alpha(cutoff, period)) * previous
        out.append(previous)
    return out


def test_smoothing_factor_closed_form() -> None:
    # 1 Hz at 30 fps: r = 2π/30, α = r / (1 + r)
    rate = 2 * math.pi / 30
    assert smoothing_factor(1.0, 1 / 30) == pytest.approx(rate / (1 + rate))
    expected = [rate / (1 + rate) for rate in (2 * math.pi * 0.5 * 0.1, 2 * math.pi * 2.0 * 0.1)]
    np.testing.assert_allclose(smoothing_factor(np.array([0.5, 2.0]), 0.1), expected)


def test_a_constant_signal_comes_out_unchanged() -> None:
    constant = np.tile(np.array([[12.5, -3.0], [400.0, 250.0]]), (50, 1, 1))
    timestamps = np.cumsum(np.random.default_rng(0).uniform(0.01, 0.1, size=50))  # irregular frame times
    filtered = run(OneEuroFilter(OneEuroConfig(min_cutoff=0.5, beta=0.3)), constant, timestamps)
    np.testing.assert_allclose(filtered, constant, rtol=1e-12, atol=1e-12)


def test_beta_zero_is_a_first_order_low_pass_with_the_closed_form_alpha() -> None:
    """y_n = (1−α)^n x_0 + Σ_{i=1..n} α (1−α)^(n−i) x_i with α = 2π f Δ / (1 + 2π f Δ), for any d_cutoff."""
    rng = np.random.default_rng(1)
    signal = rng.normal(0.0, 10.0, size=(40, 3, 2))
    timestamps = np.arange(40) / FPS
    min_cutoff = 2.0
    alpha = 2 * math.pi * min_cutoff / FPS / (1 + 2 * math.pi * min_cutoff / FPS)
    expected = np.empty_like(signal)
    for n in range(40):
        weights = np.array([(1 - alpha) ** n] + [alpha * (1 - alpha) ** (n - i) for i in range(1, n + 1)])
        expected[n] = np.tensordot(weights, signal[: n + 1], axes=1)
    for d_cutoff in (0.3, 1.0, 7.0):
        filtered = run(
            OneEuroFilter(OneEuroConfig(min_cutoff=min_cutoff, beta=0.0, d_cutoff=d_cutoff)), signal, timestamps
        )
        np.testing.assert_allclose(filtered, expected, rtol=1e-10, atol=1e-10)


def test_a_step_converges_without_overshoot_and_faster_with_beta() -> None:
    """Step 0 → 10 at t = 0 (after one sample at 0): with β = 0 the closed form is 10 (1 − (1−α)^n)."""
    samples = np.zeros((91, 1, 2))
    samples[1:, 0, 0] = 10.0
    timestamps = np.arange(91) / FPS
    alpha = (2 * math.pi / FPS) / (1 + 2 * math.pi / FPS)
    plain = run(OneEuroFilter(OneEuroConfig(min_cutoff=1.0, beta=0.0)), samples, timestamps)[:, 0, 0]
    np.testing.assert_allclose(plain[1:], 10 * (1 - (1 - alpha) ** np.arange(1, 91)), rtol=1e-10)
    fast = run(OneEuroFilter(OneEuroConfig(min_cutoff=1.0, beta=0.5)), samples, timestamps)[:, 0, 0]
    for response in (plain, fast):
        assert np.all(np.diff(response) >= 0) and response.max() <= 10.0  # monotone, no overshoot
    assert abs(plain[-1] - 10) < 0.01  # three seconds: 10 (1−α)^90 ≈ 0.0013
    assert np.all(fast[1:] > plain[1:]) and abs(fast[15] - 10) < abs(plain[15] - 10) / 2


def test_matches_the_scalar_algorithm_of_the_paper_with_beta_and_irregular_times() -> None:
    rng = np.random.default_rng(2)
    times = np.cumsum(rng.uniform(0.02, 0.06, size=120))
    signal = 200 * np.sin(times * 3) + rng.normal(0, 4, size=120)
    expected = paper_one_euro(list(signal), list(times), min_cutoff=0.8, beta=0.05, d_cutoff=1.5)
    samples = np.stack([signal, np.full(120, 7.0)], axis=-1)[:, None, :]  # y constant: speed norm = |ẋ|
    filtered = run(OneEuroFilter(OneEuroConfig(min_cutoff=0.8, beta=0.05, d_cutoff=1.5)), samples, times)
    np.testing.assert_allclose(filtered[:, 0, 0], expected, rtol=1e-10)
    np.testing.assert_allclose(filtered[:, 0, 1], 7.0)


@pytest.mark.parametrize(("radius", "bound"), [(0.0, 0.25), (50.0, 0.4)])
def test_the_filter_reduces_jitter_on_a_noisy_trajectory(radius: float, bound: float) -> None:
    """17 joints standing, or on a slow circle (radius 50 px, period 5 s: 63 px/s), + N(0, 3²) px noise, 10 s at
    30 fps, through the default filter."""
    rng = np.random.default_rng(3)
    timestamps = np.arange(300) / FPS
    angle = 2 * math.pi * timestamps / 5.0
    offsets = rng.uniform(0, 200, size=(17, 2))
    truth = offsets[None] + radius * np.stack([np.cos(angle), np.sin(angle)], axis=-1)[:, None, :]
    noisy = truth + rng.normal(0, 3.0, size=truth.shape)
    smoothed = run(OneEuroFilter(), noisy, timestamps)
    raw_jitter, smooth_jitter = keypoint_jitter(noisy), keypoint_jitter(smoothed)
    # white noise: ‖x[t+1] − 2x[t] + x[t−1]‖ is Rayleigh with σ² = 6·3², mean √6·3·√(π/2) ≈ 9.2 px/frame²
    assert raw_jitter == pytest.approx(math.sqrt(6) * 3 * math.sqrt(math.pi / 2), rel=0.05)
    # on the circle: x[t+1] − 2x[t] + x[t−1] = 2 (cos ωΔ − 1) x[t], so exactly r · 2 (1 − cos ωΔ) px/frame²
    assert keypoint_jitter(truth) == pytest.approx(2 * radius * (1 - math.cos(2 * math.pi / 5 / FPS)), abs=1e-9)
    assert smooth_jitter < bound * raw_jitter
    error = np.linalg.norm(smoothed[30:] - truth[30:], axis=-1).mean()  # after a one-second warm-up
    assert error < 0.9 * np.linalg.norm(noisy - truth, axis=-1).mean()  # nearer the truth, not just smoother


def test_missing_points_pass_through_and_keep_their_state() -> None:
    one_euro = OneEuroFilter(OneEuroConfig(min_cutoff=1.0, beta=0.0))
    alpha = (2 * math.pi / FPS) / (1 + 2 * math.pi / FPS)
    first = one_euro(np.array([[np.nan, 0.0], [0.0, 0.0]]), 0.0)
    assert np.isnan(first[0, 0]) and first[0, 1] == 0.0  # the missing row as given
    second = one_euro(np.array([[4.0, 4.0], [10.0, 0.0]]), 1 / FPS)
    np.testing.assert_allclose(second, [[4.0, 4.0], [10 * alpha, 0.0]])  # point 0 starts here
    third = one_euro(np.array([[np.inf, 0.0], [10.0, 0.0]]), 2 / FPS)
    assert np.isinf(third[0, 0]) and third[1, 0] == pytest.approx(10 * (1 - (1 - alpha) ** 2))
    # point 0 comes back two frames after its last sample: Δ = 2/30 s for it
    fourth = one_euro(np.array([[8.0, 4.0], [10.0, 0.0]]), 3 / FPS)
    alpha_two = (4 * math.pi / FPS) / (1 + 4 * math.pi / FPS)
    np.testing.assert_allclose(fourth[0], [4.0 + alpha_two * 4.0, 4.0])


def test_the_pure_step_leaves_read_only_state() -> None:
    filtered, state = one_euro_step(None, np.ones((3, 2)), 0.0, OneEuroConfig())
    filtered[0, 0] = 5.0  # the output is the caller's
    assert state.value[0, 0] == 1.0 and not state.value.flags.writeable
    _, after = one_euro_step(state, np.zeros((3, 2)), 0.1, OneEuroConfig())
    assert state.value[0, 0] == 1.0 and after.timestamp == 0.1


def test_keypoint_smoother_keeps_one_filter_per_track() -> None:
    rng = np.random.default_rng(4)
    config = OneEuroConfig(min_cutoff=1.0, beta=0.02)
    smoother = KeypointSmoother(config)
    poses = {7: rng.normal(100, 5, size=(10, 17, 2)), 3: rng.normal(300, 5, size=(10, 17, 2))}
    timestamps = np.arange(10) / FPS
    outputs: dict[int, list[np.ndarray]] = {7: [], 3: []}
    for frame, timestamp in enumerate(timestamps):
        for track_id in (3, 7):
            outputs[track_id].append(smoother.update(track_id, poses[track_id][frame], timestamp))
    for track_id in (3, 7):  # interleaving tracks changes nothing: each is a filter of its own
        np.testing.assert_allclose(np.stack(outputs[track_id]), run(OneEuroFilter(config), poses[track_id], timestamps))
    assert smoother.track_ids == (3, 7)
    smoother.forget(7)
    smoother.forget(12345)  # unknown ids are fine
    np.testing.assert_array_equal(smoother.update(7, poses[3][0], 1.0), poses[3][0])  # a fresh filter: passes
    smoother.retain([3])
    assert smoother.track_ids == (3,)
    smoother.reset()
    assert smoother.track_ids == ()


def test_smooth_a_frame_of_tracked_people_by_detection_index() -> None:
    smoother = KeypointSmoother(OneEuroConfig(beta=0.0))
    alpha = (2 * math.pi / FPS) / (1 + 2 * math.pi / FPS)

    def person(track_id: int, index: int) -> TrackedPerson:
        return TrackedPerson(track_id, (0.0, 0.0, 1.0, 1.0), 0.9, index, 0, 1, True)

    first = np.stack([np.zeros((17, 2)), np.full((17, 2), 50.0), np.full((17, 2), 80.0)])
    np.testing.assert_array_equal(smoother.smooth([person(10, 0), person(4, 1)], first, 0.0), first)
    second = np.stack([np.full((17, 2), 60.0), np.full((17, 2), 99.0), np.full((17, 2), 10.0)])
    # detections reordered: track 4 is now row 0, track 10 row 2; row 1 is untracked and passes through
    smoothed = smoother.smooth([person(4, 0), person(10, 2)], second, 1 / FPS)
    np.testing.assert_allclose(smoothed[0], 50.0 + alpha * 10.0)
    np.testing.assert_allclose(smoothed[1], 99.0)
    np.testing.assert_allclose(smoothed[2], alpha * 10.0)


def test_keypoint_jitter_by_hand() -> None:
    frames = np.arange(6, dtype=np.float64)
    uniform = np.stack([3 * frames, -2 * frames], axis=-1)[:, None, :]
    assert keypoint_jitter(uniform) == 0.0
    accelerating = np.stack([frames**2, np.zeros(6)], axis=-1)[:, None, :]  # second difference 2 everywhere
    assert keypoint_jitter(accelerating) == pytest.approx(2.0)
    both = np.concatenate([uniform, accelerating], axis=1)
    assert keypoint_jitter(both) == pytest.approx(1.0)
    zigzag = np.array([0.0, 1.0, 0.0, 1.0])[:, None, None] * np.array([3.0, 4.0])  # ±(3, 4): |2·5|
    assert keypoint_jitter(zigzag) == pytest.approx(10.0)
    holed = accelerating.copy()
    holed[5, 0, 0] = np.nan  # removes the last triple only
    assert keypoint_jitter(holed) == pytest.approx(2.0)
    assert math.isnan(keypoint_jitter(np.full((4, 1, 2), np.nan)))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: OneEuroFilter()(np.zeros(17), 0.0), r"values must have shape \(K, D\).*got \(17,\)"),
        (lambda: KeypointSmoother().update(1, np.zeros((17, 3)), 0.0), r"keypoints must have shape \(K, 2\), got"),
        (lambda: KeypointSmoother().smooth([], np.zeros((17, 2)), 0.0), r"keypoints must have shape \(N, K, 2\)"),
        (lambda: keypoint_jitter(np.zeros((2, 17, 2))), r"trajectory must have shape \(T, K, D\) with T >= 3"),
        (lambda: keypoint_jitter(np.zeros((5, 2))), r"trajectory must have shape \(T, K, D\)"),
        (lambda: OneEuroConfig(min_cutoff=0.0), "min_cutoff must be positive"),
        (lambda: OneEuroConfig(beta=-1.0), "beta must be at least 0"),
        (lambda: OneEuroConfig(d_cutoff=-1.0), "d_cutoff must be positive"),
    ],
)
def test_errors_name_the_argument(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_shape_changes_and_time_going_back_are_errors() -> None:
    one_euro = OneEuroFilter()
    one_euro(np.zeros((17, 2)), 1.0)
    with pytest.raises(ValueError, match=r"values must have shape \(17, 2\) like the previous samples"):
        one_euro(np.zeros((16, 2)), 2.0)
    with pytest.raises(ValueError, match=r"timestamp must increase: got 1\.0 after 1\.0"):
        one_euro(np.zeros((17, 2)), 1.0)
    one_euro.reset()
    np.testing.assert_array_equal(one_euro(np.ones((16, 2)), 0.5), np.ones((16, 2)))
