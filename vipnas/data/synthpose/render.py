"""Drawing SynthPose people: shaded, textured tapered limbs in depth order, a head with face marks, a label map.

Every drawn pixel also writes a label (person and body part, or distractor/occluder) into a label map. A joint
is visible (v=2) when the topmost label at its pixel is one of the joint's own parts (:data:`OWN_PARTS`), and
occluded (v=1) otherwise, i.e. when something drawn later in the depth order covers it. Each part's radius is
at least 0.75 px, so its own joint pixel (within 0.71 px of the joint) is always inside it.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import cv2
import numpy as np

from vipnas.data.synthpose.body import BodyShape, Skeleton

__all__ = [
    "DISTRACTOR",
    "LABEL_STRIDE",
    "OCCLUDER",
    "OWN_PARTS",
    "PARTS",
    "Canvas",
    "Clothing",
    "Texture",
    "draw_capsule",
    "draw_person",
    "person_label",
    "random_clothing",
    "random_color",
]

PARTS = (
    "torso", "neck", "head", "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_upper_arm", "right_upper_arm", "left_forearm", "right_forearm", "left_hand", "right_hand",
    "left_thigh", "right_thigh", "left_shin", "right_shin", "left_foot", "right_foot",
)  # fmt: skip
PART_INDEX = {name: i for i, name in enumerate(PARTS)}
LABEL_STRIDE = 64  # label = LABEL_STRIDE * (person + 1) + part; below LABEL_STRIDE: scene labels
DISTRACTOR, OCCLUDER = 1, 2
MIN_RADIUS = 0.75

# Joint (COCO and PoseTrack18 names) → the parts whose pixels show it.
OWN_PARTS: dict[str, tuple[str, ...]] = {
    "nose": ("nose",),
    "left_eye": ("left_eye",),
    "right_eye": ("right_eye",),
    "left_ear": ("left_ear",),
    "right_ear": ("right_ear",),
    "head_top": ("head",),
    "head_bottom": ("head", "neck"),
    **{
        f"{side}_{joint}": parts
        for side in ("left", "right")
        for joint, parts in (
            ("shoulder", (f"{side}_upper_arm",)),
            ("elbow", (f"{side}_upper_arm", f"{side}_forearm")),
            ("wrist", (f"{side}_forearm", f"{side}_hand")),
            ("hip", (f"{side}_thigh",)),
            ("knee", (f"{side}_thigh", f"{side}_shin")),
            ("ankle", (f"{side}_shin", f"{side}_foot")),
        )
    },
}


def person_label(person: int, part: str) -> int:
    """Label-map value of a part of the ``person``-th drawn person."""
    return LABEL_STRIDE * (person + 1) + PART_INDEX[part]


def random_color(rng: np.random.Generator, saturation: tuple[float, float] = (0.2, 0.9)) -> np.ndarray:
    """A random RGB colour (float32, 0-255) with saturation and value from moderate ranges."""
    rgb = colorsys.hsv_to_rgb(rng.random(), rng.uniform(*saturation), rng.uniform(0.25, 0.95))
    return np.array(rgb, np.float32) * 255


_SKIN = np.array([[255, 224, 196], [234, 192, 160], [198, 150, 112], [160, 110, 75], [112, 72, 48], [70, 45, 30]])
_HAIR = np.array([[20, 16, 14], [60, 40, 25], [110, 75, 40], [200, 170, 110], [150, 150, 150], [140, 60, 30]])


@dataclass(frozen=True)
class Texture:
    """A clothing pattern: ``kind`` in solid, bands, stripes, checks, speckle; period in pixels per body height."""

    kind: str
    period: float
    accent: np.ndarray
    strength: float


@dataclass(frozen=True)
class Clothing:
    """Colours of one person; left and right limbs share them, so colour never tells left from right."""

    skin: np.ndarray
    hair: np.ndarray
    shirt: np.ndarray
    pants: np.ndarray
    shoes: np.ndarray
    shirt_texture: Texture
    pants_texture: Texture
    long_sleeves: bool
    long_pants: bool


TEXTURE_KINDS = ("solid", "bands", "stripes", "checks", "speckle")
_TEXTURE_ODDS = (0.35, 0.2, 0.15, 0.15, 0.15)


def _texture(rng: np.random.Generator, odds: tuple[float, ...]) -> Texture:
    kind = TEXTURE_KINDS[rng.choice(5, p=list(odds))]
    return Texture(kind, rng.uniform(0.015, 0.06), random_color(rng), rng.uniform(0.3, 0.9))


def random_clothing(rng: np.random.Generator, textures: tuple[float, ...] = _TEXTURE_ODDS) -> Clothing:
    """Per-person clothing: skin tone, hair, shirt and trousers with patterns (``textures``: the odds of each of
    :data:`TEXTURE_KINDS`), shoes."""
    skin = _SKIN[rng.integers(len(_SKIN))] * rng.uniform(0.9, 1.05) + rng.normal(0, 6, 3)
    hair = skin * 0.9 if rng.random() < 0.08 else _HAIR[rng.integers(len(_HAIR))] * rng.uniform(0.8, 1.2)
    return Clothing(
        skin=np.clip(skin, 0, 255).astype(np.float32),
        hair=np.clip(hair, 0, 255).astype(np.float32),
        shirt=random_color(rng),
        pants=random_color(rng, (0.05, 0.6)),
        shoes=random_color(rng, (0.0, 0.5)) * 0.6,
        shirt_texture=_texture(rng, textures),
        pants_texture=_texture(rng, textures),
        long_sleeves=bool(rng.random() < 0.55),
        long_pants=bool(rng.random() < 0.7),
    )


class Canvas:
    """An image being drawn (float32 RGB 0-255, (H, W, 3)) and its label map (int32, (H, W))."""

    def __init__(self, image: np.ndarray, labels: np.ndarray | None = None) -> None:
        self.image = image
        self.labels = np.zeros(image.shape[:2], np.int32) if labels is None else labels
        self.height, self.width = image.shape[:2]

    def box(self, low: np.ndarray, high: np.ndarray) -> tuple[int, int, int, int] | None:
        x0, y0 = max(int(np.floor(low[0])), 0), max(int(np.floor(low[1])), 0)
        x1, y1 = min(int(np.ceil(high[0])) + 1, self.width), min(int(np.ceil(high[1])) + 1, self.height)
        return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _pattern(u: np.ndarray, v: np.ndarray, texture: Texture | None, unit: float) -> np.ndarray | None:
    """Accent weight (h, w) in [0, 1] at along-axis ``u`` and across-axis ``v`` pixel coordinates."""
    if texture is None or texture.kind == "solid":
        return None
    period = max(texture.period * unit, 1.5)
    if texture.kind == "bands":
        mask = np.floor(u / period) % 2
    elif texture.kind == "stripes":
        mask = np.floor(v / (0.5 * period)) % 2
    elif texture.kind == "checks":
        mask = (np.floor(u / period) + np.floor(v / period)) % 2
    else:
        mask = (np.sin(np.floor(u / 2) * 12.9898 + np.floor(v / 2) * 78.233) * 43758.5453) % 1.0 > 0.7
    return mask.astype(np.float32) * texture.strength


def _paint(
    canvas: Canvas,
    box: tuple[int, int, int, int],
    inside: np.ndarray,
    color: np.ndarray,
    shade: np.ndarray,
    accent: np.ndarray | None,
    texture: Texture | None,
    label: int,
    blur: np.ndarray | None = None,
) -> None:
    x0, y0, x1, y1 = box
    base = np.broadcast_to(color, (*inside.shape, 3)).astype(np.float32)
    if accent is not None and texture is not None:
        base = base + (texture.accent - color) * accent[..., None]
    pixels = base * shade[..., None]
    target = canvas.image[y0:y1, x0:x1]
    if blur is not None:  # motion blur: smear colour and coverage along the motion, composite by coverage
        kernel = np.zeros((2 * int(np.ceil(np.abs(blur).max())) + 1,) * 2, np.float32)
        mid = kernel.shape[0] // 2
        cv2.line(kernel, (round(mid - blur[0] / 2), round(mid - blur[1] / 2)),
                 (round(mid + blur[0] / 2), round(mid + blur[1] / 2)), 1.0, 1)  # fmt: skip
        kernel /= kernel.sum()
        alpha = cv2.filter2D(inside.astype(np.float32), -1, kernel, borderType=cv2.BORDER_CONSTANT)
        premultiplied = cv2.filter2D(pixels * inside[..., None], -1, kernel, borderType=cv2.BORDER_CONSTANT)
        target[...] = target * (1 - alpha[..., None]) + premultiplied
    else:
        target[inside] = pixels[inside]
    canvas.labels[y0:y1, x0:x1][inside] = label


def draw_capsule(
    canvas: Canvas,
    a: np.ndarray,
    b: np.ndarray,
    radius_a: float,
    radius_b: float,
    color: np.ndarray,
    label: int,
    *,
    texture: Texture | None = None,
    unit: float = 100.0,
    light: float = 0.0,
    blur: np.ndarray | None = None,
) -> tuple[int, int, int, int] | None:
    """Draw a tapered, cylinder-shaded limb from ``a`` to ``b`` (pixels) with round ends.

    Args:
        canvas: image and label map to draw into.
        a, b: (2,) end points in pixels.
        radius_a, radius_b: half widths at the ends in pixels (raised to 0.75 px).
        color: (3,) RGB 0-255.
        label: label-map value of the covered pixels.
        texture: clothing pattern, aligned with the limb.
        unit: pixels per texture unit (the body height).
        light: -1…1, side the light comes from.
        blur: (2,) motion in pixels during exposure, or ``None``.

    Returns:
        (x0, y0, x1, y1) of the drawn region, or ``None`` when it is off the canvas.
    """
    radius_a, radius_b = max(radius_a, MIN_RADIUS), max(radius_b, MIN_RADIUS)
    margin = max(radius_a, radius_b) + (0 if blur is None else float(np.abs(blur).max()) + 1)
    box = canvas.box(np.minimum(a, b) - margin, np.maximum(a, b) + margin)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    xs = np.arange(x0, x1, dtype=np.float32)[None, :] - a[0]
    ys = np.arange(y0, y1, dtype=np.float32)[:, None] - a[1]
    d = b - a
    length = float(np.hypot(*d))
    if length < 1e-6:
        t = np.zeros((y1 - y0, x1 - x0), np.float32)
        across = np.hypot(xs, ys)
        direction = np.array([1.0, 0.0])
    else:
        direction = d / length
        t = np.clip((xs * direction[0] + ys * direction[1]) / length, 0.0, 1.0)
        across = xs * direction[1] - ys * direction[0]  # signed distance from the axis line
    distance = np.hypot(xs - t * d[0], ys - t * d[1])
    radius = radius_a + (radius_b - radius_a) * t
    inside = distance <= radius
    if not inside.any():
        return None
    v = np.clip(across / radius, -1.0, 1.0)
    shade = 0.6 + 0.4 * np.sqrt(1.0 - v * v) + 0.12 * light * v
    accent = _pattern(t * length, across, texture, unit)
    _paint(canvas, box, inside, color, shade, accent, texture, label, blur)
    return box


def _draw_ellipse(
    canvas: Canvas,
    center: np.ndarray,
    radii: tuple[float, float],
    color: np.ndarray,
    label: int,
    *,
    light: float = 0.0,
    clip: tuple[np.ndarray, float] | None = None,
) -> tuple[int, int, int, int] | None:
    rx, ry = max(radii[0], MIN_RADIUS), max(radii[1], MIN_RADIUS)
    half = np.array([rx, ry])
    box = canvas.box(center - half, center + half)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    dx = (np.arange(x0, x1, dtype=np.float32)[None, :] - center[0]) / rx
    dy = (np.arange(y0, y1, dtype=np.float32)[:, None] - center[1]) / ry
    squared = dx * dx + dy * dy
    inside = squared <= 1.0
    if clip is not None:
        clip_center, clip_radius = clip
        cx = np.arange(x0, x1, dtype=np.float32)[None, :] - clip_center[0]
        cy = np.arange(y0, y1, dtype=np.float32)[:, None] - clip_center[1]
        inside &= cx * cx + cy * cy <= clip_radius * clip_radius
    if not inside.any():
        return None
    shade = 0.62 + 0.38 * np.sqrt(np.clip(1.0 - squared, 0.0, 1.0)) + 0.1 * light * np.clip(dx, -1, 1)
    _paint(canvas, box, inside, color, shade, None, None, label)
    return box


def _draw_torso(canvas: Canvas, skeleton: Skeleton, clothing: Clothing, label: int, light: float):
    points = np.array([skeleton.points[f"torso_{i}"] for i in range(8)], np.float32)
    hull = cv2.convexHull(points)[:, 0]
    box = canvas.box(hull.min(axis=0), hull.max(axis=0))
    if box is None:
        return None
    x0, y0, x1, y1 = box
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillConvexPoly(mask, np.round((hull - [x0, y0]) * 16).astype(np.int32), 1, cv2.LINE_8, 4)
    inside = mask.astype(bool)
    if not inside.any():
        return None
    bottom = (skeleton.points["left_hip"] + skeleton.points["right_hip"]) / 2
    axis = skeleton.points["neck"] - bottom
    axis = axis / max(float(np.hypot(*axis)), 1e-6)
    xs = np.arange(x0, x1, dtype=np.float32)[None, :] - bottom[0]
    ys = np.arange(y0, y1, dtype=np.float32)[:, None] - bottom[1]
    across = xs * axis[1] - ys * axis[0]
    half = max(float(np.abs(across[inside]).max()), 1.0)
    v = np.clip(across / half, -1.0, 1.0)
    shade = 0.62 + 0.38 * np.sqrt(1.0 - v * v) + 0.12 * light * v
    accent = _pattern(xs * axis[0] + ys * axis[1], across, clothing.shirt_texture, skeleton.height)
    _paint(canvas, box, inside, clothing.shirt, shade, accent, clothing.shirt_texture, label)
    return box


def _draw_head(canvas: Canvas, skeleton: Skeleton, clothing: Clothing, person: int, light: float) -> list:
    points, normals = skeleton.points, skeleton.normals_depth
    center, radius = points["head"], max(skeleton.head_radius, 1.0)
    skin, boxes = clothing.skin, []
    ear_radii = (max(0.2 * radius, MIN_RADIUS), max(0.28 * radius, MIN_RADIUS))
    ears = sorted(("left_ear", "right_ear"), key=lambda name: normals[name])
    for ear in ears:  # ears turned away peek out from behind the head
        if -0.45 < normals[ear] < -0.05:
            boxes.append(_draw_ellipse(canvas, points[ear], ear_radii, skin * 0.85, person_label(person, ear)))
    head = person_label(person, "head")
    # 0.75 px wider than the sphere: the pixel of any face point (within 0.71 px of it) lies on the head, so a
    # feature turned away is covered by the head even on tiny heads.
    disk = radius + MIN_RADIUS
    boxes.append(_draw_ellipse(canvas, center, (disk, disk), clothing.hair, head, light=light))
    if normals["face"] > -0.3:
        facing = max(normals["face"], 0.0)
        face_center = center + 0.55 * (points["face"] - center) + [0.0, 0.12 * radius]
        radii = (0.8 * radius * (0.45 + 0.55 * facing), 0.78 * radius)
        _draw_ellipse(canvas, face_center, radii, skin, head, light=light, clip=(center, disk))
    for ear in ears:
        if normals[ear] >= -0.05:
            boxes.append(_draw_ellipse(canvas, points[ear], ear_radii, skin * 0.85, person_label(person, ear)))
    eye_radius = max(0.16 * radius, MIN_RADIUS)
    for eye in ("left_eye", "right_eye"):
        if normals[eye] > 0.2:
            label = person_label(person, eye)
            _draw_ellipse(
                canvas, points[eye], (eye_radius * 1.2, eye_radius), np.array([235, 235, 230], np.float32), label
            )
            _draw_ellipse(
                canvas, points[eye], (eye_radius * 0.6, eye_radius * 0.6), np.array([30, 25, 20], np.float32), label
            )
    if normals["nose"] > -0.15:
        nose = max(0.13 * radius, MIN_RADIUS)
        _draw_ellipse(canvas, points["nose"], (nose, nose * 1.2), skin * 0.72, person_label(person, "nose"))
    return boxes


def _union(boxes: list) -> tuple[int, int, int, int] | None:
    boxes = [box for box in boxes if box is not None]
    if not boxes:
        return None
    array = np.array(boxes)
    return int(array[:, 0].min()), int(array[:, 1].min()), int(array[:, 2].max()), int(array[:, 3].max())


def draw_person(
    canvas: Canvas,
    skeleton: Skeleton,
    shape: BodyShape,
    clothing: Clothing,
    person: int,
    *,
    light: float = 0.0,
    motion: dict[str, np.ndarray] | None = None,
    exposure: float = 0.6,
) -> tuple[int, int, int, int] | None:
    """Draw one person, far parts first.

    Args:
        canvas: image and labels.
        skeleton: the posed body in pixels.
        shape: proportions (limb widths).
        clothing: colours and patterns.
        person: index of the person in the frame (selects the labels).
        light: -1…1 side of the light.
        motion: name → (2,) displacement since the previous frame in pixels (videos), for motion blur.
        exposure: fraction of the frame interval the shutter is open.

    Returns:
        (x0, y0, x1, y1) extent of everything drawn for the person (before occlusion by others), or ``None``.
    """
    p, z, height = skeleton.points, skeleton.depth, skeleton.height
    arm, leg = shape.arm_width * height, shape.leg_width * height
    sleeve = clothing.shirt if clothing.long_sleeves else clothing.skin
    shin_color = clothing.pants if clothing.long_pants else clothing.skin
    ops: list[tuple[float, int, str, tuple]] = []  # (depth, order, kind, arguments)

    def limb(part: str, start: str, end: str, radii: tuple[float, float], color, texture, bias: float) -> None:
        depth = (z[start] + z[end]) / 2 + bias * height
        ops.append((depth, len(ops), "limb", (part, start, end, radii, color, texture)))

    shoulders_hips = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")
    ops.append((float(np.mean([z[name] for name in shoulders_hips])) - 0.01 * height, 0, "torso", ()))
    limb("neck", "neck", "head", (0.42 * shape.head_radius * height,) * 2, clothing.skin, None, -0.04)
    ops.append((z["head"] + 0.01 * height, len(ops), "head", ()))
    for side in ("left", "right"):
        limb(f"{side}_upper_arm", f"{side}_shoulder", f"{side}_elbow", (0.5 * arm, 0.42 * arm), clothing.shirt,
             clothing.shirt_texture, 0.02)  # fmt: skip
        limb(f"{side}_forearm", f"{side}_elbow", f"{side}_wrist", (0.42 * arm, 0.32 * arm), sleeve,
             clothing.shirt_texture if clothing.long_sleeves else None, 0.02)  # fmt: skip
        limb(f"{side}_hand", f"{side}_wrist", f"{side}_hand", (0.36 * arm, 0.3 * arm), clothing.skin, None, 0.021)
        limb(f"{side}_thigh", f"{side}_hip", f"{side}_knee", (0.5 * leg, 0.38 * leg), clothing.pants,
             clothing.pants_texture, 0.01)  # fmt: skip
        limb(f"{side}_shin", f"{side}_knee", f"{side}_ankle", (0.38 * leg, 0.27 * leg), shin_color,
             clothing.pants_texture if clothing.long_pants else None, 0.01)  # fmt: skip
        limb(f"{side}_foot", f"{side}_ankle", f"{side}_toe", (0.24 * leg, 0.2 * leg), clothing.shoes, None, 0.011)
    boxes = []
    for _, _, kind, arguments in sorted(ops, key=lambda op: (op[0], op[1])):
        if kind == "torso":
            boxes.append(_draw_torso(canvas, skeleton, clothing, person_label(person, "torso"), light))
        elif kind == "head":
            boxes.extend(_draw_head(canvas, skeleton, clothing, person, light))
        else:
            part, start, end, radii, color, texture = arguments
            blur = None
            if motion is not None:
                shift = (motion[start] + motion[end]) / 2 * exposure
                blur = shift if np.hypot(*shift) > 2.0 else None
            box = draw_capsule(canvas, p[start], p[end], radii[0], radii[1], color, person_label(person, part),
                               texture=texture, unit=height, light=light, blur=blur)  # fmt: skip
            boxes.append(box)
    return _union(boxes)
