"""COCO-style keypoint AP/AR through pycocotools' ``COCOeval``: COCO, CrowdPose, and PoseTrack18's merged file.

CrowdPose's official evaluator (``crowdposetools``, and xtcocotools with ``use_area=False`` in MMPose) differs from
pycocotools in two places, both reproduced on top of pycocotools here:

1. the OKS scale and the area range use ``0.53 × bbox_w × bbox_h`` of the ground truth, never ``area`` (CrowdPose
   files have none): we set every ground-truth ``area`` to that value before evaluation;
2. the summary is AP, AP50, AP75, AR, AR50, AR75 over all images plus AP on the easy / medium / hard images
   (``crowdIndex`` < 0.2, < 0.8, ≥ 0.8), each the mean of the precision array of a run restricted to those
   images, rounded to 4 decimals as ``get_type_result`` does (numpy's rounding; -1 when a class has no image).
"""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from vipnas.data.coco import check_unique_ids, integer_id, real_numbers
from vipnas.data.files import read_json, write_json_atomic
from vipnas.data.metadata import get_dataset_info
from vipnas.evaluation.instances import PosePredictions, select_instances

__all__ = [
    "COCO_METRICS",
    "CROWDPOSE_METRICS",
    "check_coco_results",
    "coco_keypoint_metrics",
    "coco_results",
    "evaluate_coco",
    "evaluate_coco_results",
    "load_coco_ground_truth",
]

COCO_METRICS = ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL")
CROWDPOSE_METRICS = ("AP", "AP50", "AP75", "AR", "AR50", "AR75", "APE", "APM", "APH")
_CROWD_INDEX_LIMITS = (0.2, 0.8)  # crowdposetools get_type_result(first=0.2, second=0.8)
_AREA_FACTOR = 0.53  # box area → segment area, CrowdPose's evaluator (and MMPose for files without ``area``)


def _quiet() -> contextlib.AbstractContextManager[Any]:
    """pycocotools prints progress to stdout; keep stdout for the metric table or ``--json``."""
    return contextlib.redirect_stdout(io.StringIO())


def load_coco_ground_truth(annotation: str | Path | dict[str, Any], dataset: str = "COCO") -> COCO:
    """Load a COCO-format keypoint annotation file into a pycocotools ``COCO`` object, ready for ``COCOeval``.

    For CrowdPose every ground-truth ``area`` becomes ``0.53·w·h`` of its box (the official evaluator's OKS scale);
    for other datasets a missing ``area`` gets the same estimate (PoseTrack18's merged file has none).

    Args:
        annotation: path of the JSON file, or its already-loaded content (not modified).
        dataset: ``COCO``, ``CROWDPOSE`` or ``POSETRACK18``.

    Raises:
        ValueError: the file is not a COCO keypoint file (missing ``images``/``annotations``/``categories``,
            annotations without ``bbox`` or ``keypoints``, with the wrong joint count or with non-finite box,
            keypoints or area), or its ids are not
            unique integers, or an annotation names an image the file does not have.
    """
    info = get_dataset_info(dataset)
    source = str(annotation) if not isinstance(annotation, dict) else "annotation dict"
    data = copy.deepcopy(annotation) if isinstance(annotation, dict) else read_json(annotation)
    for key in ("images", "annotations", "categories"):
        if not isinstance(data, dict) or key not in data:
            raise ValueError(f"{source}: not a COCO annotation file (no {key!r} list)")
    # pycocotools indexes by id: a repeated id silently drops a record, a string id never matches a result
    check_unique_ids(data["images"], source, "images")
    check_unique_ids(data["annotations"], source, "annotations")
    image_ids = set()
    for index, image in enumerate(data["images"]):
        if not isinstance(image, dict) or "id" not in image:
            raise ValueError(f"{source}: images[{index}] has no 'id'")
        image_ids.add(integer_id(image["id"], f"{source}: images[{index}]"))
    for index, ann in enumerate(data["annotations"]):
        where = f"{source}: annotation id {ann.get('id', '?')} (annotations[{index}])"
        for key in ("id", "image_id", "bbox", "keypoints"):
            if key not in ann:
                raise ValueError(f"{where}: missing {key!r}")
        integer_id(ann["id"], where)
        if integer_id(ann["image_id"], where, "image_id") not in image_ids:
            raise ValueError(f"{where}: image_id {ann['image_id']} is not in the file's images")
        for key in ("bbox", "keypoints", "area"):
            if key in ann and not np.isfinite(real_numbers(ann[key], where, key)).all():
                raise ValueError(f"{where}: {key} {ann[key]!r} has non-finite values")
        if len(ann["bbox"]) != 4:
            raise ValueError(f"{where}: bbox must be 4 numbers (x, y, w, h), got {ann['bbox']!r}")
        if len(ann["keypoints"]) != 3 * info.num_joints:
            raise ValueError(
                f"{where}: {len(ann['keypoints'])} keypoint values, expected {3 * info.num_joints} ({info.name})"
            )
        ann.setdefault("category_id", 1)
        ann.setdefault("iscrowd", 0)
        ann.setdefault("num_keypoints", int(np.count_nonzero(np.asarray(ann["keypoints"][2::3]) > 0)))
        if info.name == "CROWDPOSE" or "area" not in ann:
            ann["area"] = float(ann["bbox"][2]) * float(ann["bbox"][3]) * _AREA_FACTOR
    coco = COCO()
    coco.dataset = data
    with _quiet():
        coco.createIndex()
    return coco


