"""PoseTrack18 multi-person pose tracking metrics (MOTA, MOTP, precision, recall): a reimplementation of the official
``poseval`` tracking evaluation (``evaluateTracking``) and of the py-motmetrics accumulator it drives (motmetrics
1.2 - 1.4, which poseval requires; none of it is a dependency here), reading the official per-video JSON files.

What poseval does, and so what this does (``poseval/evaluateTracking.py``, ``eval_helpers.assignGTmulti``,
``eval_helpers.load_data_dir``, ``motmetrics/mot.py`` ``MOTAccumulator.update``, ``motmetrics/metrics.py``):

- Files, frames, joints, head size and ignore regions as for the AP (:mod:`vipnas.evaluation.posetrack`): one
  prediction file per ground-truth video, same frames; the 15 PoseTrack joints, absent when stored as ``(0, 0, 0)``;
  a frame is labelled when it has a ground-truth person; in frames with ignore regions, joints strictly inside a
  polygon are removed from ground truth and predictions, and persons left without joints are removed.
- Every person (ground truth and prediction) needs an integer ``track_id``; its identity across frames.
- Each video is evaluated on its own, with one accumulator per joint; the event counts are summed over videos.
- Frames: the labelled frames of a video, in file order, **except its last labelled frame** (poseval's
  ``imgidxs[:-1]``). Unlabelled frames and their predictions are not looked at.
- Per frame and joint: the objects are the ground-truth persons with that joint, the hypotheses the predicted
  persons with that joint; every (object, hypothesis) pair whose joint distance / head size is <= 0.5 may be paired,
  with that distance as cost (all such pairs, not only the PCKh assignment of the AP).
- A frame where, after ignore regions, there is no ground-truth person or no predicted person gets poseval's
  placeholder instead: for every joint one object and one hypothesis that cannot pair, i.e. one object, one miss
  and one false positive, whatever the number of persons.
- Accumulator, per frame: (1) an object whose previous partner hypothesis is present and pairable keeps it (a match,
  even when another pairing would be cheaper); (2) the remaining pairable objects and hypotheses are assigned at
  minimum total cost (scipy's solver; unpairable entries replaced by motmetrics' large finite cost, so the most
  pairs first); a pair is a switch when the object's previous partner differs, else a match; (3) objects left over
  are misses, hypotheses left over false positives.
- Per joint: MOTA = 100 (1 - (misses + switches + false positives) / objects), NaN without objects;
  precision = 100 detections / (detections + false positives), recall = 100 detections / objects, with
  detections = matches + switches; MOTP = 100 (1 - D / detections), 0 without detections, where D is poseval's
  ``accumulator.events['D'].sum()``: besides the distance of every match and switch, motmetrics' event table holds
  a RAW event with the distance of every pairable pair of every frame, and an extra TRANSFER / ASCEND / MIGRATE
  event (with the pair's distance) for some re-pairings, and poseval sums them all. So poseval's MOTP is not the
  CLEAR-MOT MOTP (it falls faster with joint error); this reproduces poseval's number.
- Head = mean(head_top, head_bottom, nose), Shoulder ... Ankle = mean of the left/right pair, Total = mean over
  the joints that are not NaN. Values are percentages, as poseval prints them (it prints MOTA per group and Total,
  and the Total of MOTP, precision and recall).

Deviations: video files are read in sorted order (only the order of summation changes); a video with a single
labelled frame contributes nothing (poseval fails on it with an IndexError), and when no video has two labelled
frames this raises; bad files raise ``ValueError`` naming the file and record instead of asserting.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from vipnas.data.coco import integer_id, real_numbers
from vipnas.data.files import read_json
from vipnas.evaluation.posetrack import (
    _DISTANCE_THRESHOLD,
    _MAX_TRACK_ID,
    POSEVAL_JOINTS,
    _drop_ignored,
    _Frame,
    _Person,
    _video_files,
    posetrack_summary,
    read_posetrack_video,
)

__all__ = [
    "TRACKING_METRICS",
    "MotCounts",
    "evaluate_posetrack_tracking",
    "posetrack_tracking_counts",
    "tracking_summary",
]

TRACKING_METRICS = ("MOTA", "MOTP", "Precision", "Recall")


@dataclass
class _Video:
    path: Path
    frames: list[_Frame]
    tracks: list[np.ndarray]  # per frame: the track id of each of its persons, in ``frame.persons`` order


@dataclass
class MotCounts:
    """Per-joint tracking events summed over videos: (15,) arrays in :data:`POSEVAL_JOINTS` order.

    Attributes:
        objects: ground-truth joints looked at (motmetrics ``num_objects``).
        matches, switches, misses, false_positives: event counts.
        distance_sum: poseval's sum of event distances, the numerator of its MOTP.
        videos: videos that contributed frames (those with at least two labelled frames).
    """

    objects: np.ndarray = field(default_factory=lambda: np.zeros(len(POSEVAL_JOINTS), dtype=np.int64))
    matches: np.ndarray = field(default_factory=lambda: np.zeros(len(POSEVAL_JOINTS), dtype=np.int64))
    switches: np.ndarray = field(default_factory=lambda: np.zeros(len(POSEVAL_JOINTS), dtype=np.int64))
    misses: np.ndarray = field(default_factory=lambda: np.zeros(len(POSEVAL_JOINTS), dtype=np.int64))
    false_positives: np.ndarray = field(default_factory=lambda: np.zeros(len(POSEVAL_JOINTS), dtype=np.int64))
    distance_sum: np.ndarray = field(default_factory=lambda: np.zeros(len(POSEVAL_JOINTS)))
    videos: int = 0

    def joint_metrics(self) -> dict[str, np.ndarray]:
        """MOTA, MOTP, Precision and Recall per joint, in percent, as poseval's ``computeMetrics``."""
        objects = np.where(self.objects > 0, self.objects, np.nan)
        detections = self.matches + self.switches
        claimed = detections + self.false_positives
        with np.errstate(divide="ignore", invalid="ignore"):
            return {
                "MOTA": 100 * (1 - (self.misses + self.switches + self.false_positives) / objects),
                "MOTP": np.where(detections > 0, 100 * (1 - self.distance_sum / np.maximum(detections, 1)), 0.0),
                "Precision": 100 * detections / np.where(claimed > 0, claimed, np.nan),
                "Recall": 100 * detections / objects,
            }


