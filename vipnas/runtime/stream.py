"""The streaming loop: multi-person pose over the frames of one video, with key frames and T-ViPNets (ViPNAS §3.1).

Per frame: people's boxes (the detector every ``detect_every`` frames, else each track's previous keypoints'
extent), stable ids (:class:`vipnas.runtime.tracking.Tracker`), then per track the network its schedule says —
the S-ViPNet on a key frame, every T+1 frames of a track, and T-ViPNet t on the t-th frame after it, fed with the
track's previous heatmaps warped from the previous crop into the current one (:func:`vipnas.nn.warp.warp_heatmaps`,
the function training uses). A new track, a lost target (mean keypoint score below ``lost_score``) or a box jump
(IoU of the previous and current crop boxes below ``jump_iou``) forces a key frame for that track. With no
T-ViPNet the S-ViPNet runs on every frame. All people running the same network go through it as one batch.

The temporal state is one explicit object, :class:`StreamState`, owned by the loop (``PoseStream.state``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vipnas.runtime.crops import CropSettings, crop_people, keypoints_to_image
from vipnas.runtime.smoothing import KeypointSmoother, OneEuroConfig
from vipnas.runtime.tracking import Tracker, TrackerConfig, box_from_keypoints, iou_matrix

__all__ = ["FrameResult", "Person", "PoseStream", "StreamConfig", "StreamState", "TrackState"]

STAGES = ("detect", "track", "crop", "infer", "decode", "total")


@dataclass(frozen=True)
class StreamConfig:
    """How the loop schedules its work.

    Attributes:
        detect_every: run the detector on every N-th frame (1: every frame); in between, boxes come from the
            tracks' previous keypoints (their extent × ``box_padding``).
        keypoint_threshold: keypoints above this score count for boxes from keypoints.
        lost_score: a track whose mean keypoint score fell below this gets a key frame next.
        jump_iou: a track whose box moved so that IoU(previous, current) is below this gets a key frame now.
        box_padding: padding of boxes from keypoints.
        tracker: the tracker's settings.
        smoothing: one-euro smoothing of the output keypoints (``None``: off).
    """

    detect_every: int = 1
    keypoint_threshold: float = 0.3
    lost_score: float = 0.2
    jump_iou: float = 0.3
    box_padding: float = 1.25
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    smoothing: OneEuroConfig | None = None

    def __post_init__(self) -> None:
        if self.detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {self.detect_every}")
        if not 0 <= self.jump_iou <= 1 or not 0 <= self.lost_score <= 1:
            raise ValueError(f"jump_iou and lost_score must lie in [0, 1], got {self.jump_iou}, {self.lost_score}")


@dataclass(frozen=True)
class Person:
    """One tracked person of a frame: ``keypoints`` (K, 2) image pixels, ``scores`` (K,), ``box`` xyxy the crop
    was made from, ``network`` ``"key"`` or ``"t1"`` … ``"tT"``."""

    track_id: int
    box: tuple[float, float, float, float]
    keypoints: np.ndarray
    scores: np.ndarray
    network: str


@dataclass(frozen=True)
class FrameResult:
    """What the loop yields per frame: index, time in seconds, people, and seconds per stage."""

    index: int
    time_s: float
    people: tuple[Person, ...]
    timings: dict[str, float]


@dataclass
class TrackState:
    """Per track: the next schedule position (0: key frame), the last heatmaps, crop and pose."""

    phase: int = 0
    heatmaps: np.ndarray | None = None
    inverse_affine: np.ndarray | None = None
    box: np.ndarray | None = None
    keypoints: np.ndarray | None = None
    scores: np.ndarray | None = None


@dataclass
class StreamState:
    """Everything the loop carries from one frame to the next."""

    tracker: Tracker
    tracks: dict[int, TrackState] = field(default_factory=dict)
    smoother: KeypointSmoother | None = None
    frames: int = 0


class PoseStream:
    """Multi-person pose over a stream of frames (see the module docstring).

    Args:
        key: the S-ViPNet's backend (``backend(crops) -> heatmaps``).
        t_vipnets: backends of T-ViPNets 1..T (``backend(crops, warped_heatmaps)``); empty: the key every frame.
        crop: the crop settings of the networks (all share the key's input size and codec).
        codec: the heatmap decoder (``codec.decode(heatmaps) -> (keypoints, scores)`` in crop pixels).
        detector: ``detector(image, frame_index) -> Detections`` (boxes xyxy, scores).
        config: the schedule's settings.
    """

    def __init__(
        self,
        key: Any,
        t_vipnets: Sequence[Any],
        crop: CropSettings,
        codec: Any,
        detector: Any,
        config: StreamConfig | None = None,
    ) -> None:
        if any(not getattr(net, "temporal", False) for net in t_vipnets):
            raise ValueError("every T-ViPNet backend must take previous heatmaps (an ONNX input previous_heatmaps)")
        self.key, self.t_vipnets, self.crop, self.codec, self.detector = key, list(t_vipnets), crop, codec, detector
        self.config = config or StreamConfig()
        self.state = self.new_state()

    @property
    def length(self) -> int:
        """T: the frames after a key frame that T-ViPNets serve."""
        return len(self.t_vipnets)

    def new_state(self) -> StreamState:
        smoother = KeypointSmoother(self.config.smoothing) if self.config.smoothing is not None else None
        return StreamState(Tracker(self.config.tracker), smoother=smoother)

    def run(self, frames: Iterable[Any]) -> Iterator[FrameResult]:
        """Results of ``frames`` (objects with ``index``, ``time_s``, ``image`` BGR uint8), one per frame."""
        for frame in frames:
            yield self.step(frame.image, frame.index, frame.time_s)

    # -------------------------------------------------------------------------------------------- one frame
    def _boxes(self, image: np.ndarray, index: int) -> tuple[np.ndarray, np.ndarray]:
        state, config = self.state, self.config
        if index % config.detect_every == 0 or not state.tracks:
            found = self.detector(image, index)
            return np.asarray(found.boxes, np.float64).reshape(-1, 4), np.asarray(found.scores, np.float64)
        boxes, scores = [], []
        size = (image.shape[1], image.shape[0])
        for track in state.tracks.values():
            if track.keypoints is None:
                continue
            box = box_from_keypoints(
                track.keypoints, track.scores, threshold=config.keypoint_threshold, padding=config.box_padding,
                image_size=size,
            )  # fmt: skip
            if box is not None:
                boxes.append(box)
                scores.append(float(np.mean(track.scores)))
        return np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(scores, np.float64)

    def _network_of(self, track: TrackState, box: np.ndarray) -> int:
        """0 for the key network, t for T-ViPNet t."""
        if not self.t_vipnets or track.heatmaps is None or track.phase == 0:
            return 0
        if track.scores is not None and float(np.mean(track.scores)) < self.config.lost_score:
            return 0
        if track.box is not None and iou_matrix(track.box[None], box[None])[0, 0] < self.config.jump_iou:
            return 0
        return track.phase

    def step(self, image: np.ndarray, index: int, time_s: float) -> FrameResult:
        """Process one frame (BGR uint8) and advance the state."""
        timings = dict.fromkeys(STAGES, 0.0)
        began = time.perf_counter()
        boxes, scores = self._boxes(image, index)
        timings["detect"] = time.perf_counter() - began
        clock = time.perf_counter()
        state = self.state
        people = state.tracker.update(boxes, scores, frame_index=index)
        live = {person.track_id for person in people}
        for gone in set(state.tracks) - set(state.tracker.track_ids):
            del state.tracks[gone]
        timings["track"] = time.perf_counter() - clock
        clock = time.perf_counter()
        person_boxes = np.asarray([person.box for person in people], np.float64).reshape(-1, 4)
        crops = crop_people(image, person_boxes, self.crop)
        timings["crop"] = time.perf_counter() - clock
        tracks = [state.tracks.setdefault(person.track_id, TrackState()) for person in people]
        networks = [self._network_of(track, box) for track, box in zip(tracks, person_boxes, strict=True)]
        heatmaps: list[np.ndarray | None] = [None] * len(people)
        clock = time.perf_counter()
        for network in sorted(set(networks)):
            members = [i for i, n in enumerate(networks) if n == network]
            images = crops.images[members]
            if network == 0:
                output = self.key(images)
            else:
                previous = self._warped([tracks[i] for i in members], crops.inverse_affines[members])
                output = self.t_vipnets[network - 1](images, previous)
            for slot, member in enumerate(members):
                heatmaps[member] = output[slot]
        timings["infer"] = time.perf_counter() - clock
        clock = time.perf_counter()
        results = []
        if people:
            stacked = np.stack([h for h in heatmaps if h is not None])
            keypoints, confidences = self.codec.decode(stacked)
            keypoints = keypoints_to_image(keypoints, crops.inverse_affines)
            for i, person in enumerate(people):
                track = tracks[i]
                track.heatmaps, track.inverse_affine = stacked[i], crops.inverse_affines[i]
                track.box, track.keypoints, track.scores = person_boxes[i], keypoints[i], confidences[i]
                track.phase = (networks[i] + 1) % (self.length + 1)
                points = keypoints[i]
                if state.smoother is not None:
                    points = state.smoother.update(person.track_id, points, time_s)
                name = "key" if networks[i] == 0 else f"t{networks[i]}"
                results.append(
                    Person(person.track_id, tuple(map(float, person_boxes[i])), points, confidences[i], name)
                )  # type: ignore[arg-type]
        if state.smoother is not None:
            state.smoother.retain(live)
        timings["decode"] = time.perf_counter() - clock
        timings["total"] = time.perf_counter() - began
        state.frames += 1
        return FrameResult(index, time_s, tuple(results), timings)

    def _warped(self, tracks: list[TrackState], inverse_affines: np.ndarray) -> np.ndarray:
        """The tracks' previous heatmaps warped from their previous crops into the current ones."""
        import torch

        from vipnas.nn.warp import warp_heatmaps

        previous = torch.from_numpy(np.stack([track.heatmaps for track in tracks]).astype(np.float32))
        sources = np.stack([track.inverse_affine for track in tracks])
        warped = warp_heatmaps(previous, sources, inverse_affines, self.crop.input_size, udp=self.crop.udp)
        return warped.numpy()