def coco_results(predictions: PosePredictions, scores: np.ndarray, category_id: int = 1) -> list[dict[str, Any]]:
    """COCO keypoint results: one ``{image_id, category_id, keypoints: [x, y, score]*K, score}`` per person.

    The third value of each joint is its score, as MMPose writes it (COCOeval ignores it).
    """
    triples = np.concatenate([predictions.keypoints, predictions.keypoint_scores[..., None]], axis=-1)
    return [
        {
            "image_id": int(image_id),
            "category_id": int(category_id),
            "keypoints": [float(v) for v in points.reshape(-1)],
            "score": float(score),
        }
        for image_id, points, score in zip(predictions.image_ids, triples, scores, strict=True)
    ]


def check_coco_results(results: Any, gt: COCO, num_joints: int, where: str) -> list[dict[str, Any]]:
    """Validate COCO keypoint results against the ground truth.

    Raises:
        ValueError: naming the record: not a list of objects, missing keys, wrong joint count, non-finite values,
            or an image id absent from the ground truth.
    """
    if not isinstance(results, list):
        raise ValueError(f"{where}: expected a JSON list of COCO keypoint results")
    known = set(gt.getImgIds())
    for index, record in enumerate(results):
        name = f"{where}: record {index}"
        if not isinstance(record, dict):
            raise ValueError(f"{name}: expected an object, got {type(record).__name__}")
        for key in ("image_id", "keypoints", "score"):
            if key not in record:
                raise ValueError(f"{name}: missing {key!r}")
        name = f"{name} (image id {record['image_id']})"
        values = real_numbers(record["keypoints"], name, "keypoints")
        if values.shape != (3 * num_joints,):
            raise ValueError(f"{name}: {values.size} keypoint values, expected {3 * num_joints} ({num_joints} joints)")
        if not np.isfinite(values).all() or not np.isfinite(real_numbers(record["score"], name, "score", scalar=True)):
            raise ValueError(f"{name}: non-finite keypoints or score: {record['keypoints']}, {record['score']}")
        if record["image_id"] not in known:
            raise ValueError(f"{name}: image id {record['image_id']} is not in the ground truth")
        record.setdefault("category_id", 1)
    return results


def _load_results(gt: COCO, results: list[dict[str, Any]]) -> COCO:
    if results:
        with _quiet():
            return gt.loadRes(copy.deepcopy(results))
    empty = COCO()  # pycocotools' loadRes cannot take an empty list
    empty.dataset = {"images": list(gt.dataset["images"]), "categories": gt.dataset["categories"], "annotations": []}
    with _quiet():
        empty.createIndex()
    return empty


