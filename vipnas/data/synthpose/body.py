"""The SynthPose body: per-person proportions, a joint-angle pose with limits, and pseudo-3-D kinematics.

The body is built in its own frame (x to the person's left, y down, z forward, units of body height), turned
by a yaw about the vertical axis, projected orthographically and placed in the image. Depth (towards the
camera) orders the limbs for drawing, so limbs occlude each other as the pose and the view dictate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ANGLES", "ANGLE_LIMITS", "Body", "BodyShape", "Skeleton", "clip_pose", "pose_skeleton", "random_shape"]

# Pose angles in degrees. Flexion turns a limb forward (+z), abduction away from the body's midline.
ANGLE_LIMITS: dict[str, tuple[float, float]] = {
    "torso_lean": (-20.0, 50.0),
    "torso_side": (-20.0, 20.0),
    "head_yaw": (-70.0, 70.0),
    "head_tilt": (-25.0, 25.0),
    "left_shoulder_flex": (-60.0, 180.0),
    "left_shoulder_abduct": (-10.0, 170.0),
    "left_elbow_flex": (0.0, 150.0),
    "left_elbow_abduct": (-20.0, 120.0),
    "right_shoulder_flex": (-60.0, 180.0),
    "right_shoulder_abduct": (-10.0, 170.0),
    "right_elbow_flex": (0.0, 150.0),
    "right_elbow_abduct": (-20.0, 120.0),
    "left_hip_flex": (-30.0, 120.0),
    "left_hip_abduct": (-15.0, 50.0),
    "left_knee_flex": (0.0, 150.0),
    "right_hip_flex": (-30.0, 120.0),
    "right_hip_abduct": (-15.0, 50.0),
    "right_knee_flex": (0.0, 150.0),
}
ANGLES: tuple[str, ...] = tuple(ANGLE_LIMITS)
_LOW = np.array([low for low, _ in ANGLE_LIMITS.values()])
_HIGH = np.array([high for _, high in ANGLE_LIMITS.values()])
INDEX = {name: i for i, name in enumerate(ANGLES)}


def clip_pose(pose: np.ndarray) -> np.ndarray:
    """Clip an (A,) or (T, A) pose to the joint-angle limits."""
    return np.clip(pose, _LOW, _HIGH)


@dataclass(frozen=True)
class BodyShape:
    """Proportions of one person, as fractions of the body height (about head top to ankles)."""

    head_radius: float = 0.065
    neck: float = 0.035
    torso: float = 0.30
    shoulder_half: float = 0.105
    hip_half: float = 0.075
    upper_arm: float = 0.175
    forearm: float = 0.155
    hand: float = 0.06
    thigh: float = 0.245
    shin: float = 0.245
    foot: float = 0.07
    arm_width: float = 0.05
    leg_width: float = 0.075
    torso_width: float = 1.0  # multiplier of the torso's outline


def random_shape(rng: np.random.Generator) -> BodyShape:
    """Human proportions varying per person: build, limb ratios, and now and then child-like proportions."""
    child = rng.random() < 0.12
    head = 0.065 * rng.uniform(0.9, 1.12) * (1.3 if child else 1.0)
    limbs = rng.uniform(0.9, 1.08) * (0.88 if child else 1.0)
    build = rng.uniform(0.8, 1.3)
    return BodyShape(
        head_radius=head,
        neck=0.035 * rng.uniform(0.7, 1.3),
        torso=0.30 * rng.uniform(0.92, 1.08),
        shoulder_half=0.105 * rng.uniform(0.85, 1.15) * (0.9 if child else 1.0),
        hip_half=0.075 * rng.uniform(0.85, 1.2),
        upper_arm=0.175 * limbs * rng.uniform(0.95, 1.05),
        forearm=0.155 * limbs * rng.uniform(0.95, 1.05),
        hand=0.06 * rng.uniform(0.85, 1.15),
        thigh=0.245 * limbs * rng.uniform(0.95, 1.05),
        shin=0.245 * limbs * rng.uniform(0.95, 1.05),
        foot=0.07 * rng.uniform(0.85, 1.15),
        arm_width=0.05 * build,
        leg_width=0.075 * build,
        torso_width=build,
    )


@dataclass
class Skeleton:
    """A posed body in image pixels.

    Attributes:
        points: name → (2,) image position (x, y) in pixels.
        depth: name → depth towards the camera in pixels (larger is nearer).
        normals_depth: face feature name → depth component of its surface normal (> 0 faces the camera).
        head_radius: head radius in pixels.
        height: body height in pixels.
    """

    points: dict[str, np.ndarray]
    depth: dict[str, float]
    normals_depth: dict[str, float]
    head_radius: float
    height: float


@dataclass(frozen=True)
class Body:
    """Where a person stands and how they are seen.

    Attributes:
        x, y: image position of the pelvis in pixels.
        height: body height in pixels.
        yaw: degrees about the vertical axis; 0 faces the camera, 90 faces image right, 180 turns away.
        roll: in-plane tilt of the whole body in degrees (people bending over or lying down).
    """

    x: float
    y: float
    height: float
    yaw: float = 0.0
    roll: float = 0.0


def _direction(flex: float, abduct: float, side: float) -> np.ndarray:
    """Unit limb direction: straight down, abducted in the frontal plane, then flexed forward."""
    f, a = np.deg2rad(flex), np.deg2rad(abduct)
    return np.array([side * np.sin(a), np.cos(a) * np.cos(f), np.cos(a) * np.sin(f)])


def _rot_y(angle: float) -> np.ndarray:
    c, s = np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_z(angle: float) -> np.ndarray:
    c, s = np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


# Face features on the head sphere (head frame, unit radius): position and outward normal coincide.
_FACE = {
    "nose": np.array([0.0, 0.2, 1.0]) / np.linalg.norm([0.0, 0.2, 1.0]) * 1.02,
    "left_eye": np.array([0.36, -0.12, 0.92]),
    "right_eye": np.array([-0.36, -0.12, 0.92]),
    "left_ear": np.array([0.96, 0.05, 0.0]),  # on the side: seen from the front and from behind
    "right_ear": np.array([-0.96, 0.05, 0.0]),
    "head_top": np.array([0.0, -0.9, 0.05]),
    "head_bottom": np.array([0.0, 0.88, 0.3]),
    "face": np.array([0.0, 0.1, 1.0]),
}


def pose_skeleton(shape: BodyShape, pose: np.ndarray, body: Body) -> Skeleton:
    """Forward kinematics: proportions + angles + placement → named image points with depths.

    Args:
        shape: proportions (fractions of height).
        pose: (A,) angles in degrees, in :data:`ANGLES` order (clipped to the limits here).
        body: image placement and view.

    Returns:
        The skeleton in pixels: joints, hand and toe tips, head centre and face features.
    """
    p = dict(zip(ANGLES, clip_pose(np.asarray(pose, dtype=np.float64)), strict=True))
    lean, side = np.deg2rad(p["torso_lean"]), np.deg2rad(p["torso_side"])
    up = np.array([np.sin(side) * np.cos(lean), -np.cos(side) * np.cos(lean), np.sin(lean)])
    pelvis = np.zeros(3)
    neck = pelvis + shape.torso * up
    local: dict[str, np.ndarray] = {"pelvis": pelvis, "neck": neck}
    across = np.array([np.cos(side), np.sin(side), 0.0])  # shoulder line follows the side bend
    for name, sign in (("left", 1.0), ("right", -1.0)):
        shoulder = neck + sign * shape.shoulder_half * across + 0.02 * -up
        elbow = shoulder + shape.upper_arm * _direction(p[f"{name}_shoulder_flex"], p[f"{name}_shoulder_abduct"], sign)
        forearm = _direction(
            p[f"{name}_shoulder_flex"] + p[f"{name}_elbow_flex"],
            p[f"{name}_shoulder_abduct"] + p[f"{name}_elbow_abduct"],
            sign,
        )
        wrist = elbow + shape.forearm * forearm
        hip = pelvis + np.array([sign * shape.hip_half, 0.0, 0.0])
        knee = hip + shape.thigh * _direction(p[f"{name}_hip_flex"], p[f"{name}_hip_abduct"], sign)
        shin = _direction(p[f"{name}_hip_flex"] - p[f"{name}_knee_flex"], 0.5 * p[f"{name}_hip_abduct"], sign)
        ankle = knee + shape.shin * shin
        toe = ankle + shape.foot * np.array([0.0, 0.25, 1.0]) / np.hypot(0.25, 1.0)
        local.update(
            {
                f"{name}_shoulder": shoulder,
                f"{name}_elbow": elbow,
                f"{name}_wrist": wrist,
                f"{name}_hand": wrist + shape.hand * forearm,
                f"{name}_hip": hip,
                f"{name}_knee": knee,
                f"{name}_ankle": ankle,
                f"{name}_toe": toe,
            }
        )
    # Torso as a box: shoulder and hip lines with chest and belly thickness, so it keeps a width in profile.
    forward = np.array([0.0, np.sin(lean), np.cos(lean)])
    corners = []
    for name, sign in (("left", 1.0), ("right", -1.0)):
        shoulder = local[f"{name}_shoulder"] + sign * 0.35 * shape.arm_width * across - 0.01 * up
        hip = local[f"{name}_hip"] + np.array([sign * 0.02, 0.0, 0.0])
        for thickness in (-1.0, 1.0):
            corners.append(shoulder + thickness * 0.06 * shape.torso_width * forward)
            corners.append(hip + thickness * 0.055 * shape.torso_width * np.array([0.0, 0.0, 1.0]))
    for index, corner in enumerate(corners):
        local[f"torso_{index}"] = corner
    head_center = neck + (shape.neck + shape.head_radius) * up
    local["head"] = head_center
    head_rotation = _rot_z(-p["head_tilt"]) @ _rot_y(p["head_yaw"])
    feature_normals = {}
    for name, offset in _FACE.items():
        local[name] = head_center + shape.head_radius * (head_rotation @ offset)
        feature_normals[name] = head_rotation @ (offset / np.linalg.norm(offset))

    view = _rot_z(body.roll) @ _rot_y(body.yaw)
    points, depth = {}, {}
    for name, point in local.items():
        x, y, z = view @ point
        points[name] = np.array([body.x + x * body.height, body.y + y * body.height])
        depth[name] = float(z * body.height)
    normals_depth = {name: float((view @ normal)[2]) for name, normal in feature_normals.items()}
    return Skeleton(points, depth, normals_depth, shape.head_radius * body.height, body.height)
