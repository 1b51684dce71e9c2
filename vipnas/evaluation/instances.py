"""Top-down predictions as arrays, instance scoring, OKS and (soft) OKS-NMS.

One person prediction = one crop: its keypoints in original-image pixels, per-joint scores (heatmap maxima), the
box score and the padded crop area. Everything here is numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from vipnas.data.transforms import transform_points

__all__ = [
    "PosePredictions",
    "instance_scores",
    "keypoints_to_image",
    "oks_iou",
    "oks_nms",
    "select_instances",
    "soft_oks_nms",
]


@dataclass
class PosePredictions:
    """N person predictions, as produced by :func:`vipnas.evaluation.run_inference` or built by hand.

    Attributes:
        image_ids: (N,) int64 original image ids (PoseTrack18's 11-digit frame ids included).
        keypoints: (N, K, 2) float64 joints (x, y) in original-image pixels.
        keypoint_scores: (N, K) float64 per-joint confidence (heatmap maximum).
        box_scores: (N,) float64 person-box score (1 for ground-truth boxes, the detector's score otherwise).
        areas: (N,) float64 padded crop area ``scale_w * scale_h`` in pixels², the OKS scale used by OKS-NMS.
        annotation_ids: (N,) int64 source annotation (or detection) index, -1 when unknown; MPII matches by it.
    """

    image_ids: np.ndarray
    keypoints: np.ndarray
    keypoint_scores: np.ndarray
    box_scores: np.ndarray
    areas: np.ndarray
    annotation_ids: np.ndarray

    def __post_init__(self) -> None:
        self.image_ids = np.asarray(self.image_ids, dtype=np.int64).reshape(-1)
        count = len(self.image_ids)
        self.keypoints = np.asarray(self.keypoints, dtype=np.float64)
        self.keypoint_scores = np.asarray(self.keypoint_scores, dtype=np.float64)
        self.box_scores = np.asarray(self.box_scores, dtype=np.float64).reshape(-1)
        self.areas = np.asarray(self.areas, dtype=np.float64).reshape(-1)
        self.annotation_ids = np.asarray(self.annotation_ids, dtype=np.int64).reshape(-1)
        shapes = {f.name: getattr(self, f.name).shape for f in fields(self)}
        if (
            self.keypoints.ndim != 3
            or self.keypoints.shape[2] != 2
            or self.keypoints.shape[0] != count
            or self.keypoint_scores.shape != self.keypoints.shape[:2]
        ) or any(len(getattr(self, name)) != count for name in ("box_scores", "areas", "annotation_ids")):
            raise ValueError(f"inconsistent prediction array shapes: {shapes}")

    def __len__(self) -> int:
        return len(self.image_ids)

    @property
    def num_joints(self) -> int:
        return self.keypoints.shape[1]

    def subset(self, index: np.ndarray | Sequence[int]) -> PosePredictions:
        """The predictions at ``index`` (integer indices or a boolean mask)."""
        return PosePredictions(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @classmethod
    def from_crops(cls, keypoints: np.ndarray, scores: np.ndarray, batch: Any) -> PosePredictions:
        """Predictions of a batch of crops: ``keypoints`` (N, K, 2) in network-input pixels and ``scores`` (N, K)
        as a codec decodes them, back-projected through each crop's ``inverse_affine``; the box score, the padded
        crop area ``scale_w · scale_h`` (the OKS-NMS scale), image and annotation ids come from ``batch``."""
        return cls(
            image_ids=batch.image_id,
            keypoints=keypoints_to_image(keypoints, batch.inverse_affine),
            keypoint_scores=scores,
            box_scores=batch.box_score,
            areas=np.prod(batch.scale, axis=1),
            annotation_ids=batch.annotation_id,
        )

    @staticmethod
    def concatenate(parts: Sequence[PosePredictions]) -> PosePredictions:
        """Join batches of predictions (at least one part)."""
        if not parts:
            raise ValueError("cannot concatenate an empty list of predictions")
        return PosePredictions(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(parts[0])}
        )

    def check(self, num_joints: int, known_image_ids: set[int] | None = None, where: str = "predictions") -> None:
        """Raise ``ValueError`` naming the first bad record: wrong joint count, non-finite values, unknown image id."""
        if self.num_joints != num_joints:
            raise ValueError(f"{where}: predictions have {self.num_joints} joints, expected {num_joints}")
        for name in ("keypoints", "keypoint_scores", "box_scores", "areas"):
            values = getattr(self, name)
            bad = ~np.isfinite(values).all(axis=tuple(range(1, values.ndim)))
            if bad.any():
                index = int(np.argmax(bad))
                raise ValueError(
                    f"{where}: record {index} (image id {self.image_ids[index]}) has non-finite {name}: "
                    f"{getattr(self, name)[index].tolist()}"
                )
        if known_image_ids is not None:
            unknown = [int(i) for i in np.unique(self.image_ids) if int(i) not in known_image_ids]
            if unknown:
                raise ValueError(
                    f"{where}: image ids {unknown[:5]}{' ...' if len(unknown) > 5 else ''} are not in the ground truth"
                )


def keypoints_to_image(keypoints: np.ndarray, inverse_affine: np.ndarray) -> np.ndarray:
    """Back-project network-input keypoints through each crop's inverse affine.

    Args:
        keypoints: (N, K, 2) joints in network-input pixels (the codec's output).
        inverse_affine: (N, 2, 3) input-pixel → image-pixel maps (``Batch.inverse_affine``).

    Returns:
        (N, K, 2) float64 joints in original-image pixels.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    inverse_affine = np.asarray(inverse_affine, dtype=np.float64)
    if keypoints.ndim != 3 or inverse_affine.shape != (len(keypoints), 2, 3):
        raise ValueError(
            f"expected keypoints (N, K, 2) and inverse_affine (N, 2, 3), got {keypoints.shape}, {inverse_affine.shape}"
        )
    return np.stack(
        [transform_points(points, matrix) for points, matrix in zip(keypoints, inverse_affine, strict=True)]
    )


def instance_scores(box_scores: np.ndarray, keypoint_scores: np.ndarray, threshold: float = 0.2) -> np.ndarray:
    """Person score = box score × mean of the keypoint scores above ``threshold`` (0 when none is above).

    Args:
        box_scores: (N,) box scores.
        keypoint_scores: (N, K) joint scores.
        threshold: joints scoring at or below it do not count (MMPose ``keypoint_score_thr``).

    Returns:
        (N,) float64 scores.
    """
    keypoint_scores = np.asarray(keypoint_scores, dtype=np.float64)
    valid = keypoint_scores > threshold
    count = valid.sum(axis=1)
    mean = np.where(valid, keypoint_scores, 0.0).sum(axis=1) / np.maximum(count, 1)
    return np.asarray(box_scores, dtype=np.float64) * mean


def oks_iou(
    keypoints: np.ndarray, others: np.ndarray, area: float, other_areas: np.ndarray, sigmas: Sequence[float]
) -> np.ndarray:
    """OKS between one pose and others, as MMPose/HRNet's NMS computes it (all joints, mean of the two areas).

    ``OKS = mean_k exp(-d_k² / (2 · (a + a') / 2 · (2σ_k)²))``.

    Args:
        keypoints: (K, 2) the reference pose.
        others: (M, K, 2) the poses to compare with.
        area: reference area (pixels²).
        other_areas: (M,) areas.
        sigmas: (K,) per-joint OKS constants.

    Returns:
        (M,) OKS values in [0, 1].
    """
    variances = (2 * np.asarray(sigmas, dtype=np.float64)) ** 2
    squared = ((np.asarray(others, dtype=np.float64) - keypoints) ** 2).sum(axis=-1)  # (M, K)
    scale = (area + np.asarray(other_areas, dtype=np.float64)) / 2 + np.spacing(1)
    exponent = squared / variances / scale[:, None] / 2
    return np.exp(-exponent).mean(axis=1)


def _descending(scores: np.ndarray) -> np.ndarray:
    # MMPose's order, ties included (``argsort()[::-1]``), so kept sets match it exactly.
    return np.asarray(scores).argsort()[::-1]


def oks_nms(
    keypoints: np.ndarray, scores: np.ndarray, areas: np.ndarray, sigmas: Sequence[float], threshold: float = 0.9
) -> np.ndarray:
    """Greedy OKS-NMS: keep the best pose, drop those with OKS > ``threshold`` to it, repeat.

    Args:
        keypoints: (N, K, 2) poses of one image.
        scores: (N,) instance scores.
        areas: (N,) OKS areas (padded box areas).
        sigmas: (K,) OKS constants.
        threshold: OKS above which a pose is a duplicate.

    Returns:
        Indices of the kept poses, best first.
    """
    order = _descending(scores)
    keep: list[int] = []
    while len(order) > 0:
        best = order[0]
        keep.append(best)
        overlap = oks_iou(keypoints[best], keypoints[order[1:]], areas[best], areas[order[1:]], sigmas)
        order = order[1:][overlap <= threshold]
    return np.asarray(keep, dtype=np.int64)


def soft_oks_nms(
    keypoints: np.ndarray,
    scores: np.ndarray,
    areas: np.ndarray,
    sigmas: Sequence[float],
    threshold: float = 0.9,
    max_detections: int = 20,
) -> tuple[np.ndarray, np.ndarray]:
    """Soft OKS-NMS (Gaussian decay, as MMPose's ``soft_oks_nms``): each kept pose decays the others' scores by
    ``exp(-OKS² / threshold)`` instead of removing them; at most ``max_detections`` are kept.

    Returns:
        keep: indices of the kept poses in the order they were selected.
        scores: their decayed scores. MMPose discards these and reports the undecayed scores; the decayed ones
            are the point of soft-NMS (Bodla et al. 2017), so vipnas uses them for ranking.
    """
    order = _descending(scores)
    current = np.asarray(scores, dtype=np.float64)[order]
    keep: list[int] = []
    kept_scores: list[float] = []
    while len(order) > 0 and len(keep) < max_detections:
        best = order[0]
        keep.append(best)
        kept_scores.append(current[0])
        overlap = oks_iou(keypoints[best], keypoints[order[1:]], areas[best], areas[order[1:]], sigmas)
        order, current = order[1:], current[1:] * np.exp(-(overlap**2) / threshold)
        resort = _descending(current)
        order, current = order[resort], current[resort]
    return np.asarray(keep, dtype=np.int64), np.asarray(kept_scores, dtype=np.float64)


def select_instances(
    predictions: PosePredictions,
    sigmas: Sequence[float],
    *,
    nms: str = "oks",
    nms_threshold: float = 0.9,
    keypoint_threshold: float = 0.2,
) -> tuple[PosePredictions, np.ndarray]:
    """Score every person and run NMS per image, as MMPose's ``CocoMetric`` does before evaluation.

    Args:
        predictions: all persons of all images.
        sigmas: (K,) OKS constants of the dataset.
        nms: ``"oks"`` (greedy), ``"soft"`` (soft OKS-NMS) or ``"none"``.
        nms_threshold: OKS threshold (the Gaussian's width for soft-NMS).
        keypoint_threshold: joint-score threshold of :func:`instance_scores`.

    Returns:
        The kept predictions (grouped by ascending image id, best first within an image) and
        their (N',) instance scores.
    """
    if nms not in ("oks", "soft", "none"):
        raise ValueError(f"nms must be one of 'oks', 'soft', 'none', got {nms!r}")
    scores = instance_scores(predictions.box_scores, predictions.keypoint_scores, keypoint_threshold)
    if nms == "none":
        return predictions, scores
    by_image = np.argsort(predictions.image_ids, kind="stable")
    sorted_ids = predictions.image_ids[by_image]
    kept_index, kept_scores = [np.zeros(0, np.int64)], [np.zeros(0)]
    for members in np.split(by_image, np.flatnonzero(sorted_ids[1:] != sorted_ids[:-1]) + 1):
        if len(members) == 0:
            continue
        points, areas = predictions.keypoints[members], predictions.areas[members]
        if nms == "oks":
            keep = oks_nms(points, scores[members], areas, sigmas, nms_threshold)
            kept_scores.append(scores[members][keep])
        else:
            keep, decayed = soft_oks_nms(points, scores[members], areas, sigmas, nms_threshold)
            kept_scores.append(decayed)
        kept_index.append(members[keep])
    index = np.concatenate(kept_index)
    return predictions.subset(index), np.concatenate(kept_scores)
