"""Online video pose runtime (docs/runtime.md): the streaming loop with key frames and T-ViPNets, people
tracking, smoothing, detectors, video input and outputs, backends. Importing the package loads neither torch nor
OpenCV; the modules that need them (:mod:`~vipnas.runtime.stream`, :mod:`~vipnas.runtime.crops`,
:mod:`~vipnas.runtime.backends`, :mod:`~vipnas.runtime.outputs`) are imported by name.

:mod:`vipnas.runtime.stream`
    :class:`PoseStream` yields one :class:`FrameResult` per frame; its schedule runs the S-ViPNet on key frames and
    T-ViPNets in between, fed with the previous heatmaps warped into the current crop.
:mod:`vipnas.runtime.detectors`, :mod:`vipnas.runtime.video_io`
    ``gt:FILE``, ``sim:FILE``, ``hog``, ``onnx:PATH`` person detectors (:func:`build_detector`); video files, frame
    folders and webcams (:func:`open_frames`) and an MP4 writer valid after an interruption (:class:`VideoWriter`).

:mod:`vipnas.runtime.tracking`
    :class:`Tracker` (configured by :class:`TrackerConfig`) gives the people of each frame stable integer ids by
    optimal IoU or OKS assignment, with track birth (``min_hits``), ageing and deletion (``max_age``) and
    constant-velocity prediction; :func:`box_from_keypoints` turns a pose into the box of the next frame;
    :func:`iou_matrix` and :func:`oks_matrix` are the similarities it matches on.
:mod:`vipnas.runtime.smoothing`
    :class:`KeypointSmoother` runs one one-euro filter (:class:`OneEuroFilter`, :class:`OneEuroConfig`) per
    track id; :func:`keypoint_jitter` measures the frame-to-frame acceleration it removes.

The video loop owns one :class:`Tracker` and one :class:`KeypointSmoother` per video::

    people = tracker.update(boxes, scores, keypoints, keypoint_scores, frame_index=index)
    smoothed = smoother.smooth(people, keypoints, timestamp=index / fps)
    smoother.retain(tracker.track_ids)
"""

from __future__ import annotations

from vipnas.runtime.detectors import (
    DETECTOR_SPECS,
    Detections,
    Detector,
    GroundTruthDetector,
    HogDetector,
    Letterbox,
    OnnxDetector,
    SimulatedDetector,
    build_detector,
    hog_score,
    letterbox,
)
from vipnas.runtime.smoothing import (
    KeypointSmoother,
    OneEuroConfig,
    OneEuroFilter,
    OneEuroState,
    keypoint_jitter,
    one_euro_step,
    smoothing_factor,
)
from vipnas.runtime.tracking import (
    TrackedPerson,
    Tracker,
    TrackerConfig,
    box_area,
    box_from_keypoints,
    iou_matrix,
    oks_matrix,
)
from vipnas.runtime.video_io import Frame, FrameSource, VideoWriter, natural_sort_key, open_frames

__all__ = [
    "DETECTOR_SPECS",
    "Detections",
    "Detector",
    "Frame",
    "FrameSource",
    "GroundTruthDetector",
    "HogDetector",
    "KeypointSmoother",
    "Letterbox",
    "OneEuroConfig",
    "OneEuroFilter",
    "OneEuroState",
    "OnnxDetector",
    "SimulatedDetector",
    "TrackedPerson",
    "Tracker",
    "TrackerConfig",
    "VideoWriter",
    "box_area",
    "box_from_keypoints",
    "build_detector",
    "hog_score",
    "iou_matrix",
    "keypoint_jitter",
    "letterbox",
    "natural_sort_key",
    "oks_matrix",
    "one_euro_step",
    "open_frames",
    "smoothing_factor",
]
