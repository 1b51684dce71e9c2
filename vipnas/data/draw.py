"""Drawing poses and contact sheets, so a person can look at data and predictions."""

from __future__ import annotations

import math

import cv2
import numpy as np

from vipnas.data.metadata import DatasetInfo
from vipnas.data.records import PoseAnnotations

__all__ = ["contact_sheet", "draw_pose", "fit_tile", "tile_grid"]


def _rgb(color_bgr: tuple[int, int, int]) -> tuple[int, int, int]:
    return int(color_bgr[2]), int(color_bgr[1]), int(color_bgr[0])


def draw_pose(
    image: np.ndarray,
    keypoints: np.ndarray,
    visible: np.ndarray,
    info: DatasetInfo,
    *,
    threshold: float = 0.0,
    radius: int = 3,
    thickness: int = 2,
    box: np.ndarray | None = None,
) -> np.ndarray:
    """Draw one skeleton onto an RGB image (in place) and return it.

    Args:
        image: (H, W, 3) uint8 RGB.
        keypoints: (K, 2) pixels.
        visible: (K,) flags or scores; joints at or below ``threshold`` are not drawn.
        info: joint convention (skeleton and its BGR colours).
        threshold: minimum flag or score.
        radius: joint circle radius in pixels.
        thickness: limb line width in pixels.
        box: optional (4,) ``(x, y, w, h)`` box to outline.
    """
    if keypoints.shape != (info.num_joints, 2):
        raise ValueError(f"keypoints must have shape ({info.num_joints}, 2) for {info.name}, got {keypoints.shape}")
    points = np.round(keypoints).astype(int)
    if box is not None:
        x, y, w, h = (round(float(value)) for value in box)
        cv2.rectangle(image, (x, y), (x + w, y + h), (255, 255, 0), 1)
    for (a, b), color in zip(info.skeleton, info.limb_colors, strict=True):
        if visible[a] > threshold and visible[b] > threshold:
            cv2.line(image, tuple(points[a]), tuple(points[b]), _rgb(color), thickness, cv2.LINE_AA)
    for joint, color in enumerate(info.joint_colors):
        if visible[joint] > threshold:
            cv2.circle(image, tuple(points[joint]), radius, _rgb(color), -1, cv2.LINE_AA)
    return image


def fit_tile(image: np.ndarray, size: int) -> tuple[np.ndarray, float, np.ndarray]:
    """Letterbox an image into a ``size``×``size`` tile; returns the tile, the zoom and the (x, y) offset."""
    height, width = image.shape[:2]
    zoom = size / max(height, width)
    resized = cv2.resize(
        image, (max(1, round(width * zoom)), max(1, round(height * zoom))), interpolation=cv2.INTER_AREA
    )
    tile = np.full((size, size, 3), 32, np.uint8)
    offset = np.array([(size - resized.shape[1]) // 2, (size - resized.shape[0]) // 2])
    tile[offset[1] : offset[1] + resized.shape[0], offset[0] : offset[0] + resized.shape[1]] = resized
    return tile, zoom, offset


def tile_grid(tiles: list[np.ndarray], columns: int, gap: int = 4) -> np.ndarray:
    """Arrange equally sized (h, w, 3) tiles in rows of ``columns`` on a dark background."""
    if not tiles:
        raise ValueError("no tiles to arrange")
    height, width = tiles[0].shape[:2]
    rows = math.ceil(len(tiles) / columns)
    sheet = np.full((rows * (height + gap) + gap, columns * (width + gap) + gap, 3), 16, np.uint8)
    for index, tile in enumerate(tiles):
        row, column = divmod(index, columns)
        y, x = gap + row * (height + gap), gap + column * (width + gap)
        sheet[y : y + height, x : x + width] = tile
    return sheet


def contact_sheet(
    annotations: PoseAnnotations,
    *,
    count: int = 16,
    columns: int = 4,
    tile_size: int = 256,
    seed: int | None = 0,
    boxes: bool = True,
) -> np.ndarray:
    """Whole images with every annotated skeleton, in a grid.

    Args:
        annotations: the data to show.
        count: number of images (fewer if the set is smaller).
        columns: tiles per row.
        tile_size: side of each square tile in pixels.
        seed: picks the images at random with this seed; ``None`` takes the first ones.
        boxes: outline each person's box.

    Returns:
        (H, W, 3) uint8 RGB sheet.
    """
    from vipnas.data.files import read_image

    by_image: dict[int, list] = {}
    for instance in annotations.instances:
        by_image.setdefault(instance.image.image_id, []).append(instance)
    image_ids = list(by_image)
    if seed is not None:
        image_ids = [image_ids[i] for i in np.random.default_rng(seed).permutation(len(image_ids))]
    tiles = []
    for image_id in image_ids[:count]:
        instances = by_image[image_id]
        image = read_image(instances[0].image.path, f"image id {image_id} in {annotations.source}")
        for instance in instances:
            thickness = max(1, round(max(image.shape[:2]) / 300))
            draw_pose(image, instance.keypoints, instance.visible, annotations.info, thickness=thickness,
                      radius=thickness + 1, box=instance.box if boxes else None)  # fmt: skip
        tiles.append(fit_tile(image, tile_size)[0])
    if not tiles:
        raise ValueError(f"{annotations.source}: no annotated person to draw")
    return tile_grid(tiles, min(columns, len(tiles)))