class _JointAccumulator:
    """motmetrics' ``MOTAccumulator`` for one joint of one video, keeping only what poseval reads from it."""

    def __init__(self) -> None:
        self.partner: dict[int, int] = {}  # object -> hypothesis it was last paired with (motmetrics ``m``)
        self.assigned_object: dict[int, int] = {}  # hypothesis -> object of its last assignment (``res_m``)
        self.paired_objects: set[int] = set()  # objects paired at least once (keys of ``last_match``)
        self.paired_hypotheses: set[int] = set()  # hypotheses paired at least once (keys of ``hypHistory``)
        self.objects = self.matches = self.switches = self.misses = self.false_positives = 0
        self.distances: list[float] = []  # the distance of every event, in event order

    def add_placeholder(self) -> None:
        """poseval's frame without ground truth or without predictions: one object and one hypothesis, unpairable."""
        self.objects += 1
        self.misses += 1
        self.false_positives += 1

    def update(self, objects: np.ndarray, hypotheses: np.ndarray, distances: np.ndarray) -> None:
        """One frame: (G,) object ids, (P,) hypothesis ids, (G, P) distances with NaN for unpairable pairs."""
        self.objects += len(objects)
        self.distances.extend(distances[np.isfinite(distances)].tolist())  # motmetrics' RAW events
        free_objects = np.ones(len(objects), dtype=bool)
        free_hypotheses = np.ones(len(hypotheses), dtype=bool)
        if len(objects) and len(hypotheses):
            self._keep_partners(objects, hypotheses, distances, free_objects, free_hypotheses)
            costs = distances.copy()
            costs[~free_objects] = np.nan
            costs[:, ~free_hypotheses] = np.nan
            for row, column in _minimum_cost_pairs(costs):
                self._assign(int(objects[row]), int(hypotheses[column]), float(costs[row, column]))
                free_objects[row] = free_hypotheses[column] = False
        self.misses += int(free_objects.sum())
        self.false_positives += int(free_hypotheses.sum())

    def _keep_partners(
        self,
        objects: np.ndarray,
        hypotheses: np.ndarray,
        distances: np.ndarray,
        free_objects: np.ndarray,
        free_hypotheses: np.ndarray,
    ) -> None:
        """Step 1: objects whose previous partner is present, free and pairable stay with it (matches)."""
        for row, obj in enumerate(objects.tolist()):
            if obj not in self.partner:
                continue
            columns = np.flatnonzero(free_hypotheses & (hypotheses == self.partner[obj]))
            if len(columns) == 0 or not np.isfinite(distances[row, columns[0]]):
                continue
            column = columns[0]
            free_objects[row] = free_hypotheses[column] = False
            self.matches += 1
            self.distances.append(float(distances[row, column]))
            self.paired_objects.add(obj)
            self.paired_hypotheses.add(int(hypotheses[column]))

    def _assign(self, obj: int, hypothesis: int, distance: float) -> None:
        """Step 2, one assigned pair: a switch if the object had another partner; the extra events' distances."""
        switch = obj in self.partner and self.partner[obj] != hypothesis
        if switch and hypothesis not in self.paired_hypotheses:
            self.distances.append(distance)  # ASCEND
        if hypothesis in self.assigned_object and self.assigned_object[hypothesis] != obj:
            if obj not in self.paired_objects:
                self.distances.append(distance)  # MIGRATE
            self.distances.append(distance)  # TRANSFER
        self.paired_hypotheses.add(hypothesis)
        self.paired_objects.add(obj)
        self.distances.append(distance)  # the MATCH or SWITCH itself
        if switch:
            self.switches += 1
        else:
            self.matches += 1
        self.partner[obj] = hypothesis
        self.assigned_object[hypothesis] = obj


