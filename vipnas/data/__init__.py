"""Datasets, the top-down pipeline, heatmap targets (via :mod:`vipnas.codec`) and SynthPose.

Loading (every format becomes a :class:`PoseAnnotations` of :class:`PoseInstance` records, original ids kept):
    ``load_coco`` (COCO, CrowdPose, merged PoseTrack18, SynthPose images), ``load_detections`` (detector boxes),
    ``load_posetrack_videos`` (official per-video PoseTrack18 files), ``load_mpii``, and ``load_annotations``,
    which recognises any of them.

Pipeline (MMPose 0.x / official ViPNAS config): box → centre/scale (aspect 192/256, padding 1.25) → one sampled
crop (:func:`sample_crop`: shift, flip, half-body, scale, rotation) → one ``cv2.warpAffine`` of the RGB image and
the same matrix on the keypoints → codec targets → normalised tensor.

Sample representation (:class:`Sample`, one person; :class:`ClipDataset` prefixes a T+1 axis to every per-frame
field)::

    image          torch.float32 (3, H, W)   RGB, (pixel - (123.675, 116.28, 103.53)) / (58.395, 57.12, 57.375)
    heatmaps       torch.float32 (K, h, w)   codec target ((K, 0, 0) without a codec)
    target_weight  torch.float32 (K,)        per-joint loss weight from the codec
    keypoints      float32 (K, 2)            joints in network-input pixels (after flip re-ordering)
    visible        float32 (K,)              labelled flag, same order
    inverse_affine float64 (2, 3)            network-input pixels → original-image pixels (flip included)
    center, scale  float64 (2,)              crop centre and (w, h) in original pixels (MMPose 1.x: no /200)
    rotation       float (degrees)           flip  bool           box_score  float        area  float
    image_id       int (original; PoseTrack18 11-digit ids kept)   annotation_id  int     track_id  int (-1)
    image_path     str                       image_size  int64 (2,) original (width, height)

:func:`collate` stacks samples into a :class:`Batch` (tensors for image/heatmaps/target_weight, numpy arrays with a
leading N axis for the rest, a list of paths); :func:`build_loader` wraps it in a seeded ``DataLoader``.

Glossary: *instance* = one annotated (or detected) person; *crop* = the affine-warped network input around it;
*clip* = T+1 consecutive frames of one track, each cropped from its own box with one shared augmentation;
*SynthPose* = the procedural benchmark in :mod:`vipnas.data.synthpose`.
"""

from __future__ import annotations

import importlib
from typing import Any

from vipnas.data.metadata import COCO, CROWDPOSE, DATASETS, MPII, POSETRACK18, DatasetInfo, get_dataset_info

# Heavy modules (torch, OpenCV) load on first use, so `import vipnas.data` stays cheap for worker processes.
_LAZY = {
    "AugmentConfig": "vipnas.data.augment",
    "CropParams": "vipnas.data.augment",
    "sample_crop": "vipnas.data.augment",
    "Batch": "vipnas.data.sample",
    "Sample": "vipnas.data.sample",
    "collate": "vipnas.data.sample",
    "TopDownDataset": "vipnas.data.dataset",
    "build_loader": "vipnas.data.dataset",
    "ClipDataset": "vipnas.data.clips",
    "find_clips": "vipnas.data.clips",
    "ImageRecord": "vipnas.data.records",
    "PoseAnnotations": "vipnas.data.records",
    "PoseInstance": "vipnas.data.records",
    "load_coco": "vipnas.data.coco",
    "load_detections": "vipnas.data.coco",
    "load_posetrack_videos": "vipnas.data.posetrack",
    "load_mpii": "vipnas.data.mpii",
    "load_annotations": "vipnas.data.load",
    "contact_sheet": "vipnas.data.draw",
    "draw_pose": "vipnas.data.draw",
}

__all__ = [
    "COCO",
    "CROWDPOSE",
    "DATASETS",
    "MPII",
    "POSETRACK18",
    "DatasetInfo",
    "get_dataset_info",
    *sorted(_LAZY),
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vipnas.data' has no attribute {name!r}")
