"""MPII PCKh, as the official MATLAB evaluation and its Python port in SimpleBaseline/HRNet/MMPose compute it.

A joint is correct when its distance to the ground truth is at most ``threshold × head size``, head size = 0.6 ×
the diagonal of the annotated head box (``headboxes_src`` of ``mpii_gt_val.mat``). Per-joint PCKh is over the
joints annotated in the ground truth; the mean (``PCKh``, ``PCKh@0.1``) is over all annotated joints except pelvis
and thorax, i.e. the per-joint values weighted by their joint counts. ``<=`` as in the official code (MMPose's
``keypoint_pck_accuracy`` uses ``<``; the two differ only for distances exactly on the threshold).

Coordinates: the MPII JSON and ``.mat`` files are 1-based MATLAB pixels, vipnas predictions are 0-based; the
evaluator subtracts 1 from the ground truth (the same as HRNet's ``preds + 1``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vipnas.data.files import read_json
from vipnas.data.metadata import MPII
from vipnas.evaluation.instances import PosePredictions

__all__ = ["MPII_METRICS", "evaluate_mpii", "load_mpii_head_boxes", "mpii_pckh", "pckh_per_joint"]

MPII_METRICS = ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "PCKh", "PCKh@0.1")
_GROUPS = {
    "Head": ("head_top",),
    "Shoulder": ("l_shoulder", "r_shoulder"),
    "Elbow": ("l_elbow", "r_elbow"),
    "Wrist": ("l_wrist", "r_wrist"),
    "Hip": ("l_hip", "r_hip"),
    "Knee": ("l_knee", "r_knee"),
    "Ankle": ("l_ankle", "r_ankle"),
}
_EXCLUDED = ("pelvis", "thorax")  # not in the mean, as in the MPII benchmark
_HEAD_FACTOR = 0.6


def pckh_per_joint(
    predicted: np.ndarray, ground_truth: np.ndarray, visible: np.ndarray, head_sizes: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Correct and annotated counts per joint.

    Args:
        predicted: (N, K, 2) predicted joints, same pixel convention as ``ground_truth``.
        ground_truth: (N, K, 2).
        visible: (N, K) annotated flags (joints with ``visible <= 0`` are not counted).
        head_sizes: (N,) normalisation (0.6 × head-box diagonal), pixels.
        threshold: PCKh threshold (0.5 for PCKh@0.5).

    Returns:
        correct: (K,) number of annotated joints within ``threshold × head size``.
        annotated: (K,) number of annotated joints.
    """
    distance = np.linalg.norm(np.asarray(predicted, np.float64) - np.asarray(ground_truth, np.float64), axis=-1)
    scaled = distance / np.asarray(head_sizes, np.float64)[:, None]
    annotated = np.asarray(visible) > 0
    return ((scaled <= threshold) & annotated).sum(axis=0), annotated.sum(axis=0)


def mpii_pckh(
    predicted: np.ndarray, ground_truth: np.ndarray, visible: np.ndarray, head_sizes: np.ndarray
) -> dict[str, Any]:
    """MPII's table: Head, Shoulder, ..., Ankle PCKh@0.5, the mean ``PCKh`` and ``PCKh@0.1`` (percent).

    Args:
        predicted, ground_truth: (N, 16, 2) joints in the same pixel convention, MPII joint order.
        visible: (N, 16) annotated flags.
        head_sizes: (N,) 0.6 × head-box diagonal.

    Returns:
        The metrics of :data:`MPII_METRICS`, plus ``joint_pckh`` (per joint name, percent; NaN if never annotated).
    """
    index = {name: i for i, name in enumerate(MPII.joint_names)}
    counted = np.ones(MPII.num_joints, dtype=bool)
    counted[[index[name] for name in _EXCLUDED]] = False
    metrics: dict[str, Any] = {}
    per_joint = {}
    for threshold, key in ((0.5, "PCKh"), (0.1, "PCKh@0.1")):
        correct, annotated = pckh_per_joint(predicted, ground_truth, visible, head_sizes, threshold)
        with np.errstate(divide="ignore", invalid="ignore"):
            per_joint[key] = 100.0 * correct / annotated
        total = annotated[counted].sum()
        metrics[key] = float(100.0 * correct[counted].sum() / total) if total else float("nan")
    pckh = per_joint["PCKh"]
    table: dict[str, Any] = {
        group: float(np.mean([pckh[index[name]] for name in names])) for group, names in _GROUPS.items()
    }
    table.update(metrics)
    table["joint_pckh"] = {name: float(pckh[i]) for name, i in index.items()}
    return table