def _minimum_cost_pairs(costs: np.ndarray) -> list[tuple[int, int]]:
    """motmetrics' ``linear_sum_assignment`` with the scipy solver: NaN entries are unpairable; they get a finite
    cost larger than any full assignment of pairable entries, and pairs on them are dropped from the solution."""
    pairable = np.isfinite(costs)
    if not pairable.any():
        return []
    limit = np.abs(costs[pairable]).max() + 1
    rows, columns = linear_sum_assignment(np.where(pairable, costs, 2 * min(costs.shape) * limit + 1))
    return [(int(row), int(column)) for row, column in zip(rows, columns, strict=True) if pairable[row, column]]


def _pair_distances(gt: list[_Person], pred: list[_Person]) -> np.ndarray:
    """(G, P, 15) joint distance / head size where both persons have the joint and it is <= 0.5, NaN elsewhere."""
    gt_points = np.stack([person.points for person in gt])
    pred_points = np.stack([person.points for person in pred])
    head = np.array([person.head_size for person in gt])
    with np.errstate(divide="ignore", invalid="ignore"):
        distance = np.linalg.norm(gt_points[:, None] - pred_points[None], axis=-1) / head[:, None, None]
    both = np.stack([person.present for person in gt])[:, None] & np.stack([person.present for person in pred])[None]
    return np.where(both & (distance <= _DISTANCE_THRESHOLD), distance, np.nan)


def _without_ignored(
    persons: list[_Person], tracks: np.ndarray, regions: list[np.ndarray]
) -> tuple[list[_Person], np.ndarray]:
    """The persons (and their track ids) left after removing their joints inside the ignore regions."""
    if not regions:
        return persons, tracks
    kept_persons: list[_Person] = []
    kept_tracks: list[int] = []
    for person, track in zip(persons, tracks.tolist(), strict=True):
        for kept in _drop_ignored([person], regions):
            kept_persons.append(kept)
            kept_tracks.append(track)
    return kept_persons, np.array(kept_tracks, dtype=np.int64)


