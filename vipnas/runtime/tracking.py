"""Online people tracking for a video pose loop: boxes (and poses) of one frame in, stable track ids out.

One :class:`Tracker` owns the state of one video. Every frame, :meth:`Tracker.update` takes that frame's detections,
matches them to the live tracks by optimal assignment (``scipy.optimize.linear_sum_assignment``) on IoU or OKS
similarity, and returns one :class:`TrackedPerson` per matched, confirmed track, in detection order.

Lifecycle of a track:

* **birth**: an unmatched detection starts a *tentative* track. It becomes *confirmed*, gets the next id and is
  reported (``is_new=True`` that frame) once it has been matched in ``min_hits`` consecutive frames; a tentative
  track that misses one frame is dropped (DeepSORT's tentative state), so one-frame false positives spend no id.
* **ageing**: a confirmed track that finds no detection is *lost*: it keeps its id and its last box, and is not
  reported. It can be matched again while it has missed at most ``max_age`` consecutive frames; after that it is
  deleted, and the same person coming back gets a new id.
* **ids** are integers from 1, increasing, never reused (not even after :meth:`Tracker.reset`, unless asked). They
  are labels, never list indices: every result carries the index of its detection instead, so ids may be as
  sparse as deletions make them (rtmlib's PoseTracker indexed its track list by id and broke once ids had gaps).

Motion prediction (``predict_motion``, on by default): each track keeps a constant velocity of its box centre,
from its matched observations (exponentially smoothed by ``velocity_smoothing``), and is compared with a
detection both where it was last seen and where that velocity puts it now, keeping the larger similarity. The
prediction keeps two people who walk through each other apart (at the crossing both sit in the same place; only
their velocities differ) and re-finds a person who walked on behind an occluder; the last-seen box still matches a
person who stopped there or turned back, which pure extrapolation over a long gap would lose. Box sizes are not
extrapolated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import linear_sum_assignment

from vipnas.data.metadata import COCO

__all__ = [
    "TrackedPerson",
    "Tracker",
    "TrackerConfig",
    "box_area",
    "box_from_keypoints",
    "iou_matrix",
    "oks_matrix",
]

Metric = Literal["iou", "oks"]

COCO_SIGMAS: tuple[float, ...] = COCO.sigmas


# ----------------------------------------------------------------------------------------------- input checks


def _shape_text(shape: tuple[int | str, ...]) -> str:
    return "(" + ", ".join(str(size) for size in shape) + ("," if len(shape) == 1 else "") + ")"


def _as_array(name: str, value: object, expected: tuple[int | str, ...]) -> np.ndarray:
    """``value`` as a float64 array of shape ``expected`` (ints fixed, strings free); ValueError naming ``name``."""
    array = np.asarray(value, dtype=np.float64)
    if array.size == 0 and isinstance(expected[0], str) and array.ndim < len(expected):
        # an empty list stands for "no rows": give it the expected trailing sizes when they are fixed
        trailing = [size for size in expected[1:] if isinstance(size, int)]
        if len(trailing) == len(expected) - 1:
            array = array.reshape(0, *trailing)
    matches = array.ndim == len(expected) and all(
        isinstance(size, str) or array.shape[axis] == size for axis, size in enumerate(expected)
    )
    if not matches:
        raise ValueError(f"{name} must have shape {_shape_text(expected)}, got {_shape_text(array.shape)}")
    return array


def _check_rows(name: str, array: np.ndarray, rows: int, expected: tuple[int | str, ...]) -> None:
    if array.shape[0] != rows:
        raise ValueError(
            f"{name} must have shape {_shape_text(expected)} with N = {rows} (one row per box), "
            f"got {_shape_text(array.shape)}"
        )


def _check_boxes(name: str, boxes: np.ndarray) -> None:
    if not np.isfinite(boxes).all():
        raise ValueError(f"{name} must be finite")
    if (boxes[:, 2] < boxes[:, 0]).any() or (boxes[:, 3] < boxes[:, 1]).any():
        raise ValueError(f"{name} must be (x1, y1, x2, y2) with x2 >= x1 and y2 >= y1")


# ----------------------------------------------------------------------------------------------- geometry


def box_from_keypoints(
    keypoints: ArrayLike,
    scores: ArrayLike,
    *,
    threshold: float,
    padding: float = 1.25,
    image_size: tuple[int, int] | None = None,
    min_keypoints: int = 2,
) -> np.ndarray | None:
    """The box around the confident keypoints of one person, enlarged about its centre and clipped to the image.

    This is the box a pose loop reuses in the next frame instead of running the detector (rtmlib's and MMDeploy's
    PoseTracker). Keypoints whose score is NaN or not above ``threshold``, or whose coordinates are not finite,
    do not count.

    Args:
        keypoints: (K, 2) joint coordinates (x, y) in pixels.
        scores: (K,) joint scores.
        threshold: a joint counts when its score is above it.
        padding: factor applied to the width and the height of the keypoints' extent (MMPose's 1.25).
        image_size: (width, height) to clip the box to ``[0, width] × [0, height]``; None keeps it unclipped.
        min_keypoints: fewest counting joints that make a box.

    Returns:
        (4,) float64 box (x1, y1, x2, y2), or None when fewer than ``min_keypoints`` joints count.
    """
    keypoints = _as_array("keypoints", keypoints, ("K", 2))
    scores = _as_array("scores", scores, (keypoints.shape[0],))
    if padding <= 0:
        raise ValueError(f"padding must be positive, got {padding}")
    if min_keypoints < 1:
        raise ValueError(f"min_keypoints must be at least 1, got {min_keypoints}")
    with np.errstate(invalid="ignore"):
        confident = (scores > threshold) & np.isfinite(keypoints).all(axis=1)
    if confident.sum() < min_keypoints:
        return None
    points = keypoints[confident]
    low, high = points.min(axis=0), points.max(axis=0)
    centre, half = (low + high) / 2, (high - low) / 2 * padding
    box = np.concatenate([centre - half, centre + half])
    if image_size is not None:
        width, height = image_size
        box = np.clip(box, 0.0, [width, height, width, height])
    return box


def box_area(boxes: ArrayLike) -> np.ndarray:
    """(N,) areas of (N, 4) boxes (x1, y1, x2, y2)."""
    boxes = _as_array("boxes", boxes, ("N", 4))
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def iou_matrix(boxes_a: ArrayLike, boxes_b: ArrayLike) -> np.ndarray:
    """Intersection over union of every box of ``boxes_a`` with every box of ``boxes_b``.

    Args:
        boxes_a: (M, 4) boxes (x1, y1, x2, y2).
        boxes_b: (N, 4) boxes.

    Returns:
        (M, N) float64 IoU in [0, 1]; 0 where both boxes have no area.
    """
    boxes_a = _as_array("boxes_a", boxes_a, ("M", 4))
    boxes_b = _as_array("boxes_b", boxes_b, ("N", 4))
    low = np.maximum(boxes_a[:, None, :2], boxes_b[None, :, :2])
    high = np.minimum(boxes_a[:, None, 2:], boxes_b[None, :, 2:])
    intersection = np.clip(high - low, 0.0, None).prod(axis=-1)
    union = box_area(boxes_a)[:, None] + box_area(boxes_b)[None, :] - intersection
    return np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0)


def oks_matrix(
    keypoints_a: ArrayLike,
    boxes_a: ArrayLike,
    keypoints_b: ArrayLike,
    boxes_b: ArrayLike,
    *,
    valid_a: ArrayLike | None = None,
    valid_b: ArrayLike | None = None,
    sigmas: Sequence[float] | None = None,
) -> np.ndarray:
    """Object keypoint similarity of every pose of ``a`` with every pose of ``b``, the symmetric tracking form.

    ``OKS = mean_k exp(-d_k² / (2 s² (2σ_k)²))`` over the joints valid in both poses, with ``s²`` the mean of the
    two box areas (MMPose's pose-tracking OKS uses the box area; COCO's evaluator would use the ground truth's).
    A pair with no joint valid in both has OKS 0.

    Args:
        keypoints_a: (M, K, 2) poses.
        boxes_a: (M, 4) their boxes (x1, y1, x2, y2), for the areas.
        keypoints_b: (N, K, 2) poses.
        boxes_b: (N, 4) their boxes.
        valid_a: (M, K) which joints of ``a`` count; None: all finite ones.
        valid_b: (N, K) the same for ``b``.
        sigmas: (K,) OKS constants; None: COCO's 17.

    Returns:
        (M, N) float64 OKS in [0, 1].
    """
    keypoints_a = _as_array("keypoints_a", keypoints_a, ("M", "K", 2))
    joints = keypoints_a.shape[1]
    keypoints_b = _as_array("keypoints_b", keypoints_b, ("N", joints, 2))
    boxes_a = _as_array("boxes_a", boxes_a, (keypoints_a.shape[0], 4))
    boxes_b = _as_array("boxes_b", boxes_b, (keypoints_b.shape[0], 4))
    sigma = np.asarray(COCO_SIGMAS if sigmas is None else sigmas, dtype=np.float64)
    if sigma.shape != (joints,):
        raise ValueError(f"sigmas must have shape ({joints},) to match the keypoints, got {_shape_text(sigma.shape)}")
    valid_a = _joint_mask("valid_a", valid_a, keypoints_a)
    valid_b = _joint_mask("valid_b", valid_b, keypoints_b)
    both = valid_a[:, None, :] & valid_b[None, :, :]  # (M, N, K)
    with np.errstate(invalid="ignore"):
        squared = ((keypoints_a[:, None] - keypoints_b[None, :]) ** 2).sum(axis=-1)  # (M, N, K)
    scale = (box_area(boxes_a)[:, None] + box_area(boxes_b)[None, :]) / 2 + np.spacing(1)
    exponent = squared / (2 * scale[..., None] * (2 * sigma) ** 2)
    similarity = np.where(both, np.exp(-np.where(both, exponent, 0.0)), 0.0).sum(axis=-1)
    count = both.sum(axis=-1)
    return np.divide(similarity, count, out=np.zeros_like(similarity), where=count > 0)


def _joint_mask(name: str, valid: ArrayLike | None, keypoints: np.ndarray) -> np.ndarray:
    finite = np.isfinite(keypoints).all(axis=-1)
    if valid is None:
        return finite
    mask = np.asarray(valid, dtype=bool)
    if mask.shape != finite.shape:
        raise ValueError(f"{name} must have shape {_shape_text(finite.shape)}, got {_shape_text(mask.shape)}")
    return mask & finite


def _centres(boxes: np.ndarray) -> np.ndarray:
    return (boxes[..., :2] + boxes[..., 2:]) / 2


# ----------------------------------------------------------------------------------------------- tracker


@dataclass(frozen=True)
class TrackerConfig:
    """How a :class:`Tracker` matches, confirms and forgets people.

    Attributes:
        metric: similarity of a track and a detection: ``"iou"`` of the boxes, or ``"oks"`` of the poses (needs
            keypoints with every frame that has detections).
        min_similarity: pairs less similar than this are never matched (MMPose's and rtmlib's 0.3).
        max_age: consecutive frames a confirmed track may miss and still be matched again (30: one second at
            30 fps, Ultralytics' ``track_buffer``).
        min_hits: consecutive matched frames before a track is confirmed, given an id and reported (1: at once,
            what an interactive pose demo wants; 3 is SORT's choice against detector false positives).
        predict_motion: also compare each track where its constant centre velocity puts it (see the module).
        velocity_smoothing: weight of the previous velocity when a new observation updates it, in [0, 1).
        keypoint_threshold: joints scoring above it count in OKS (and with ``keypoint_scores=None`` all do).
        sigmas: OKS constants, one per joint; None: COCO's 17.
    """

    metric: Metric = "iou"
    min_similarity: float = 0.3
    max_age: int = 30
    min_hits: int = 1
    predict_motion: bool = True
    velocity_smoothing: float = 0.5
    keypoint_threshold: float = 0.3
    sigmas: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.metric not in ("iou", "oks"):
            raise ValueError(f"metric must be 'iou' or 'oks', got {self.metric!r}")
        if not 0 < self.min_similarity <= 1:
            raise ValueError(f"min_similarity must be in (0, 1], got {self.min_similarity}")
        if self.max_age < 0:
            raise ValueError(f"max_age must be at least 0, got {self.max_age}")
        if self.min_hits < 1:
            raise ValueError(f"min_hits must be at least 1, got {self.min_hits}")
        if not 0 <= self.velocity_smoothing < 1:
            raise ValueError(f"velocity_smoothing must be in [0, 1), got {self.velocity_smoothing}")
        if self.sigmas is not None and (len(self.sigmas) == 0 or min(self.sigmas) <= 0):
            raise ValueError(f"sigmas must be positive, one per joint, got {self.sigmas}")


@dataclass(frozen=True)
class TrackedPerson:
    """One confirmed track matched to one detection of the current frame.

    Attributes:
        track_id: the person's id: stable over the video, never reused; a label, not an index.
        box: the detection's box (x1, y1, x2, y2).
        score: the detection's score.
        detection_index: row of the detection in the arrays given to :meth:`Tracker.update`.
        age: frames since the track's first detection (0 on the frame a track is born with ``min_hits=1``).
        hits: frames in which the track was matched, this one included.
        is_new: first frame this id is reported.
    """

    track_id: int
    box: tuple[float, float, float, float]
    score: float
    detection_index: int
    age: int
    hits: int
    is_new: bool


@dataclass
class _Track:
    """The tracker's record of one person (tentative while ``track_id`` is None)."""

    box: np.ndarray  # (4,) last matched box
    keypoints: np.ndarray | None  # (K, 2) last matched pose
    valid: np.ndarray | None  # (K,) its joints that count
    first_frame: int
    last_frame: int
    hits: int = 1
    track_id: int | None = None
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))  # centre, pixels per frame

    def shift(self, frame_index: int) -> np.ndarray:
        """(2,) displacement that constant velocity predicts from the last match to ``frame_index``."""
        return self.velocity * (frame_index - self.last_frame)


@dataclass(frozen=True)
class _Detections:
    boxes: np.ndarray  # (N, 4)
    scores: np.ndarray  # (N,)
    keypoints: np.ndarray | None  # (N, K, 2)
    valid: np.ndarray | None  # (N, K)

    def __len__(self) -> int:
        return len(self.boxes)


class Tracker:
    """Online multi-person tracker: the state of one video, updated frame by frame.

    Example::

        tracker = Tracker(TrackerConfig(metric="oks"))
        for frame_index, (boxes, scores, keypoints, keypoint_scores) in enumerate(frames):
            for person in tracker.update(boxes, scores, keypoints, keypoint_scores, frame_index=frame_index):
                draw(keypoints[person.detection_index], label=person.track_id)
    """

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config if config is not None else TrackerConfig()
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._last_frame: int | None = None

    @property
    def track_ids(self) -> tuple[int, ...]:
        """Ids of the confirmed tracks still alive (matched this frame or lost within ``max_age``), ascending."""
        return tuple(sorted(track.track_id for track in self._tracks if track.track_id is not None))

    @property
    def next_id(self) -> int:
        """The id the next confirmed track will get."""
        return self._next_id

    @property
    def last_frame_index(self) -> int | None:
        """Frame index of the last update, None before the first."""
        return self._last_frame

    def reset(self, *, restart_ids: bool = False) -> None:
        """Forget every track (a new video or a scene cut); ids keep increasing unless ``restart_ids``."""
        self._tracks = []
        self._last_frame = None
        if restart_ids:
            self._next_id = 1

    def update(
        self,
        boxes: ArrayLike,
        scores: ArrayLike,
        keypoints: ArrayLike | None = None,
        keypoint_scores: ArrayLike | None = None,
        frame_index: int | None = None,
    ) -> list[TrackedPerson]:
        """Match one frame's detections to the tracks and return the confirmed, matched people.

        Args:
            boxes: (N, 4) detection boxes (x1, y1, x2, y2) in pixels; N may be 0.
            scores: (N,) detection scores.
            keypoints: (N, K, 2) detection poses; needed by ``metric="oks"`` when N > 0.
            keypoint_scores: (N, K) joint scores; None: every finite joint counts.
            frame_index: this frame's index, increasing over the video (gaps age the tracks); None: the last + 1.

        Returns:
            One :class:`TrackedPerson` per detection matched to a confirmed track, ordered by ``detection_index``.
            Detections that start or continue a tentative track, and lost tracks, are not in it.
        """
        detections = self._detections(boxes, scores, keypoints, keypoint_scores)
        frame = self._frame_index(frame_index)
        # a track that already missed more than max_age frames (frames skipped since the last update) is gone
        self._tracks = [track for track in self._tracks if frame - track.last_frame - 1 <= self._allowed_misses(track)]
        pairs = self._assign(detections, frame)
        people: list[TrackedPerson] = []
        matched_tracks: set[int] = set()
        for track_index, detection_index in pairs:
            track = self._tracks[track_index]
            matched_tracks.add(track_index)
            self._observe(track, detections, detection_index, frame)
            people.extend(self._report(track, detections, detection_index, frame))
        survivors = [
            track
            for index, track in enumerate(self._tracks)
            if index in matched_tracks or frame - track.last_frame <= self._allowed_misses(track)
        ]
        matched_detections = {detection_index for _, detection_index in pairs}
        for detection_index in range(len(detections)):
            if detection_index not in matched_detections:
                track = self._birth(detections, detection_index, frame)
                survivors.append(track)
                people.extend(self._report(track, detections, detection_index, frame))
        self._tracks = survivors
        self._last_frame = frame
        return sorted(people, key=lambda person: person.detection_index)

    # -- steps of update

    def _frame_index(self, frame_index: int | None) -> int:
        if frame_index is None:
            return 0 if self._last_frame is None else self._last_frame + 1
        if self._last_frame is not None and frame_index <= self._last_frame:
            raise ValueError(f"frame_index must increase: got {frame_index} after {self._last_frame}")
        return int(frame_index)

    def _allowed_misses(self, track: _Track) -> int:
        return self.config.max_age if track.track_id is not None else 0

    def _detections(
        self,
        boxes: ArrayLike,
        scores: ArrayLike,
        keypoints: ArrayLike | None,
        keypoint_scores: ArrayLike | None,
    ) -> _Detections:
        boxes = _as_array("boxes", boxes, ("N", 4))
        count = len(boxes)
        scores = _as_array("scores", scores, ("N",))
        _check_rows("scores", scores, count, ("N",))
        _check_boxes("boxes", boxes)
        valid = None
        if keypoints is not None:
            keypoints = _as_array("keypoints", keypoints, ("N", "K", 2))
            _check_rows("keypoints", keypoints, count, ("N", "K", 2))
            valid = np.isfinite(keypoints).all(axis=-1)
            if keypoint_scores is not None:
                joint_scores = _as_array("keypoint_scores", keypoint_scores, ("N", "K"))
                if joint_scores.shape != keypoints.shape[:2]:
                    raise ValueError(
                        f"keypoint_scores must have shape (N, K) = {_shape_text(keypoints.shape[:2])} to match "
                        f"keypoints, got {_shape_text(joint_scores.shape)}"
                    )
                with np.errstate(invalid="ignore"):
                    valid &= joint_scores > self.config.keypoint_threshold
        elif keypoint_scores is not None:
            raise ValueError("keypoint_scores were given without keypoints")
        if self.config.metric == "oks" and count > 0:
            if keypoints is None:
                raise ValueError("keypoints of shape (N, K, 2) are needed with metric='oks'")
            joints = len(self.config.sigmas or COCO_SIGMAS)
            if keypoints.shape[1] != joints:
                raise ValueError(
                    f"keypoints must have shape (N, {joints}, 2) to match the {joints} OKS sigmas, got "
                    f"{_shape_text(keypoints.shape)}; pass TrackerConfig(sigmas=...) for another skeleton"
                )
        return _Detections(boxes, scores, keypoints, valid)

    def _similarity(self, detections: _Detections, frame: int) -> np.ndarray:
        """(tracks, detections) similarity, the better of the last-seen and the predicted position."""
        track_boxes = np.stack([track.box for track in self._tracks])
        shifts = [np.zeros((len(self._tracks), 2))]
        if self.config.predict_motion:
            shifts.append(np.stack([track.shift(frame) for track in self._tracks]))
        best = np.zeros((len(self._tracks), len(detections)))
        for shift in shifts:
            boxes = track_boxes + np.tile(shift, 2)
            if self.config.metric == "iou":
                similarity = iou_matrix(boxes, detections.boxes)
            else:
                similarity = self._oks(boxes, shift, detections)
            best = np.maximum(best, similarity)
        return best

    def _oks(self, boxes: np.ndarray, shift: np.ndarray, detections: _Detections) -> np.ndarray:
        assert detections.keypoints is not None and detections.valid is not None
        joints = detections.keypoints.shape[1]
        poses = np.zeros((len(self._tracks), joints, 2))
        valid = np.zeros((len(self._tracks), joints), dtype=bool)  # a track without a pose of K joints: OKS 0
        for index, track in enumerate(self._tracks):
            if track.keypoints is not None and track.valid is not None and track.keypoints.shape[0] == joints:
                poses[index], valid[index] = track.keypoints, track.valid
        return oks_matrix(
            poses + shift[:, None, :],
            boxes,
            detections.keypoints,
            detections.boxes,
            valid_a=valid,
            valid_b=detections.valid,
            sigmas=self.config.sigmas,
        )

    def _assign(self, detections: _Detections, frame: int) -> list[tuple[int, int]]:
        """Optimal (track index, detection index) pairs at or above ``min_similarity``."""
        if not self._tracks or len(detections) == 0:
            return []
        similarity = self._similarity(detections, frame)
        feasible = similarity >= self.config.min_similarity
        # infeasible pairs weigh nothing, so the assignment maximises the similarity summed over feasible pairs
        rows, columns = linear_sum_assignment(np.where(feasible, similarity, 0.0), maximize=True)
        return [(int(row), int(column)) for row, column in zip(rows, columns, strict=True) if feasible[row, column]]

    def _observe(self, track: _Track, detections: _Detections, index: int, frame: int) -> None:
        box = detections.boxes[index]
        velocity = (_centres(box) - _centres(track.box)) / (frame - track.last_frame)
        smoothing = self.config.velocity_smoothing if track.hits > 1 else 0.0  # the first estimate is taken whole
        track.velocity = smoothing * track.velocity + (1 - smoothing) * velocity
        track.box = box.copy()
        track.keypoints, track.valid = self._pose(detections, index)
        track.last_frame = frame
        track.hits += 1
        if track.track_id is None and track.hits >= self.config.min_hits:
            track.track_id = self._new_id()

    def _birth(self, detections: _Detections, index: int, frame: int) -> _Track:
        keypoints, valid = self._pose(detections, index)
        track = _Track(detections.boxes[index].copy(), keypoints, valid, first_frame=frame, last_frame=frame)
        if self.config.min_hits <= 1:
            track.track_id = self._new_id()
        return track

    @staticmethod
    def _pose(detections: _Detections, index: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        if detections.keypoints is None or detections.valid is None:
            return None, None
        return detections.keypoints[index].copy(), detections.valid[index].copy()

    def _new_id(self) -> int:
        track_id = self._next_id
        self._next_id += 1
        return track_id

    def _report(self, track: _Track, detections: _Detections, index: int, frame: int) -> list[TrackedPerson]:
        if track.track_id is None:
            return []
        x1, y1, x2, y2 = (float(value) for value in detections.boxes[index])
        person = TrackedPerson(
            track_id=track.track_id,
            box=(x1, y1, x2, y2),
            score=float(detections.scores[index]),
            detection_index=index,
            age=frame - track.first_frame,
            hits=track.hits,
            is_new=track.hits == self.config.min_hits,
        )
        return [person]