def load_mpii_head_boxes(path: str | Path, count: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Head boxes of the MPII validation records, and the official ground truth when the file carries it.

    Args:
        path: ``mpii_gt_val.mat`` (needs scipy): ``headboxes_src`` (2, 2, N), and ``pos_gt_src`` (16, 2, N) /
            ``jnt_missing`` (16, N) if present; or a JSON list of ``[[x1, y1], [x2, y2]]`` per record.
        count: the number of records of the annotation file, checked against the head boxes.

    Returns:
        boxes: (N, 2, 2) 1-based ``[[x1, y1], [x2, y2]]``.
        joints: (N, 16, 2) 1-based official joints, or ``None``.
        visible: (N, 16) ``1 - jnt_missing``, or ``None``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MPII head-box file {path} does not exist")
    joints = visible = None
    if path.suffix == ".mat":
        try:
            from scipy.io import loadmat
        except ImportError as error:  # scipy is a dev dependency only
            raise ValueError(f"reading {path} needs scipy (pip install scipy), or pass head boxes as JSON") from error
        content = loadmat(str(path))
        boxes = np.transpose(content["headboxes_src"], (2, 0, 1)).astype(np.float64)
        if "pos_gt_src" in content and "jnt_missing" in content:
            joints = np.transpose(content["pos_gt_src"], (2, 0, 1)).astype(np.float64)
            visible = 1.0 - np.transpose(content["jnt_missing"], (1, 0)).astype(np.float64)
    else:
        boxes = np.asarray(read_json(path), dtype=np.float64)
    if boxes.shape != (count, 2, 2):
        raise ValueError(f"{path}: head boxes of shape {boxes.shape}, expected ({count}, 2, 2) for {count} records")
    return boxes, joints, visible


def evaluate_mpii(
    annotation: str | Path, predictions: PosePredictions, head_boxes: str | Path | np.ndarray | None = None
) -> dict[str, Any]:
    """PCKh of predictions against an MPII JSON annotation file (one prediction per record).

    Args:
        annotation: MPII JSON list (``joints`` 1-based, ``joints_vis``). A record may carry its own ``head_box``
            ``[[x1, y1], [x2, y2]]``; otherwise ``head_boxes`` is needed.
        predictions: one person per record, matched by ``annotation_ids`` (= record index, as
            :func:`vipnas.data.mpii.load_mpii` numbers them), keypoints in 0-based image pixels.
        head_boxes: ``mpii_gt_val.mat`` (then its ``pos_gt_src``/``jnt_missing`` are the ground truth, as in the
            official evaluation), a JSON list, or an (N, 2, 2) array of 1-based head boxes.

    Raises:
        ValueError: records without a prediction or predicted twice, unknown record indices, wrong joint count,
            non-finite values, missing head boxes.
    """
    path = Path(annotation)
    records = read_json(path)
    if not isinstance(records, list):
        raise ValueError(f"{path}: expected a JSON list of MPII records")
    count = len(records)
    predictions.check(MPII.num_joints, where="predictions")
    ids = predictions.annotation_ids
    if ((ids < 0) | (ids >= count)).any():
        bad = int(ids[(ids < 0) | (ids >= count)][0])
        raise ValueError(f"predictions: annotation id {bad} is not a record index of {path} (0..{count - 1})")
    if len(np.unique(ids)) != len(ids) or len(ids) != count:
        missing = sorted(set(range(count)) - set(ids.tolist()))
        raise ValueError(
            f"predictions: need exactly one prediction per record of {path} ({count}); "
            f"got {len(ids)} for {len(np.unique(ids))} records, missing e.g. {missing[:5]}"
        )
    official: tuple[np.ndarray, np.ndarray] | None = None
    if isinstance(head_boxes, np.ndarray):
        boxes = head_boxes.astype(np.float64).reshape(count, 2, 2)
    elif head_boxes is not None:
        boxes, official_joints, official_visible = load_mpii_head_boxes(head_boxes, count)
        if official_joints is not None and official_visible is not None:
            official = (official_joints, official_visible)
    elif all("head_box" in record for record in records):
        boxes = np.asarray([record["head_box"] for record in records], dtype=np.float64).reshape(count, 2, 2)
    else:
        raise ValueError(f"{path}: MPII PCKh needs head boxes: pass mpii_gt_val.mat or give records a 'head_box'")
    joints = np.asarray([record["joints"] for record in records], dtype=np.float64) - 1.0  # MATLAB → 0-based
    visible = np.asarray([record.get("joints_vis", [1] * MPII.num_joints) for record in records], dtype=np.float64)
    if joints.shape != (count, MPII.num_joints, 2):
        raise ValueError(f"{path}: joints of shape {joints.shape}, expected ({count}, {MPII.num_joints}, 2)")
    if official is not None:  # the .mat is the official ground truth (HRNet's evaluation reads it, not the JSON)
        joints, visible = official[0] - 1.0, official[1]
    head_sizes = _HEAD_FACTOR * np.linalg.norm(boxes[:, 1] - boxes[:, 0], axis=-1)
    order = np.argsort(ids)
    return mpii_pckh(predictions.keypoints[order], joints, visible, head_sizes)
