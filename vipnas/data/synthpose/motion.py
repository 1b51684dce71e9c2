"""Poses for still images and smooth motion for videos: walking, waving, turning, jumping, exercising.

Every pose is a vector of joint angles in :data:`vipnas.data.synthpose.body.ANGLES` order; motion adds smooth
noise (a few slow sinusoids per angle) to a cyclic activity, so consecutive frames are strongly correlated and
a model can profit from the previous frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vipnas.data.synthpose.body import ANGLES, INDEX, clip_pose

__all__ = ["ACTIVITIES", "TrackMotion", "random_pose", "track_motion"]

ACTIVITIES = ("walk", "wave", "turn", "jump", "exercise")
_STILL = ("stand", "walk", "arms_up", "wave", "reach", "sit", "crouch", "kick", "random")


def _set(pose: np.ndarray, **angles: float | np.ndarray) -> np.ndarray:
    for name, value in angles.items():
        pose[..., INDEX[name]] = value
    return pose


def _walk(phase: np.ndarray | float, stride: float = 1.0) -> np.ndarray:
    """Walking cycle at ``phase`` radians: legs and counter-swinging arms."""
    phase = np.asarray(phase, dtype=np.float64)
    pose = np.zeros((*phase.shape, len(ANGLES)))
    swing = np.sin(phase) * stride
    return _set(
        pose,
        torso_lean=4.0,
        left_hip_flex=28 * swing,
        right_hip_flex=-28 * swing,
        left_knee_flex=8 + 35 * np.clip(np.sin(phase - 1.3), 0, None) * stride,
        right_knee_flex=8 + 35 * np.clip(np.sin(phase + np.pi - 1.3), 0, None) * stride,
        left_shoulder_flex=-22 * swing,
        right_shoulder_flex=22 * swing,
        left_shoulder_abduct=8.0,
        right_shoulder_abduct=8.0,
        left_elbow_flex=18 + 12 * np.clip(-swing, 0, None),
        right_elbow_flex=18 + 12 * np.clip(swing, 0, None),
        left_hip_abduct=3.0,
        right_hip_abduct=3.0,
    )


def random_pose(rng: np.random.Generator) -> np.ndarray:
    """One still pose: an activity template plus per-angle noise, within the joint limits.

    Returns:
        (A,) angles in degrees.
    """
    kind = _STILL[rng.choice(len(_STILL), p=[0.16, 0.18, 0.09, 0.1, 0.09, 0.09, 0.08, 0.06, 0.15])]
    pose = _walk(rng.uniform(0, 2 * np.pi), rng.uniform(0.3, 1.4)) if kind == "walk" else np.zeros(len(ANGLES))
    if kind == "stand":
        _set(pose, left_shoulder_abduct=8, right_shoulder_abduct=8, left_elbow_flex=10, right_elbow_flex=10)
    elif kind == "arms_up":
        _set(pose, left_shoulder_abduct=rng.uniform(100, 170), right_shoulder_abduct=rng.uniform(100, 170))
        _set(pose, left_elbow_abduct=rng.uniform(-10, 60), right_elbow_abduct=rng.uniform(-10, 60))
    elif kind == "wave":
        side = "left" if rng.random() < 0.5 else "right"
        _set(pose, **{f"{side}_shoulder_abduct": rng.uniform(70, 140), f"{side}_elbow_abduct": rng.uniform(40, 115)})
    elif kind == "reach":
        _set(pose, left_shoulder_flex=rng.uniform(40, 170), right_shoulder_flex=rng.uniform(-20, 170))
    elif kind == "sit":
        knees = rng.uniform(70, 110)
        _set(pose, left_hip_flex=rng.uniform(70, 100), right_hip_flex=rng.uniform(70, 100))
        _set(pose, left_knee_flex=knees, right_knee_flex=knees + rng.uniform(-15, 15))
    elif kind == "crouch":
        _set(pose, torso_lean=rng.uniform(15, 45), left_hip_flex=100, right_hip_flex=95)
        _set(pose, left_knee_flex=rng.uniform(100, 145), right_knee_flex=rng.uniform(100, 145))
        _set(pose, left_shoulder_flex=rng.uniform(20, 70), right_shoulder_flex=rng.uniform(20, 70))
    elif kind == "kick":
        side = "left" if rng.random() < 0.5 else "right"
        _set(pose, **{f"{side}_hip_flex": rng.uniform(50, 110), f"{side}_knee_flex": rng.uniform(0, 60)})
        _set(pose, left_shoulder_abduct=rng.uniform(20, 80), right_shoulder_abduct=rng.uniform(20, 80))
    elif kind == "random":
        pose = rng.uniform(-30, 120, len(ANGLES)) * rng.uniform(0.3, 1.0)
    pose = pose + rng.normal(0.0, 9.0, len(ANGLES))
    pose[INDEX["head_yaw"]] = rng.normal(0.0, 22.0)
    pose[INDEX["torso_side"]] = rng.normal(0.0, 6.0)
    return clip_pose(pose)


def _smooth_noise(rng: np.random.Generator, frames: int, amplitude: float) -> np.ndarray:
    """(frames, A) sum of two slow sinusoids per angle."""
    t = np.arange(frames)[:, None]
    noise = np.zeros((frames, len(ANGLES)))
    for _ in range(2):
        frequency = rng.uniform(0.01, 0.07, len(ANGLES))
        phase = rng.uniform(0, 2 * np.pi, len(ANGLES))
        noise += rng.uniform(0.3, 1.0, len(ANGLES)) * amplitude * np.sin(2 * np.pi * frequency * t + phase)
    return noise


@dataclass
class TrackMotion:
    """One person's motion over a video.

    Attributes:
        activity: one of :data:`ACTIVITIES`.
        poses: (F, A) angles per frame.
        x, y: (F,) pelvis position in world pixels.
        height: (F,) body height in pixels.
        yaw: (F,) degrees.
        roll: (F,) degrees.
    """

    activity: str
    poses: np.ndarray
    x: np.ndarray
    y: np.ndarray
    height: np.ndarray
    yaw: np.ndarray
    roll: np.ndarray


def track_motion(
    rng: np.random.Generator, frames: int, region: tuple[float, float, float, float], height: float
) -> TrackMotion:
    """Sample a smooth motion for one person.

    Args:
        rng: the video's generator.
        frames: number of frames.
        region: (x0, y0, x1, y1) world pixels the camera first sees; the person starts inside it.
        height: body height in pixels.
    """
    activity = ACTIVITIES[rng.choice(len(ACTIVITIES), p=[0.36, 0.16, 0.16, 0.14, 0.18])]
    t = np.arange(frames, dtype=np.float64)
    x0, y0, x1, y1 = region
    x = np.full(frames, x0 + rng.uniform(0.1, 0.9) * (x1 - x0))
    y = np.full(frames, y0 + rng.uniform(0.35, 0.7) * (y1 - y0) + 0.1 * height)
    yaw = np.full(frames, rng.normal(0.0, 35.0) + (180.0 if rng.random() < 0.15 else 0.0))
    period = rng.uniform(22, 38)
    poses = np.zeros((frames, len(ANGLES)))
    if activity == "walk":
        direction = 1.0 if rng.random() < 0.5 else -1.0
        speed = height * rng.uniform(0.008, 0.02)
        x = x[0] + direction * speed * t
        yaw = np.full(frames, direction * rng.uniform(45, 100))
        poses = _walk(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi), rng.uniform(0.7, 1.3))
    elif activity == "wave":
        side = "left" if rng.random() < 0.5 else "right"
        wave = np.sin(2 * np.pi * t / rng.uniform(10, 18))
        _set(poses, **{f"{side}_shoulder_abduct": 110 + 15 * wave, f"{side}_elbow_abduct": 70 + 35 * wave})
        other = "right" if side == "left" else "left"
        _set(poses, **{f"{other}_shoulder_abduct": 8.0, f"{other}_elbow_flex": 15.0})
    elif activity == "turn":
        yaw = yaw[0] + rng.choice([-1.0, 1.0]) * rng.uniform(3, 8) * t
        poses = _walk(2 * np.pi * t / period, 0.25)
    elif activity == "jump":
        phase = (t / period + rng.uniform(0, 1)) % 1.0
        air = np.clip(np.sin(np.pi * (phase - 0.3) / 0.5), 0, None) * (phase > 0.3) * (phase < 0.8)
        crouch = np.sin(np.pi * np.clip(phase / 0.3, 0, 1)) * (phase < 0.3)
        y = y - air * height * 0.18
        _set(poses, left_knee_flex=80 * crouch + 20 * air, right_knee_flex=80 * crouch + 20 * air)
        _set(poses, left_hip_flex=60 * crouch + 15 * air, right_hip_flex=60 * crouch + 15 * air)
        _set(poses, torso_lean=25 * crouch, left_shoulder_abduct=20 + 140 * air, right_shoulder_abduct=20 + 140 * air)
    else:  # jumping jacks with drifting arms
        wave = 0.5 - 0.5 * np.cos(2 * np.pi * t / (period * 0.7))
        _set(poses, left_shoulder_abduct=10 + 150 * wave, right_shoulder_abduct=10 + 150 * wave)
        _set(poses, left_hip_abduct=2 + 28 * wave, right_hip_abduct=2 + 28 * wave)
        _set(poses, left_elbow_flex=30 * (1 - wave), right_elbow_flex=30 * (1 - wave))
    poses = poses + _smooth_noise(rng, frames, rng.uniform(5, 12))
    poses[:, INDEX["head_yaw"]] += _smooth_noise(rng, frames, 25.0)[:, 0]
    roll = np.full(frames, rng.normal(0.0, 3.0))
    heights = np.full(frames, height) * (1 + 0.05 * np.sin(2 * np.pi * t / rng.uniform(60, 200)))
    return TrackMotion(activity, clip_pose(poses), x, y, heights, yaw, roll)
