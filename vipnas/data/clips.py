"""Clips for the temporal model (ViPNAS §3.4.2): T+1 consecutive frames of one track, each cropped from its own box.

Every frame is cropped around its own box, as at run time, where frame t's box comes from the keypoints predicted
on frame t-1; a small random per-frame box jitter (centre shift and scale) stands for that box's error. What must
agree across the clip is drawn once per clip: the flip, the scale factor, the rotation and the centre shift (as a
fraction of each frame's crop). Each frame keeps its own ``inverse_affine``, so the training step moves frame t-1's
heatmaps into frame t's crop with :func:`vipnas.nn.warp.warp_heatmaps`, the function the runtime uses. Half-body
cropping is off for clips (it would follow one frame's joints). Without augmentation each frame gets the plain
padded crop of its box, no jitter.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from vipnas.data.augment import AugmentConfig, CropParams
from vipnas.data.dataset import TopDownDataset
from vipnas.data.records import PoseAnnotations, PoseInstance
from vipnas.data.sample import Sample
from vipnas.data.transforms import box_xywh_to_center_scale, flip_points

__all__ = ["ClipDataset", "find_clips", "sample_clip_crops"]

JITTER_LIMIT = 2.0  # per-frame jitter draws are standard normals cut at ±2σ


def find_clips(
    annotations: PoseAnnotations, frames: int, *, step: int = 1, stride: int = 1
) -> list[list[PoseInstance]]:
    """Every window of ``frames`` frames ``step`` apart in which a track is annotated on each frame.

    Args:
        annotations: a video annotation set (PoseTrack18 or SynthPose videos).
        frames: clip length T+1.
        step: frame spacing inside a clip (1 = consecutive frames).
        stride: spacing of clip starts along a track.

    Returns:
        Clips in (video, track, start frame) order, each a list of T+1 instances.
    """
    if frames < 1 or step < 1 or stride < 1:
        raise ValueError(f"frames, step and stride must be >= 1, got {frames}, {step}, {stride}")
    clips = []
    for sequence in annotations.tracks().values():
        starts = [index for index in sequence if all(index + j * step in sequence for j in range(frames))]
        for start in starts[::stride]:
            clips.append([sequence[start + j * step] for j in range(frames)])
    return clips


def sample_clip_crops(
    boxes: np.ndarray,
    image_widths: list[int] | np.ndarray,
    *,
    aspect_ratio: float,
    padding: float,
    config: AugmentConfig,
    jitter_shift: float,
    jitter_scale: float,
    rng: np.random.Generator,
) -> list[CropParams]:
    """The crops of one clip: per-frame boxes, per-frame jitter, one shared shift/flip/scale/rotation draw.

    Frame t's crop is its padded box (:func:`box_xywh_to_center_scale`), its centre moved by
    ``(shift + jitter_t) × crop size`` and its size multiplied by ``factor × (1 + zoom_t)``. ``shift``, the flip,
    ``factor`` and the rotation are drawn once per clip, with the distributions of
    :func:`vipnas.data.augment.sample_crop`; ``jitter_t`` is N(0, ``jitter_shift``²) per axis and ``zoom_t``
    N(0, ``jitter_scale``²), both cut at ±2σ, drawn per frame. Half-body is not used.

    Args:
        boxes: (T+1, 4) ``(x, y, w, h)`` boxes of the track, one per frame, in original-image pixels.
        image_widths: T+1 image widths in pixels (for the flip).
        aspect_ratio: network input width / height.
        padding: box padding (1.25).
        config: the shared augmentation's probabilities and ranges.
        jitter_shift: per-frame centre jitter σ, as a fraction of the crop size.
        jitter_scale: per-frame scale jitter σ, as a fraction of the crop size.
        rng: the clip's own generator.

    Returns:
        T+1 crop parameters; with ``flip`` set, each centre is in its mirrored image.
    """
    centers, scales = box_xywh_to_center_scale(np.asarray(boxes, np.float64).reshape(-1, 4), aspect_ratio, padding)
    count = len(centers)
    shift = np.zeros(2)
    if rng.random() < config.shift_prob:
        shift = rng.uniform(-1, 1, 2) * config.shift_factor
    flip = bool(rng.random() < config.flip_prob)
    factor = config.scale_factor
    zoom = float(np.clip(rng.standard_normal() * factor + 1, 1 - factor, 1 + factor))
    rotation = 0.0
    if rng.random() < config.rotation_prob:
        limit = 2 * config.rotation_factor
        rotation = float(np.clip(rng.standard_normal() * config.rotation_factor, -limit, limit))
    jitter = np.clip(rng.standard_normal((count, 2)), -JITTER_LIMIT, JITTER_LIMIT) * jitter_shift  # (T+1, 2)
    zooms = 1 + np.clip(rng.standard_normal(count), -JITTER_LIMIT, JITTER_LIMIT) * jitter_scale  # (T+1,)
    centers = centers + (shift + jitter) * scales
    scales = scales * (zoom * zooms)[:, None]
    crops = []
    for center, scale, width in zip(centers, scales, image_widths, strict=True):
        center = flip_points(center, width) if flip else center
        crops.append(CropParams(center=center, scale=scale, rotation=rotation, flip=flip))
    return crops


class ClipDataset(TopDownDataset):
    """Clips of T+1 frames of one track, each frame cropped from its own box; each :class:`Sample` field gains a
    leading T+1 axis (``inverse_affine`` (T+1, 2, 3): one crop per frame).

    Args:
        annotations: a video annotation set.
        frames: T+1, the key frame plus T propagated frames (ViPNAS uses T = 3).
        step: frame spacing inside a clip.
        stride: spacing of clip starts along a track.
        jitter_shift: per-frame box-centre jitter σ as a fraction of the crop size (training augmentation only).
        jitter_scale: per-frame box-scale jitter σ (training augmentation only).
        **kwargs: as for :class:`TopDownDataset` (``input_size``, ``codec``, ``augment``, ...).
    """

    def __init__(
        self,
        annotations: PoseAnnotations,
        *,
        frames: int = 4,
        step: int = 1,
        stride: int = 1,
        jitter_shift: float = 0.03,
        jitter_scale: float = 0.03,
        **kwargs: Any,
    ):
        super().__init__(annotations, **kwargs)
        if not (jitter_shift >= 0 and 0 <= jitter_scale < 0.5 / JITTER_LIMIT):  # a crop never shrinks below half
            raise ValueError(
                f"jitter_shift must be >= 0 and jitter_scale in [0, {0.5 / JITTER_LIMIT:g}), got {jitter_shift}, "
                f"{jitter_scale}"
            )
        self.augment = dataclasses.replace(self.augment, half_body_prob=0.0)
        self.frames = frames
        self.jitter_shift = float(jitter_shift)
        self.jitter_scale = float(jitter_scale)
        self.clips = find_clips(annotations, frames, step=step, stride=stride)

    def __len__(self) -> int:
        return len(self.clips)

    def clip_crops(self, clip: list[PoseInstance], images: list[np.ndarray], index: int) -> list[CropParams]:
        """The T+1 crops of clip ``index``: sampled when augmenting, else each frame's padded box."""
        widths = [image.shape[1] for image in images]
        if self.augment == AugmentConfig.none():
            rng = self.rng(index)
            return [self.crop_params(instance, width, rng) for instance, width in zip(clip, widths, strict=True)]
        return sample_clip_crops(
            np.stack([instance.box for instance in clip]),
            widths,
            aspect_ratio=self.input_size[0] / self.input_size[1],
            padding=self.padding,
            config=self.augment,
            jitter_shift=self.jitter_shift,
            jitter_scale=self.jitter_scale,
            rng=self.rng(index),
        )

    def __getitem__(self, index: int) -> Sample:
        clip = self.clips[index]
        images = [self.read(instance) for instance in clip]
        crops = self.clip_crops(clip, images, index)
        samples = [self.make_sample(*frame) for frame in zip(clip, images, crops, strict=True)]
        values: dict[str, Any] = {}
        for field in dataclasses.fields(Sample):
            items = [getattr(sample, field.name) for sample in samples]
            if field.name in ("image", "heatmaps", "target_weight"):
                values[field.name] = torch.from_numpy(np.stack([item.numpy() for item in items]))
            elif field.name == "image_path":
                values[field.name] = items
            elif field.name == "track_id":
                values[field.name] = items[0]
            else:
                values[field.name] = np.stack([np.asarray(item) for item in items])
        return Sample(**values)
