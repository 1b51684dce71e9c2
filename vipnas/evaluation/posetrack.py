"""PoseTrack18 multi-person pose AP: a reimplementation of the official ``poseval`` (``evaluateAP``), which is not
installable here, reading and writing the official per-video JSON files.

What poseval does, and so what this does (from ``poseval/eval_helpers.py``, ``evaluateAP.py``, ``convert.py``):

- One prediction file per ground-truth video file, same name, same frames in the same order (poseval pairs frames
  by position; we also require the same image ids, and say which differs).
- Joints: the 15 PoseTrack joints; the two ear slots of the 17-slot COCO layout are dropped. A joint is absent when
  it is stored as ``(0, 0, 0)``; anything else is present (ground truth and predictions alike).
- Frames without any ground-truth person are not evaluated (poseval derives "labelled" from the presence of
  persons, not from ``is_labeled``), and their predictions are ignored.
- In frames with ignore regions, ground-truth and predicted joints strictly inside a polygon are removed, and
  persons left without joints are removed.
- Matching per frame: a prediction and a ground-truth person are compared by PCKh: the fraction of the person's
  annotated joints predicted within 0.5 × head size, head size = 0.6 × the head-box diagonal. Each prediction
  keeps only its best person; each person takes the best of the predictions that chose it. A joint of a matched
  prediction is a true positive if it lies within the threshold; joints of unmatched predictions are false
  positives. Each predicted joint carries its own score (``scores[k]``; -9999 when the file has none).
- AP per joint: joints of all frames ranked by score (``argsort()[::-1]``, poseval's tie order), precision/recall,
  VOC all-point interpolated AP, in percent. A joint without any prediction gets AP 0; one without ground truth
  but with predictions gets NaN and is left out of Total.
- Head = mean(head_top, head_bottom, nose), Shoulder ... Ankle = mean of the left/right pair, Total = mean over the
  15 joints (not over the groups). Values are percentages, as poseval prints them.

Deviations, all in error handling: video files are read in sorted order (poseval uses ``glob`` order, which only
changes the order of exactly tied scores across videos); polygons with fewer than 3 points contain nothing (shapely
raises); bad files raise ``ValueError`` naming the file and record instead of asserting.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vipnas.data.coco import check_unique_ids, integer_id, parse_ignore_regions, real_numbers
from vipnas.data.files import read_json, write_json_atomic
from vipnas.data.metadata import POSETRACK18
from vipnas.evaluation.instances import PosePredictions, select_instances

__all__ = [
    "POSETRACK_METRICS",
    "POSEVAL_JOINTS",
    "evaluate_posetrack",
    "evaluate_posetrack_folder",
    "posetrack_joint_ap",
    "posetrack_summary",
    "read_posetrack_video",
    "write_posetrack_predictions",
]

# poseval's joint ids (``POSETRACK18_LM_NAMES``): the order of its per-joint AP vector.
POSEVAL_JOINTS = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "right_wrist", "right_elbow",
    "right_shoulder", "left_shoulder", "left_elbow", "left_wrist", "head_bottom", "nose", "head_top",
)  # fmt: skip
POSETRACK_METRICS = ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Total")
_GROUPS = {
    "Head": ("head_top", "head_bottom", "nose"),
    "Shoulder": ("right_shoulder", "left_shoulder"),
    "Elbow": ("right_elbow", "left_elbow"),
    "Wrist": ("right_wrist", "left_wrist"),
    "Hip": ("right_hip", "left_hip"),
    "Knee": ("right_knee", "left_knee"),
    "Ankle": ("right_ankle", "left_ankle"),
}
_DISTANCE_THRESHOLD = 0.5  # PCKh@0.5
_HEAD_FACTOR = 0.6  # head size = 0.6 × head-box diagonal
_MISSING_SCORE = -9999.0  # poseval's MIN_SCORE for predictions without joint scores
_MAX_TRACK_ID = 10000


@dataclass
class _Person:
    points: np.ndarray  # (15, 2) in poseval joint order
    present: np.ndarray  # (15,) bool
    scores: np.ndarray  # (15,) float
    head_size: float  # 0.6 × head-box diagonal (ground truth), nan for predictions


@dataclass
class _Frame:
    image_id: int
    persons: list[_Person]
    regions: list[np.ndarray]  # ignore polygons (P, 2)


def read_posetrack_video(path: str | Path, *, prediction: bool) -> list[_Frame]:
    """Read one official PoseTrack18 per-video file (ground truth or predictions) into frames, in file order.

    Raises:
        ValueError: naming the file and record: missing keys, joint names or counts, non-finite values,
            annotations of an image id not in ``images``, ground truth without ``bbox_head``, predictions without
            or with duplicate ``track_id``, non-integer or repeated ids, a ground-truth person listed twice in a
            frame (a repeated ``track_id``).
    """
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict) or not all(key in data for key in ("images", "annotations", "categories")):
        raise ValueError(f"{path}: not a PoseTrack18 video file (needs 'images', 'annotations', 'categories')")
    names = list(data["categories"][0].get("keypoints", [])) if data["categories"] else []
    missing = [name for name in POSEVAL_JOINTS if name not in names]
    if missing:
        raise ValueError(f"{path}: categories[0].keypoints lacks {missing}; expected the PoseTrack18 joint names")
    slots = np.array([names.index(name) for name in POSEVAL_JOINTS])  # poseval joint → slot in the file
    check_unique_ids(data["images"], str(path), "images")
    check_unique_ids(data["annotations"], str(path), "annotations")
    frames: dict[int, _Frame] = {}
    files: dict[str, int] = {}  # ground-truth file name -> its images index
    for index, image in enumerate(data["images"]):
        if "id" not in image:
            raise ValueError(f"{path}: images[{index}] has no 'id'")
        integer_id(image["id"], f"{path}: images[{index}]")
        if not prediction and "file_name" in image:
            name = str(image["file_name"])
            if name in files:
                raise ValueError(
                    f"{path}: images[{files[name]}] and images[{index}] are the same frame {name!r}; "
                    "a frame is listed once per video"
                )
            files[name] = index
        frames[int(image["id"])] = _Frame(int(image["id"]), [], parse_ignore_regions(image, f"{path}: images[{index}]"))
    track_ids: dict[int, set[int]] = {}
    for index, annotation in enumerate(data["annotations"]):
        where = f"{path}: annotation id {annotation.get('id', '?')} (annotations[{index}])"
        if "image_id" not in annotation or "keypoints" not in annotation:
            raise ValueError(f"{where}: needs 'image_id' and 'keypoints'")
        frame = frames.get(integer_id(annotation["image_id"], where, "image_id"))
        if frame is None:
            raise ValueError(f"{where}: image id {annotation['image_id']} is not among the file's images")
        values = real_numbers(annotation["keypoints"], where, "keypoints")
        if values.shape != (3 * len(names),):
            raise ValueError(f"{where}: {values.size} keypoint values, expected {3 * len(names)} ({len(names)} joints)")
        if not np.isfinite(values).all():
            raise ValueError(f"{where}: non-finite keypoint values {annotation['keypoints']}")
        triples = values.reshape(-1, 3)[slots]
        present = ~((triples[:, 0] == 0) & (triples[:, 1] == 0) & (triples[:, 2] == 0))
        scores = np.full(len(POSEVAL_JOINTS), _MISSING_SCORE)
        if prediction:
            given = annotation.get("scores") or []
            if given:
                if len(given) != len(names) or not np.isfinite(real_numbers(given, where, "scores")).all():
                    raise ValueError(f"{where}: 'scores' must hold {len(names)} finite joint scores, got {given}")
                scores = np.asarray(given, dtype=np.float64)[slots]
            if "track_id" not in annotation:
                raise ValueError(f"{where}: predictions need a 'track_id' (the official evaluator requires one)")
            track = int(annotation["track_id"])
            seen = track_ids.setdefault(frame.image_id, set())
            if track in seen or not 0 <= track < _MAX_TRACK_ID:
                raise ValueError(f"{where}: track_id {track} repeats in its frame or is outside [0, {_MAX_TRACK_ID})")
            seen.add(track)
            head_size = float("nan")
        else:
            head = annotation.get("bbox_head")
            if head is None or len(head) != 4:
                raise ValueError(f"{where}: ground truth needs 'bbox_head' [x, y, w, h] (PCKh's head size)")
            head_size = _HEAD_FACTOR * float(np.hypot(float(head[2]), float(head[3])))
            if "track_id" in annotation:  # a person listed twice would count as a missed second person
                track = integer_id(annotation["track_id"], where, "track_id")
                seen = track_ids.setdefault(frame.image_id, set())
                if track in seen:
                    raise ValueError(
                        f"{where}: ground-truth track_id {track} is listed twice in frame {frame.image_id}"
                    )
                seen.add(track)
        frame.persons.append(_Person(triples[:, :2].copy(), present, scores, head_size))
    return list(frames.values())


def _strictly_inside(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd rule, boundary excluded (shapely's ``Polygon.contains``); (M, 2) points → (M,) bool."""
    if len(polygon) < 3:
        return np.zeros(len(points), dtype=bool)
    x, y = points[:, :1], points[:, 1:]  # (M, 1)
    xi, yi = polygon[None, :, 0], polygon[None, :, 1]  # (1, P)
    xj, yj = np.roll(polygon[:, 0], 1)[None], np.roll(polygon[:, 1], 1)[None]
    cross = (xj - xi) * (y - yi) - (yj - yi) * (x - xi)  # (M, P)
    within = (
        (np.minimum(xi, xj) <= x) & (x <= np.maximum(xi, xj)) & (np.minimum(yi, yj) <= y) & (y <= np.maximum(yi, yj))
    )
    on_edge = ((cross == 0) & within).any(axis=1)
    straddles = (yi > y) != (yj > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing_x = xi + (y - yi) * (xj - xi) / (yj - yi)
    crossings = (straddles & (x < crossing_x)).sum(axis=1)
    return (crossings % 2 == 1) & ~on_edge


def _drop_ignored(persons: list[_Person], regions: list[np.ndarray]) -> list[_Person]:
    kept = []
    for person in persons:
        inside = np.zeros(len(POSEVAL_JOINTS), dtype=bool)
        for polygon in regions:
            inside |= _strictly_inside(person.points, polygon)
        present = person.present & ~inside
        if present.any():
            kept.append(_Person(person.points, present, person.scores, person.head_size))
    return kept


def _assign(gt: list[_Person], pred: list[_Person]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """poseval ``assignGTmulti`` for one frame: per-joint (scores, labels) of the predicted joints."""
    joints = len(POSEVAL_JOINTS)
    scores = [np.array([p.scores[j] for p in pred if p.present[j]]) for j in range(joints)]
    if not pred:
        return scores, [np.zeros(0, bool) for _ in range(joints)]
    if not gt:
        return scores, [np.zeros(len(s), bool) for s in scores]
    pred_points = np.stack([p.points for p in pred])  # (P, 15, 2)
    gt_points = np.stack([g.points for g in gt])  # (G, 15, 2)
    both = np.stack([p.present for p in pred])[:, None] & np.stack([g.present for g in gt])[None]  # (P, G, 15)
    head = np.array([g.head_size for g in gt])
    with np.errstate(divide="ignore", invalid="ignore"):
        distance = np.linalg.norm(pred_points[:, None] - gt_points[None], axis=-1) / head[None, :, None]
    distance = np.where(both, distance, np.inf)
    match = distance <= _DISTANCE_THRESHOLD  # (P, G, 15)
    annotated = np.stack([g.present for g in gt]).sum(axis=1)  # (G,)
    pck = match.sum(axis=2).astype(np.float64)
    pck = np.where(annotated[None] > 0, pck / np.maximum(annotated[None], 1), pck)
    best = np.argmax(pck, axis=1)  # each prediction keeps its best person only
    pck = np.where(np.arange(len(gt))[None] == best[:, None], pck, 0.0)
    taker = np.argmax(pck, axis=0)  # each person takes its best remaining prediction
    taker[pck.max(axis=0) == 0] = -1
    labels: list[list[bool]] = [[] for _ in range(joints)]
    for index, person in enumerate(pred):
        matched = np.flatnonzero(taker == index)
        for j in np.flatnonzero(person.present):
            labels[j].append(bool(match[index, matched[0], j]) if len(matched) else False)
    return scores, [np.array(label, dtype=bool) for label in labels]


def _voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC all-point AP (poseval ``VOCap``): precision made monotone, summed over recall steps."""
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    step = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[step] - mrec[step - 1]) * mpre[step]))


def posetrack_joint_ap(gt_videos: Sequence[list[_Frame]], pred_videos: Sequence[list[_Frame]]) -> np.ndarray:
    """Per-joint AP (percent, poseval joint order) of paired videos (frames paired by position).

    Returns:
        (15,) AP per joint of :data:`POSEVAL_JOINTS`; NaN for a joint with predictions but no ground truth.
    """
    joints = len(POSEVAL_JOINTS)
    all_scores: list[list[np.ndarray]] = [[] for _ in range(joints)]
    all_labels: list[list[np.ndarray]] = [[] for _ in range(joints)]
    gt_count = np.zeros(joints)
    for gt_frames, pred_frames in zip(gt_videos, pred_videos, strict=True):
        for gt_frame, pred_frame in zip(gt_frames, pred_frames, strict=True):
            if not gt_frame.persons:  # unlabelled frame
                continue
            gt, pred = gt_frame.persons, pred_frame.persons
            if gt_frame.regions:
                gt, pred = _drop_ignored(gt, gt_frame.regions), _drop_ignored(pred, gt_frame.regions)
            scores, labels = _assign(gt, pred)
            for j in range(joints):
                all_scores[j].append(scores[j])
                all_labels[j].append(labels[j])
            gt_count += np.sum([g.present for g in gt], axis=0) if gt else 0
    ap = np.zeros(joints)
    for j in range(joints):
        ranked = np.concatenate(all_scores[j]) if all_scores[j] else np.zeros(0)
        if len(ranked) == 0:
            continue  # poseval leaves AP at 0 when a joint has no prediction
        hits = np.concatenate(all_labels[j])[ranked.argsort()[::-1]]
        true_positives = np.cumsum(hits)
        with np.errstate(divide="ignore", invalid="ignore"):
            recall = true_positives / gt_count[j]
        precision = true_positives / np.arange(1, len(hits) + 1)
        with np.errstate(invalid="ignore"):
            ap[j] = _voc_ap(recall, precision) * 100
    return ap


def posetrack_summary(joint_ap: np.ndarray) -> dict[str, float]:
    """Group the 15 per-joint APs as poseval's table: Head ... Ankle, and Total = mean over the joints (NaN-free)."""
    index = {name: i for i, name in enumerate(POSEVAL_JOINTS)}
    metrics = {group: float(np.mean([joint_ap[index[name]] for name in names])) for group, names in _GROUPS.items()}
    valid = joint_ap[~np.isnan(joint_ap)]
    metrics["Total"] = float(valid.mean()) if len(valid) else float("nan")
    return metrics


def _video_files(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if folder.is_file():
        return [folder]
    files = sorted(folder.glob("*.json"))
    if not files:
        raise FileNotFoundError(f"no PoseTrack18 per-video files (*.json) in {folder}")
    return files


def evaluate_posetrack_folder(
    gt: str | Path, predictions: str | Path, *, image_ids: Collection[int] | None = None
) -> dict[str, float]:
    """Evaluate a folder of per-video prediction files against the ground-truth folder (or one file of each).

    ``image_ids``: evaluate only these frames (of ground truth and predictions alike; videos left without any are
    left out), e.g. the first N validation frames during training.

    Returns:
        ``{Head, Shoulder, Elbow, Wrist, Hip, Knee, Ankle, Total}`` in percent, plus ``joint_ap`` per joint name.

    Raises:
        FileNotFoundError: a ground-truth video has no prediction file.
        ValueError: bad files, frame counts or frame ids that differ from the ground truth.
    """
    gt_videos, pred_videos = [], []
    pred_root = Path(predictions)
    for gt_file in _video_files(gt):
        pred_file = pred_root if pred_root.is_file() else pred_root / gt_file.name
        if not pred_file.is_file():
            raise FileNotFoundError(f"prediction file {pred_file} for ground-truth video {gt_file} does not exist")
        gt_frames = read_posetrack_video(gt_file, prediction=False)
        pred_frames = read_posetrack_video(pred_file, prediction=True)
        gt_ids = [frame.image_id for frame in gt_frames]
        pred_ids = [frame.image_id for frame in pred_frames]
        if gt_ids != pred_ids:
            if len(gt_ids) != len(pred_ids):
                raise ValueError(f"{pred_file}: {len(pred_ids)} frames, the ground truth {gt_file} has {len(gt_ids)}")
            first = next(i for i, (a, b) in enumerate(zip(gt_ids, pred_ids, strict=True)) if a != b)
            raise ValueError(f"{pred_file}: images[{first}] has id {pred_ids[first]}, ground truth has {gt_ids[first]}")
        if image_ids is not None:
            gt_frames = [frame for frame in gt_frames if frame.image_id in image_ids]
            pred_frames = [frame for frame in pred_frames if frame.image_id in image_ids]
            if not gt_frames:
                continue
        gt_videos.append(gt_frames)
        pred_videos.append(pred_frames)
    joint_ap = posetrack_joint_ap(gt_videos, pred_videos)
    metrics: dict[str, Any] = posetrack_summary(joint_ap)
    metrics["joint_ap"] = dict(zip(POSEVAL_JOINTS, (float(v) for v in joint_ap), strict=True))
    return metrics


def write_posetrack_predictions(
    gt: str | Path, predictions: PosePredictions, scores: np.ndarray, out_dir: str | Path
) -> list[Path]:
    """Write one official-format prediction file per ground-truth video file (same name, same frames and ids).

    Each person: ``keypoints`` as ``[x, y, score] * 17`` (the score as third value, as MMPose writes it),
    ``scores`` per joint, ``score`` the instance score, ``track_id`` its index within the frame.

    Raises:
        ValueError: predictions for image ids that are in none of the ground-truth videos.
    """
    out_dir = Path(out_dir)
    by_image: dict[int, list[int]] = {}
    for index, image_id in enumerate(predictions.image_ids.tolist()):
        by_image.setdefault(int(image_id), []).append(index)
    written, used = [], set()
    for gt_file in _video_files(gt):
        data = read_json(gt_file)
        images = [{"id": image["id"], "file_name": image.get("file_name", "")} for image in data["images"]]
        annotations = []
        for image in images:
            used.add(int(image["id"]))
            for track_id, index in enumerate(by_image.get(int(image["id"]), [])):
                joint_scores = predictions.keypoint_scores[index]
                triples = np.concatenate([predictions.keypoints[index], joint_scores[:, None]], axis=1)
                annotations.append(
                    {
                        "image_id": image["id"],
                        "category_id": 1,
                        "track_id": track_id,
                        "keypoints": [float(v) for v in triples.reshape(-1)],
                        "scores": [float(v) for v in joint_scores],
                        "score": float(scores[index]),
                    }
                )
        categories = data.get("categories") or [{"id": 1, "name": "person", "keypoints": list(POSETRACK18.joint_names)}]
        target = out_dir / gt_file.name
        write_json_atomic(target, {"images": images, "annotations": annotations, "categories": categories})
        written.append(target)
    unknown = sorted(set(by_image) - used)
    if unknown:
        raise ValueError(f"predictions for image ids {unknown[:5]} that are in none of the videos in {gt}")
    return written


def evaluate_posetrack(
    gt: str | Path,
    predictions: PosePredictions,
    out_dir: str | Path,
    *,
    nms: str = "oks",
    nms_threshold: float = 0.9,
    keypoint_threshold: float = 0.2,
    image_ids: Collection[int] | None = None,
) -> dict[str, float]:
    """MMPose ``PoseTrack18Metric``'s pipeline: instance scores, OKS-NMS (COCO sigmas), per-video files, poseval AP.

    Args:
        gt: folder of ground-truth per-video files (``annotations/val``).
        predictions: all person predictions, keypoints in image pixels, image ids = the 11-digit frame ids.
        out_dir: where the per-video prediction files are written.
        nms, nms_threshold, keypoint_threshold: as :func:`vipnas.evaluation.select_instances`.
        image_ids: evaluate only these frames (see :func:`evaluate_posetrack_folder`).
    """
    predictions.check(POSETRACK18.num_joints, where="predictions")
    kept, scores = select_instances(
        predictions, POSETRACK18.sigmas, nms=nms, nms_threshold=nms_threshold, keypoint_threshold=keypoint_threshold
    )
    write_posetrack_predictions(gt, kept, scores, out_dir)
    return evaluate_posetrack_folder(gt, out_dir, image_ids=image_ids)
