"""The random half of the top-down pipeline: sample one crop (centre, scale, rotation, flip) per sample.

Following detectron2, the random policy only *chooses* parameters; :mod:`vipnas.data.transforms` applies them,
so one sampled affine moves the image and its keypoints alike. Defaults are the official ViPNAS/MMPose 0.x
training pipeline (``vipnas_res50_coco_256x192.py``): centre shift 0.16·scale with p=0.3, flip p=0.5,
half-body p=0.3 (more than 8 labelled joints, box ×1.5), scale ×clip(N·0.25+1, 0.75, 1.25), rotation
clip(N·30, ±60)° with p=0.6.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vipnas.data.metadata import DatasetInfo

__all__ = ["AugmentConfig", "CropParams", "sample_crop", "upper_body_joints"]

_UPPER_WORDS = ("nose", "eye", "ear", "head", "neck", "thorax", "shoulder", "elbow", "wrist")


def upper_body_joints(info: DatasetInfo) -> tuple[int, ...]:
    """Indices of head and arm joints (MMPose's ``upper_body_ids``; MPII's pelvis counts as lower body)."""
    return tuple(i for i, name in enumerate(info.joint_names) if any(word in name for word in _UPPER_WORDS))


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of the training augmentation (all zero probabilities = no augmentation).

    Attributes:
        shift_prob: chance of moving the box centre.
        shift_factor: centre shift up to ±factor × crop size, uniform per axis.
        flip_prob: chance of a horizontal flip.
        half_body_prob: chance of cropping only the upper or lower body.
        half_body_min_joints: half-body needs more than this many labelled joints.
        half_body_padding: box factor around the selected half's joints.
        scale_factor: scale multiplier clip(N·f + 1, 1 - f, 1 + f).
        rotation_factor: rotation clip(N·f, ±2f) degrees.
        rotation_prob: chance of rotating at all.
    """

    shift_prob: float = 0.3
    shift_factor: float = 0.16
    flip_prob: float = 0.5
    half_body_prob: float = 0.3
    half_body_min_joints: int = 8
    half_body_padding: float = 1.5
    scale_factor: float = 0.25
    rotation_factor: float = 30.0
    rotation_prob: float = 0.6

    @classmethod
    def none(cls) -> AugmentConfig:
        """No augmentation (validation and test)."""
        return cls(shift_prob=0.0, flip_prob=0.0, half_body_prob=0.0, scale_factor=0.0, rotation_prob=0.0)


@dataclass(frozen=True)
class CropParams:
    """One sampled crop, in the coordinates of the (possibly flipped) image.

    Attributes:
        center: (2,) crop centre in pixels of the image after the flip.
        scale: (2,) crop (width, height) in pixels.
        rotation: degrees.
        flip: whether the image is mirrored before cropping.
    """

    center: np.ndarray
    scale: np.ndarray
    rotation: float
    flip: bool


def _half_body_box(
    keypoints: np.ndarray, visible: np.ndarray, upper: tuple[int, ...], config: AugmentConfig, rng: np.random.Generator
) -> np.ndarray | None:
    labelled = visible > 0
    is_upper = np.zeros(len(visible), bool)
    is_upper[list(upper)] = True
    upper_points, lower_points = keypoints[labelled & is_upper], keypoints[labelled & ~is_upper]
    # MMPose 0.x tests randn() < 0.5 (not rand()), so the upper body is preferred with probability ≈ 0.69.
    if rng.standard_normal() < 0.5 and len(upper_points) > 2:
        points = upper_points
    elif len(lower_points) > 2:
        points = lower_points
    else:
        points = upper_points
    if len(points) < 2:
        return None
    low, high = points.min(axis=0), points.max(axis=0)
    center = points.mean(axis=0)
    # A box of that size around the joints' mean: the caller fixes the aspect ratio and applies the padding.
    return np.concatenate([center - (high - low) / 2, high - low])


def sample_crop(
    box: np.ndarray,
    keypoints: np.ndarray,
    visible: np.ndarray,
    image_width: int,
    *,
    aspect_ratio: float,
    padding: float,
    info: DatasetInfo,
    config: AugmentConfig,
    rng: np.random.Generator,
) -> CropParams:
    """Sample the crop of one instance (a clip draws it once and applies it to every frame's own box).

    Args:
        box: (4,) ``(x, y, w, h)`` person box in the original image.
        keypoints: (K, 2) joints in the original image (used by the half-body choice).
        visible: (K,) labelled flags.
        image_width: width of the original image in pixels (for the flip).
        aspect_ratio: network input width / height.
        padding: box padding (1.25).
        info: joint convention (upper-body joints).
        config: probabilities and ranges.
        rng: the sample's own generator.

    Returns:
        The crop parameters; with ``flip`` set, ``center`` is already in the mirrored image.
    """
    from vipnas.data.transforms import box_xywh_to_center_scale, flip_keypoints, flip_points

    center, scale = box_xywh_to_center_scale(box, aspect_ratio, padding)
    if rng.random() < config.shift_prob:
        center = center + rng.uniform(-1, 1, 2) * config.shift_factor * scale
    flip = bool(rng.random() < config.flip_prob)
    if flip:
        center = flip_points(center, image_width)
        keypoints, visible = flip_keypoints(keypoints, visible, image_width, info.flip_index())
    if (visible > 0).sum() > config.half_body_min_joints and rng.random() < config.half_body_prob:
        half = _half_body_box(keypoints, visible, upper_body_joints(info), config, rng)
        if half is not None:
            center, scale = box_xywh_to_center_scale(half, aspect_ratio, config.half_body_padding)
    factor = config.scale_factor
    scale = scale * np.clip(rng.standard_normal() * factor + 1, 1 - factor, 1 + factor)
    rotation = 0.0
    if rng.random() < config.rotation_prob:
        limit = 2 * config.rotation_factor
        rotation = float(np.clip(rng.standard_normal() * config.rotation_factor, -limit, limit))
    return CropParams(
        center=np.asarray(center, np.float64), scale=np.asarray(scale, np.float64), rotation=rotation, flip=flip
    )
