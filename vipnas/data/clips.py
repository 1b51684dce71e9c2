"""Clips for the temporal model (ViPNAS §3.4.2): T+1 consecutive frames of one track, cropped alike.

All frames of a clip share one crop: the union of the track's boxes over the clip, then one sampled
augmentation (shift, flip, scale, rotation) applied to every frame, so that heatmaps of frame t-1 are in the
coordinates of frame t's crop, as propagation needs. Half-body cropping is off for clips (it would follow one
frame's joints).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from vipnas.data.dataset import TopDownDataset
from vipnas.data.records import PoseAnnotations, PoseInstance
from vipnas.data.sample import Sample

__all__ = ["ClipDataset", "find_clips"]


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


def union_box(instances: list[PoseInstance]) -> np.ndarray:
    """(4,) ``(x, y, w, h)`` box covering every instance's box."""
    boxes = np.stack([instance.box for instance in instances])
    low = boxes[:, :2].min(axis=0)
    high = (boxes[:, :2] + boxes[:, 2:]).max(axis=0)
    return np.concatenate([low, high - low])


class ClipDataset(TopDownDataset):
    """Clips of T+1 frames of one track; each :class:`Sample` field gains a leading T+1 axis.

    Args:
        annotations: a video annotation set.
        frames: T+1, the key frame plus T propagated frames (ViPNAS uses T = 3).
        step: frame spacing inside a clip.
        stride: spacing of clip starts along a track.
        **kwargs: as for :class:`TopDownDataset` (``input_size``, ``codec``, ``augment``, ...).
    """

    def __init__(self, annotations: PoseAnnotations, *, frames: int = 4, step: int = 1, stride: int = 1, **kwargs: Any):
        super().__init__(annotations, **kwargs)
        self.augment = dataclasses.replace(self.augment, half_body_prob=0.0)
        self.frames = frames
        self.clips = find_clips(annotations, frames, step=step, stride=stride)

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> Sample:
        clip = self.clips[index]
        images = [self.read(instance) for instance in clip]
        shared = dataclasses.replace(clip[0], box=union_box(clip))
        params = self.crop_params(shared, images[0].shape[1], self.rng(index))
        samples = [self.make_sample(instance, image, params) for instance, image in zip(clip, images, strict=True)]
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