def _accumulate_frame(
    accumulators: list[_JointAccumulator],
    gt: tuple[list[_Person], np.ndarray],
    pred: tuple[list[_Person], np.ndarray],
) -> None:
    """Feed one evaluated frame (persons and track ids, ignore regions applied) to the per-joint accumulators."""
    (gt_persons, gt_tracks), (pred_persons, pred_tracks) = gt, pred
    if not gt_persons or not pred_persons:
        for accumulator in accumulators:
            accumulator.add_placeholder()
        return
    distances = _pair_distances(gt_persons, pred_persons)
    gt_present = np.stack([person.present for person in gt_persons])
    pred_present = np.stack([person.present for person in pred_persons])
    for joint, accumulator in enumerate(accumulators):
        rows, columns = gt_present[:, joint], pred_present[:, joint]
        accumulator.update(gt_tracks[rows], pred_tracks[columns], distances[rows][:, columns, joint])


def _video_accumulators(gt: _Video, pred: _Video) -> list[_JointAccumulator] | None:
    """Per-joint accumulators of one video, or None when it has fewer than two labelled frames."""
    labelled = [index for index, frame in enumerate(gt.frames) if frame.persons]
    if len(labelled) < 2:
        return None
    accumulators = [_JointAccumulator() for _ in POSEVAL_JOINTS]
    for index in labelled[:-1]:  # poseval leaves out each video's last labelled frame
        regions = gt.frames[index].regions
        _accumulate_frame(
            accumulators,
            _without_ignored(gt.frames[index].persons, gt.tracks[index], regions),
            _without_ignored(pred.frames[index].persons, pred.tracks[index], regions),
        )
    return accumulators


def _read_track_ids(path: Path, data: Any, *, prediction: bool) -> dict[int, list[int]]:
    """Each annotation's ``track_id`` (and, for ground truth, a finite ``bbox_head``), grouped by image id in file
    order. Malformed structure is left to :func:`read_posetrack_video`, which reports it."""
    annotations = data.get("annotations") if isinstance(data, dict) else None
    tracks: dict[int, list[int]] = {}
    for index, annotation in enumerate(annotations if isinstance(annotations, list) else []):
        if not isinstance(annotation, dict):
            continue
        where = f"{path}: annotation id {annotation.get('id', '?')} (annotations[{index}])"
        if "track_id" not in annotation:
            raise ValueError(f"{where}: needs a 'track_id' (pose tracking follows each person by it)")
        track = integer_id(annotation["track_id"], where, "track_id")
        if not prediction:
            if track >= _MAX_TRACK_ID:
                raise ValueError(f"{where}: track_id {track} is not below {_MAX_TRACK_ID} (poseval asserts it)")
            head = annotation.get("bbox_head")
            if isinstance(head, list) and not np.isfinite(real_numbers(head, where, "bbox_head")).all():
                raise ValueError(f"{where}: non-finite bbox_head {head}")
        image_id = annotation.get("image_id")
        if isinstance(image_id, int):
            tracks.setdefault(image_id, []).append(track)
    return tracks


def _check_regions(path: Path, frames: list[_Frame]) -> None:
    for index, frame in enumerate(frames):
        for number, region in enumerate(frame.regions):
            if not np.isfinite(region).all():
                raise ValueError(f"{path}: images[{index}]: non-finite ignore_regions_x/y[{number}] {region.tolist()}")


def _read_video(path: Path, *, prediction: bool) -> _Video:
    """One per-video file with the track id of every person.

    Raises:
        ValueError: as :func:`read_posetrack_video`, and a person without an integer ``track_id``, a non-finite
            ground-truth ``bbox_head`` or ignore region.
    """
    track_ids = _read_track_ids(path, read_json(path), prediction=prediction)
    frames = read_posetrack_video(path, prediction=prediction)
    if not prediction:
        _check_regions(path, frames)
    tracks = [np.array(track_ids.get(frame.image_id, []), dtype=np.int64) for frame in frames]
    return _Video(path, frames, tracks)


