"""What every dataset format is loaded into: image records, person instances, and the annotation set."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vipnas.data.metadata import DatasetInfo

__all__ = ["ImageRecord", "PoseAnnotations", "PoseInstance"]


@dataclass(frozen=True)
class ImageRecord:
    """One image (or video frame) of a dataset.

    Attributes:
        image_id: the dataset's own id, kept unchanged (PoseTrack18's 11-digit frame ids included).
        path: absolute or root-relative path of the image file.
        width: image width in pixels, as the annotation file states it (0 when unknown).
        height: image height in pixels (0 when unknown).
        video: video name for video datasets (PoseTrack18 ``vid_id`` or file stem), else ``""``.
        frame_index: 0-based position of the frame in its video, else -1.
        is_labeled: whether the frame carries pose annotations (PoseTrack18 labels a subset of frames).
        ignore_regions: polygons (P, 2) in pixels whose people are unannotated (PoseTrack18), to be ignored.
    """

    image_id: int
    path: Path
    width: int = 0
    height: int = 0
    video: str = ""
    frame_index: int = -1
    is_labeled: bool = True
    ignore_regions: tuple[np.ndarray, ...] = ()


@dataclass
class PoseInstance:
    """One person in one image, in original-image pixels.

    Attributes:
        image: the image the person is in.
        annotation_id: the annotation's id (for detector boxes: their 0-based index in the results file).
        box: (4,) float64 ``(x, y, w, h)`` person box, clipped to the image for ground truth.
        keypoints: (K, 2) float64 joint positions; zeros where not annotated and for detector boxes.
        visible: (K,) float64 in {0, 1}: ``min(v, 1)`` of the annotation's visibility flag.
        box_score: 1 for ground-truth boxes, the detector's score otherwise.
        area: segment area in pixels² (COCO ``area``; box area when the file has none); OKS scale.
        track_id: person identity across a video's frames (PoseTrack18), else -1.
        head_box: (4,) ``(x, y, w, h)`` head box (PoseTrack18 ``bbox_head``), or ``None``.
    """

    image: ImageRecord
    annotation_id: int
    box: np.ndarray
    keypoints: np.ndarray
    visible: np.ndarray
    box_score: float = 1.0
    area: float = 0.0
    track_id: int = -1
    head_box: np.ndarray | None = None


@dataclass
class PoseAnnotations:
    """A loaded annotation set: its keypoint convention, images, person instances and (for videos) frame order.

    Attributes:
        info: the joint convention (``COCO``, ``POSETRACK18``, ``MPII``, ``CROWDPOSE``).
        source: the file or folder it was loaded from, for error messages.
        images: image id → record, in file order.
        instances: the persons, in file order.
        videos: video name → its frames in temporal order (empty for image datasets).
    """

    info: DatasetInfo
    source: Path
    images: dict[int, ImageRecord]
    instances: list[PoseInstance]
    videos: dict[str, list[ImageRecord]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.instances)

    def tracks(self) -> dict[tuple[str, int], dict[int, PoseInstance]]:
        """Per-track sequences: ``(video, track_id)`` → {frame index → instance}, ordered by frame index."""
        tracks: dict[tuple[str, int], dict[int, PoseInstance]] = {}
        for instance in self.instances:
            if instance.image.video and instance.track_id >= 0:
                tracks.setdefault((instance.image.video, instance.track_id), {})[instance.image.frame_index] = instance
        return {key: dict(sorted(frames.items())) for key, frames in sorted(tracks.items())}
