"""SynthPose scenes: cluttered backgrounds, limb-like distractors, occluders, lighting, noise, and ground truth.

:func:`render_image` draws one still image with several people; :func:`render_video` draws the frames of one
video with moving people, a moving camera and passing occluders. Both return exact keypoints whose visibility
is read back from the label map (see :mod:`vipnas.data.synthpose.render`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vipnas.data.synthpose.body import Body, BodyShape, Skeleton, pose_skeleton, random_shape
from vipnas.data.synthpose.difficulty import DEFAULT_LEVEL, LEVELS, Difficulty
from vipnas.data.synthpose.motion import random_pose, track_motion
from vipnas.data.synthpose.render import (
    DISTRACTOR,
    LABEL_STRIDE,
    OCCLUDER,
    OWN_PARTS,
    Canvas,
    Clothing,
    Texture,
    draw_capsule,
    draw_person,
    person_label,
    random_clothing,
    random_color,
)

__all__ = ["Lighting", "PersonTruth", "annotate", "background", "finish", "render_image", "render_video"]


@dataclass
class PersonTruth:
    """Ground truth of one drawn person.

    Attributes:
        index: drawing index in the frame (selects its labels).
        points: joint name → (2,) position in pixels, rounded to 0.01 px (as written to JSON).
        visibility: joint name → 0 (outside the image), 1 (occluded) or 2 (visible).
        box: (4,) ``(x, y, w, h)`` extent of the drawn person, before occlusion, clipped to the image.
        area: number of pixels that show the person in the final image.
        head_box: (4,) ``(x, y, w, h)`` of the head.
        height: body height in pixels.
        track_id: the track in a video, else -1.
    """

    index: int
    points: dict[str, np.ndarray]
    visibility: dict[str, int]
    box: np.ndarray
    area: int
    head_box: np.ndarray
    height: float
    track_id: int = -1


def _noise_field(rng: np.random.Generator, width: int, height: int, cells: int, amplitude: float) -> np.ndarray:
    small = rng.normal(0.0, amplitude, (cells, max(2, cells * width // max(height, 1)), 3)).astype(np.float32)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


def background(rng: np.random.Generator, width: int, height: int, level: Difficulty = LEVELS[DEFAULT_LEVEL]) -> Canvas:
    """A scene: sky/wall and ground, blotches, furniture and poles, limb-like distractors (as many as ``level``
    says)."""
    top, bottom = random_color(rng, (0.0, 0.6)), random_color(rng, (0.0, 0.6))
    horizon = rng.uniform(0.2, 0.8) * height
    rows = np.arange(height, dtype=np.float32)[:, None, None]
    blend = np.clip((rows - horizon) / rng.uniform(2, 40) + 0.5, 0, 1)
    image = (top * (1 - blend) * (1 - 0.3 * rows / height) + bottom * blend).astype(np.float32)
    image = np.broadcast_to(image, (height, width, 3)) + _noise_field(rng, width, height, 5, level.background_noise)
    canvas = Canvas(np.ascontiguousarray(image, dtype=np.float32))
    for _ in range(int(rng.integers(*level.clutter))):
        color = random_color(rng).tolist()
        x, y = rng.uniform(-0.1, 1.0) * width, rng.uniform(-0.1, 1.0) * height
        w, h = rng.uniform(0.05, 0.5) * width, rng.uniform(0.05, 0.6) * height
        kind = rng.integers(4)
        if kind == 0:
            cv2.rectangle(canvas.image, (int(x), int(y)), (int(x + w), int(y + h)), color, -1)
            for stripe in range(int(rng.integers(0, 6))):  # windows, shelves, planks
                sy = int(y + (stripe + 0.5) * h / 6)
                cv2.line(canvas.image, (int(x), sy), (int(x + w), sy), (np.array(color) * 0.7).tolist(), 2)
        elif kind == 1:
            cv2.ellipse(
                canvas.image, (int(x), int(y)), (int(w / 3), int(h / 3)), rng.uniform(0, 180), 0, 360, color, -1
            )
        elif kind == 2:
            cv2.line(canvas.image, (int(x), 0), (int(x + rng.normal(0, 20)), height), color, int(rng.integers(2, 12)))
        else:
            points = (rng.uniform(0, 1, (int(rng.integers(3, 6)), 2)) * [w, h] + [x, y]).astype(np.int32)
            cv2.fillPoly(canvas.image, [points], color)
    for _ in range(int(rng.integers(*level.distractors))):  # limb-like distractors: lone shaded arms, legs, sticks
        scale = rng.uniform(0.1, 0.6) * height
        start = rng.uniform(0, 1, 2) * [width, height]
        middle = start + scale * 0.45 * np.array([np.cos(a := rng.uniform(0, 2 * np.pi)), np.sin(a)])
        end = middle + scale * 0.4 * np.array([np.cos(b := a + rng.normal(0, 1.0)), np.sin(b)])
        color = random_clothing(rng).skin if rng.random() < 0.5 else random_color(rng)
        texture = Texture("bands", 0.05, random_color(rng), 0.5) if rng.random() < 0.3 else None
        width_px = rng.uniform(0.025, 0.05) * scale * 2
        draw_capsule(canvas, start, middle, width_px, width_px * 0.85, color, DISTRACTOR, texture=texture, unit=scale)
        if rng.random() < 0.6:
            draw_capsule(canvas, middle, end, width_px * 0.85, width_px * 0.7, color, DISTRACTOR, unit=scale)
    return canvas


def draw_occluder(canvas: Canvas, rng: np.random.Generator, center: np.ndarray, size: np.ndarray, kind: int) -> None:
    """A foreground object (box, pole or ball) that hides whatever is behind it."""
    color = random_color(rng)
    x, y = center
    w, h = size
    if kind == 0:
        points = np.array(
            [[x - w / 2, y - h / 2], [x + w / 2, y - h / 2], [x + w / 2, y + h / 2], [x - w / 2, y + h / 2]]
        )
        mask = np.zeros(canvas.labels.shape, np.uint8)
        cv2.fillConvexPoly(mask, np.round(points).astype(np.int32), 1)
        inside = mask.astype(bool)
        canvas.image[inside] = color * rng.uniform(0.8, 1.1)
        canvas.labels[inside] = OCCLUDER
    elif kind == 1:
        draw_capsule(canvas, np.array([x, y - h / 2]), np.array([x, y + h / 2]), w / 2, w / 2, color, OCCLUDER)
    else:
        draw_capsule(canvas, np.array([x, y]), np.array([x, y]), w / 2, w / 2, color, OCCLUDER)


@dataclass(frozen=True)
class Lighting:
    """How a frame is lit and sensed: gain, colour cast, a linear light gradient, gamma, noise, defocus."""

    gain: float
    cast: np.ndarray
    angle: float
    gradient: float
    gamma: float
    noise: float
    defocus: bool

    @classmethod
    def sample(cls, rng: np.random.Generator) -> Lighting:
        return cls(
            gain=float(rng.uniform(0.55, 1.35)),
            cast=rng.uniform(0.85, 1.15, 3).astype(np.float32),
            angle=float(rng.uniform(0, 2 * np.pi)),
            gradient=float(rng.uniform(-0.5, 0.5)),
            gamma=float(rng.uniform(0.75, 1.35)),
            noise=float(rng.uniform(0.0, 7.0)),
            defocus=bool(rng.random() < 0.2),
        )


def finish(canvas: Canvas, rng: np.random.Generator, lighting: Lighting, gain: float = 1.0) -> np.ndarray:
    """Apply lighting (times an extra ``gain``) and sensor noise → (H, W, 3) uint8 RGB."""
    height, width = canvas.labels.shape
    cos, sin = np.cos(lighting.angle), np.sin(lighting.angle)
    ramp = (np.arange(width, dtype=np.float32)[None, :] / width - 0.5) * cos
    ramp = ramp + (np.arange(height, dtype=np.float32)[:, None] / height - 0.5) * sin
    light = np.float32(lighting.gain * gain) * (1 + np.float32(lighting.gradient) * ramp)
    image = canvas.image * (light[..., None] * lighting.cast)
    if lighting.noise > 0:  # a random 128×128 noise tile repeated from a random offset: 10× cheaper, looks alike
        tile = rng.standard_normal((128, 128, 3), dtype=np.float32) * np.float32(lighting.noise)
        reps = (height // 128 + 2, width // 128 + 2, 1)
        dy, dx = (int(value) for value in rng.integers(0, 128, 2))
        image += np.tile(tile, reps)[dy : dy + height, dx : dx + width]
    if lighting.defocus:
        image = cv2.GaussianBlur(image, (3, 3), 0)
    pixels = np.clip(image + 0.5, 0, 255).astype(np.uint8)
    table = np.clip(255.0 * (np.arange(256) / 255.0) ** lighting.gamma + 0.5, 0, 255).astype(np.uint8)
    return cv2.LUT(pixels, table)


def annotate(
    canvas: Canvas, skeleton: Skeleton, person: int, extent: tuple[int, int, int, int] | None, joints: tuple[str, ...]
) -> PersonTruth | None:
    """Read a drawn person's ground truth back from the finished label map.

    Args:
        canvas: the fully drawn frame (every occluder included).
        skeleton: the person's skeleton as drawn.
        person: drawing index.
        extent: what :func:`draw_person` returned.
        joints: joint names to annotate (COCO or PoseTrack18 order; PoseTrack's ears are skipped by the writer).
    """
    if extent is None:
        return None
    height, width = canvas.labels.shape
    points, visibility = {}, {}
    for name in joints:
        point = np.round(skeleton.points[name], 2)
        points[name] = point
        if not (0 <= point[0] <= width - 1 and 0 <= point[1] <= height - 1):
            visibility[name] = 0
            continue
        label = canvas.labels[int(np.floor(point[1] + 0.5)), int(np.floor(point[0] + 0.5))]
        own = {person_label(person, part) for part in OWN_PARTS[name]}
        visibility[name] = 2 if label in own else 1
    x0, y0, x1, y1 = extent
    labels = canvas.labels[y0:y1, x0:x1]
    area = int(np.count_nonzero((labels >= LABEL_STRIDE * (person + 1)) & (labels < LABEL_STRIDE * (person + 2))))
    radius = skeleton.head_radius
    head = skeleton.points["head"]
    head_box = np.round([head[0] - radius, head[1] - radius, 2 * radius, 2 * radius], 2)
    box = np.array([x0, y0, x1 - 1 - x0, y1 - 1 - y0], np.float64)
    return PersonTruth(person, points, visibility, box, area, head_box, skeleton.height)


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(np.exp(rng.uniform(np.log(bounds[0]), np.log(bounds[1]))))


def _count(rng: np.random.Generator, odds: tuple[float, ...], first: int) -> int:
    """``first``, ``first + 1``, ... drawn with ``odds``."""
    return int(rng.choice(np.arange(first, first + len(odds)), p=list(odds)))


def _random_body(rng: np.random.Generator, width: int, height: int, others: list[Body], level: Difficulty) -> Body:
    size = height * _log_uniform(rng, level.person_size)
    if others and rng.random() < level.near:  # stand close to someone: overlapping people
        near = others[int(rng.integers(len(others)))]
        x = near.x + rng.normal(0, 0.3) * max(size, near.height)
    else:
        x = rng.uniform(-0.05, 1.05) * width
    y = rng.uniform(0.3, 0.75) * height + 0.15 * size
    yaw = (rng.normal(0, 30), rng.choice([-1, 1]) * rng.uniform(45, 110), rng.uniform(-180, 180))[
        rng.choice(3, p=[0.5, 0.3, 0.2])
    ]
    roll = rng.uniform(-90, 90) if rng.random() < level.roll else rng.normal(0, 5)
    return Body(x=float(x), y=float(y), height=size, yaw=float(yaw), roll=float(roll))


def render_image(
    rng: np.random.Generator,
    width: int,
    height: int,
    joints: tuple[str, ...],
    level: Difficulty = LEVELS[DEFAULT_LEVEL],
) -> tuple[np.ndarray, np.ndarray, list[PersonTruth]]:
    """One still image with as many people, occluders and distractors as ``level`` draws.

    Returns:
        image: (H, W, 3) uint8 RGB (before JPEG compression).
        labels: (H, W) int32 label map.
        people: ground truth of each person with something drawn, in drawing order.
    """
    canvas = background(rng, width, height, level)
    count = _count(rng, level.people, 1)
    bodies: list[Body] = []
    for _ in range(count):
        bodies.append(_random_body(rng, width, height, bodies, level))
    bodies.sort(key=lambda body: body.height + rng.normal(0, 0.15) * body.height)  # far (small) first
    light = float(rng.uniform(-1, 1))
    drawn = []
    for index, body in enumerate(bodies):
        shape, clothing = random_shape(rng), random_clothing(rng, level.textures)
        skeleton = pose_skeleton(shape, random_pose(rng), body)
        drawn.append((index, skeleton, draw_person(canvas, skeleton, shape, clothing, index, light=light)))
    for _ in range(_count(rng, level.occluders, 0)):
        center = rng.uniform(0, 1, 2) * [width, height]
        size = rng.uniform([0.04, 0.15], [0.35, 0.6]) * [width, height]
        draw_occluder(canvas, rng, center, size, int(rng.integers(3)))
    people = [annotate(canvas, skeleton, index, extent, joints) for index, skeleton, extent in drawn]
    return finish(canvas, rng, Lighting.sample(rng)), canvas.labels, [person for person in people if person is not None]


@dataclass
class _Track:
    shape: BodyShape
    clothing: Clothing
    motion: object


def render_video(
    rng: np.random.Generator,
    width: int,
    height: int,
    frames: int,
    joints: tuple[str, ...],
    level: Difficulty = LEVELS[DEFAULT_LEVEL],
    events: np.random.Generator | None = None,
):
    """Yield ``(image, labels, people)`` for each frame of one video.

    People walk, wave, turn, jump or exercise with smooth noise; the camera pans and zooms over a world larger
    than the frame; occluders pass in front of everyone; fast limbs are motion-blurred. ``level`` sets the counts
    and sizes; its occlusion events (occluders aimed at one person at one frame) draw from ``events``, a generator
    of their own, so that a level without events renders exactly as before they existed.
    """
    world_w, world_h = int(width * rng.uniform(1.3, 1.6)), int(height * rng.uniform(1.2, 1.4))
    world = background(rng, world_w, world_h, level)
    world_labels = world.labels.astype(np.uint8)  # only scene labels so far; warpAffine has no int32 support
    start = np.array([rng.uniform(0, world_w - width), rng.uniform(0, world_h - height)])
    region = (start[0], start[1], start[0] + width, start[1] + height)
    tracks = []
    for _ in range(_count(rng, level.video_people, 1)):
        size = height * _log_uniform(rng, level.video_size)
        motion = track_motion(rng, frames, region, size)
        tracks.append(_Track(random_shape(rng), random_clothing(rng, level.textures), motion))
    order = rng.permutation(len(tracks))  # fixed depth order: later tracks pass in front
    pan = rng.normal(0, 1.2, 2)
    zoom_rate = rng.normal(0, 0.002)
    occluders = []
    for _ in range(_count(rng, level.video_occluders, 0)):
        kind = int(rng.integers(3))
        occluder_size = (
            rng.uniform([0.05, 0.3], [0.2, 1.2]) * np.array([width, height])
            if kind < 2
            else np.full(2, rng.uniform(0.06, 0.2) * height)
        )
        direction = rng.choice([-1.0, 1.0])
        speed = rng.uniform(2.0, 9.0) * (2.5 if kind == 2 else 1.0)
        begin = rng.uniform(0, frames)  # frame at which it crosses the frame centre
        occluders.append(
            (kind, occluder_size, direction, speed, begin, rng.uniform(0.2, 0.8) * height, int(rng.integers(1 << 30)))
        )
    lighting, light = Lighting.sample(rng), float(rng.uniform(-1, 1))
    flicker = rng.uniform(0, 0.15)

    def camera_at(frame: int, jitter: np.ndarray) -> np.ndarray:
        zoom = 1.0 + zoom_rate * frame
        offset = np.clip(start + pan * frame + jitter, 0, [world_w - width / zoom, world_h - height / zoom])
        return np.array([[zoom, 0.0, -zoom * offset[0]], [0.0, zoom, -zoom * offset[1]]])

    if level.occlusion_events > 0 and events is not None:
        occluders += _occlusion_events(events, level, frames, tracks, camera_at)
    previous: dict[int, dict[str, np.ndarray]] = {}
    for frame in range(frames):
        zoom = 1.0 + zoom_rate * frame
        camera = camera_at(frame, rng.normal(0, 0.4, 2))
        image = cv2.warpAffine(
            world.image, camera, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        labels = cv2.warpAffine(
            world_labels, camera, (width, height), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT
        )
        canvas = Canvas(image, labels.astype(np.int32))
        drawn = []
        for index in order:
            track = tracks[index]
            motion = track.motion
            x, y = camera @ [motion.x[frame], motion.y[frame], 1.0]
            body = Body(
                float(x),
                float(y),
                float(motion.height[frame] * zoom),
                float(motion.yaw[frame]),
                float(motion.roll[frame]),
            )
            skeleton = pose_skeleton(track.shape, motion.poses[frame], body)
            moved = None
            if index in previous:
                moved = {name: skeleton.points[name] - previous[index][name] for name in skeleton.points}
            previous[index] = skeleton.points
            extent = draw_person(canvas, skeleton, track.shape, track.clothing, int(index), light=light, motion=moved)
            drawn.append((int(index), skeleton, extent))
        for kind, occluder_size, direction, speed, begin, y, seed, *aim in occluders:
            x = (aim[0] if aim else width / 2) + direction * speed * (frame - begin)
            draw_occluder(canvas, np.random.default_rng(seed), np.array([x, y]), occluder_size, kind)
        people = []
        for index, skeleton, extent in drawn:
            truth = annotate(canvas, skeleton, index, extent, joints)
            if truth is not None:
                truth.track_id = index
                people.append(truth)
        yield finish(canvas, rng, lighting, gain=1 + flicker * np.sin(frame / 7.0)), canvas.labels, people


def _occlusion_events(
    rng: np.random.Generator, level: Difficulty, frames: int, tracks: list[_Track], camera_at
) -> list[tuple]:
    """Occluders aimed at one person each: at a random frame the occluder's centre is on the person's body, and
    it is wide and tall enough to hide at least half of it for a few frames as it slides past.

    Returns entries like the passing occluders' plus the image x at which each is centred at its ``begin`` frame.
    """
    out: list[tuple] = []
    if not tracks or frames < 3:
        return out
    for _ in range(int(rng.poisson(level.occlusion_events * frames / 30.0))):
        track = tracks[int(rng.integers(len(tracks)))].motion
        frame = int(rng.integers(1, frames - 1))
        camera = camera_at(frame, np.zeros(2))
        x, y = camera @ [track.x[frame], track.y[frame], 1.0]
        size = float(track.height[frame] * camera[0, 0])
        kind = int(rng.choice(2, p=[0.6, 0.4]))  # a panel or a pole
        extent = np.array([rng.uniform(0.3, 0.55) * size, rng.uniform(0.7, 1.3) * size])
        if kind == 1:
            extent[0] *= 0.8
        centre_y = y - rng.uniform(0.0, 0.35) * size  # pelvis to chest
        speed = rng.uniform(5.0, 10.0) * max(size, 40.0) / 100.0  # pixels per frame: hidden for a few frames
        out.append((kind, extent, rng.choice([-1.0, 1.0]), speed, frame, centre_y, int(rng.integers(1 << 30)), x))
    return out