def coco_keypoint_metrics(gt: COCO, results: list[dict[str, Any]], sigmas: Sequence[float], crowdpose: bool = False):
    """Run ``COCOeval(iouType='keypoints')`` with the dataset's OKS sigmas.

    Args:
        gt: ground truth from :func:`load_coco_ground_truth`.
        results: COCO keypoint results (validated).
        sigmas: (K,) OKS constants.
        crowdpose: report CrowdPose's summary (see the module docstring) instead of COCO's ten numbers.

    Returns:
        ``{name: value}`` with :data:`COCO_METRICS` or :data:`CROWDPOSE_METRICS` keys; AP/AR in [0, 1], -1 where
        pycocotools reports "no ground truth".
    """
    detections = _load_results(gt, results)
    evaluator = COCOeval(gt, detections, iouType="keypoints")
    evaluator.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
    evaluator.params.useSegm = None
    with _quiet():
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = [float(v) for v in evaluator.stats]
    if not crowdpose:
        return dict(zip(COCO_METRICS, stats, strict=True))
    metrics = dict(zip(CROWDPOSE_METRICS[:6], [stats[i] for i in (0, 1, 2, 5, 6, 7)], strict=True))
    easy, medium = _CROWD_INDEX_LIMITS
    groups: dict[str, list[int]] = {"APE": [], "APM": [], "APH": []}
    for image in gt.dataset["images"]:
        if "crowdIndex" not in image:
            raise ValueError(f"CrowdPose image id {image.get('id')} has no 'crowdIndex' (needed for APE/APM/APH)")
        crowd = float(image["crowdIndex"])
        groups["APE" if crowd < easy else "APM" if crowd < medium else "APH"].append(image["id"])
    for name, image_ids in groups.items():
        evaluator.params.imgIds = image_ids
        with _quiet():
            evaluator.evaluate()
            evaluator.accumulate()
        # round() of a numpy float, as get_type_result's round(np.mean(score), 4): numpy rounds x·10⁴ half to even,
        # Python's round of a float rounds the exact decimal value; they differ just around half-way (0.84595)
        metrics[name] = float(round(np.mean(evaluator.eval["precision"][:, :, :, 0, :]), 4))
    return metrics


def evaluate_coco_results(
    annotation: str | Path | COCO, results: str | Path | list[dict[str, Any]], dataset: str = "COCO"
) -> dict[str, float]:
    """Evaluate an existing COCO keypoint results file (or list) as it is: no rescoring, no NMS.

    Raises:
        ValueError: bad records (see :func:`check_coco_results`).
    """
    info = get_dataset_info(dataset)
    gt = annotation if isinstance(annotation, COCO) else load_coco_ground_truth(annotation, info.name)
    where = str(results) if not isinstance(results, list) else "results"
    records = read_json(results) if not isinstance(results, list) else results
    records = check_coco_results(records, gt, info.num_joints, where)
    return coco_keypoint_metrics(gt, records, info.sigmas, crowdpose=info.name == "CROWDPOSE")


def evaluate_coco(
    annotation: str | Path | COCO,
    predictions: PosePredictions,
    dataset: str = "COCO",
    *,
    nms: str = "oks",
    nms_threshold: float = 0.9,
    keypoint_threshold: float = 0.2,
    results_file: str | Path | None = None,
) -> dict[str, float]:
    """Score, OKS-NMS, write the COCO results JSON, and evaluate: MMPose ``CocoMetric``'s pipeline.

    Args:
        annotation: ground-truth file (or a loaded ``COCO``).
        predictions: every person prediction, keypoints in image pixels.
        dataset: ``COCO``, ``CROWDPOSE`` or ``POSETRACK18`` (merged COCO-style file).
        nms: ``"oks"``, ``"soft"`` or ``"none"`` (see :func:`select_instances`).
        nms_threshold: OKS-NMS threshold.
        keypoint_threshold: joint-score threshold of the instance score.
        results_file: where to write the results JSON (atomically); not written when ``None``.

    Returns:
        The metrics of :func:`coco_keypoint_metrics`.

    Raises:
        ValueError: predictions with the wrong joint count, non-finite values or unknown image ids.
    """
    info = get_dataset_info(dataset)
    gt = annotation if isinstance(annotation, COCO) else load_coco_ground_truth(annotation, info.name)
    predictions.check(info.num_joints, set(gt.getImgIds()), where="predictions")
    kept, scores = select_instances(
        predictions, info.sigmas, nms=nms, nms_threshold=nms_threshold, keypoint_threshold=keypoint_threshold
    )
    results = coco_results(kept, scores)
    if results_file is not None:
        write_json_atomic(results_file, results)
    return coco_keypoint_metrics(gt, results, info.sigmas, crowdpose=info.name == "CROWDPOSE")