def _paired_videos(gt_folder: str | Path, pred_folder: str | Path) -> Iterator[tuple[_Video, _Video]]:
    """Each ground-truth video with its prediction file (same name), checked to list the same frames."""
    pred_root = Path(pred_folder)
    for gt_file in _video_files(gt_folder):
        pred_file = pred_root if pred_root.is_file() else pred_root / gt_file.name
        if not pred_file.is_file():
            raise ValueError(f"{pred_file}: prediction file for ground-truth video {gt_file} does not exist")
        gt, pred = _read_video(gt_file, prediction=False), _read_video(pred_file, prediction=True)
        gt_ids = [frame.image_id for frame in gt.frames]
        pred_ids = [frame.image_id for frame in pred.frames]
        if len(gt_ids) != len(pred_ids):
            raise ValueError(f"{pred_file}: {len(pred_ids)} images, the ground truth {gt_file} has {len(gt_ids)}")
        for index, (gt_id, pred_id) in enumerate(zip(gt_ids, pred_ids, strict=True)):
            if gt_id != pred_id:
                raise ValueError(f"{pred_file}: images[{index}] has id {pred_id}, ground truth has {gt_id}")
        yield gt, pred


def posetrack_tracking_counts(gt_folder: str | Path, pred_folder: str | Path) -> MotCounts:
    """Per-joint tracking events of a folder of per-video prediction files against the ground truth (or one file
    of each), summed over the videos.

    Raises:
        FileNotFoundError: the ground-truth folder holds no ``*.json``.
        ValueError: a missing prediction file, bad files (see :func:`read_posetrack_video`; also persons without an
            integer ``track_id``, non-finite head boxes or ignore regions), frames that differ from the ground
            truth, or no video with two labelled frames.
    """
    counts = MotCounts()
    for gt, pred in _paired_videos(gt_folder, pred_folder):
        accumulators = _video_accumulators(gt, pred)
        if accumulators is None:
            continue
        counts.videos += 1
        for joint, accumulator in enumerate(accumulators):
            counts.objects[joint] += accumulator.objects
            counts.matches[joint] += accumulator.matches
            counts.switches[joint] += accumulator.switches
            counts.misses[joint] += accumulator.misses
            counts.false_positives[joint] += accumulator.false_positives
            counts.distance_sum[joint] += float(np.sum(accumulator.distances))
    if counts.videos == 0:
        raise ValueError(
            f"{gt_folder}: no video has two labelled frames; poseval's tracking evaluation leaves out each video's "
            "last labelled frame, so there is nothing to evaluate"
        )
    return counts


def tracking_summary(counts: MotCounts) -> dict[str, float]:
    """``{metric}_{group}`` (Head ... Ankle, Total) and ``{metric}_{joint}`` for MOTA, MOTP, Precision, Recall.

    Groups and Total as poseval's table: a group is the mean of its joints (NaN if one is NaN), Total the mean
    over the joints that are not NaN.
    """
    metrics: dict[str, float] = {}
    for metric, values in counts.joint_metrics().items():
        metrics.update({f"{metric}_{group}": value for group, value in posetrack_summary(values).items()})
        metrics.update({f"{metric}_{name}": float(value) for name, value in zip(POSEVAL_JOINTS, values, strict=True)})
    return metrics


def evaluate_posetrack_tracking(gt_folder: str | Path, pred_folder: str | Path) -> dict[str, float]:
    """PoseTrack18 tracking metrics of a folder of per-video prediction files (or one file) against the ground truth.

    Returns:
        Percentages keyed ``MOTA_Head`` ... ``MOTA_Ankle``, ``MOTA_Total``, ``MOTP_Total``, ``Precision_Total``,
        ``Recall_Total`` (poseval's printed table), plus the other groups of MOTP / Precision / Recall and every
        metric per joint (``MOTA_right_ankle``, ...).

    Raises:
        FileNotFoundError, ValueError: see :func:`posetrack_tracking_counts`.
    """
    return tracking_summary(posetrack_tracking_counts(gt_folder, pred_folder))
