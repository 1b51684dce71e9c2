"""One entry point per use: evaluate predictions of any dataset, or a model end to end (CLI and ``--validate``)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from vipnas.data.files import read_json, write_json_atomic
from vipnas.data.metadata import MPII, get_dataset_info
from vipnas.evaluation.coco import evaluate_coco, evaluate_coco_results
from vipnas.evaluation.instances import PosePredictions
from vipnas.evaluation.mpii import evaluate_mpii
from vipnas.evaluation.posetrack import evaluate_posetrack, evaluate_posetrack_folder

__all__ = [
    "evaluate_model",
    "evaluate_predictions",
    "evaluate_predictions_file",
    "load_ground_truth",
    "read_mpii_predictions",
    "write_mpii_predictions",
]


def evaluate_predictions(
    dataset: str,
    annotation: str | Path,
    predictions: PosePredictions,
    *,
    out_dir: str | Path | None = None,
    head_boxes: str | Path | None = None,
    nms: str = "oks",
    nms_threshold: float = 0.9,
    keypoint_threshold: float = 0.2,
) -> dict[str, Any]:
    """Evaluate in-memory predictions with the dataset's official protocol, writing the results files to ``out_dir``.

    Args:
        dataset: ``COCO``, ``CROWDPOSE``, ``POSETRACK`` (a folder of per-video files → poseval AP; the merged
            COCO-style file → COCO AP with PoseTrack sigmas) or ``MPII``.
        annotation: ground-truth file or folder.
        predictions: keypoints in image pixels with ids (see :class:`PosePredictions`).
        out_dir: results files go here (``keypoints.json`` for COCO-style, per-video files for PoseTrack18); a
            temporary folder for PoseTrack18 when ``None``.
        head_boxes: MPII ``mpii_gt_val.mat`` or JSON head boxes.
        nms, nms_threshold, keypoint_threshold: instance scoring and NMS (not used by MPII).

    Returns:
        Metrics keyed by name (``AP``...; ``Head`` ... ``Total``; ``PCKh``, ``PCKh@0.1``).
    """
    info = get_dataset_info(dataset)
    if info.name == "MPII":
        metrics = evaluate_mpii(annotation, predictions, head_boxes)
        if out_dir is not None:
            write_mpii_predictions(Path(out_dir) / "mpii_predictions.json", annotation, predictions)
        return metrics
    if info.name == "POSETRACK18" and Path(annotation).is_dir():
        if out_dir is None:
            with tempfile.TemporaryDirectory(prefix="vipnas-posetrack-") as folder:
                return evaluate_posetrack(
                    annotation, predictions, folder, nms=nms, nms_threshold=nms_threshold,
                    keypoint_threshold=keypoint_threshold,
                )  # fmt: skip
        return evaluate_posetrack(
            annotation, predictions, Path(out_dir) / "posetrack_predictions", nms=nms, nms_threshold=nms_threshold,
            keypoint_threshold=keypoint_threshold,
        )  # fmt: skip
    results_file = Path(out_dir) / "keypoints.json" if out_dir is not None else None
    return evaluate_coco(
        annotation, predictions, info.name, results_file=results_file, nms=nms, nms_threshold=nms_threshold,
        keypoint_threshold=keypoint_threshold,
    )  # fmt: skip


def write_mpii_predictions(path: str | Path, annotation: str | Path, predictions: PosePredictions) -> None:
    """Write MPII predictions in record order as ``[{"image", "keypoints": [[x, y, score], ...]}]`` (atomically)."""
    records = read_json(annotation)
    order = np.argsort(predictions.annotation_ids)
    triples = np.concatenate([predictions.keypoints, predictions.keypoint_scores[..., None]], axis=-1)[order]
    entries = [
        {"image": records[int(i)]["image"], "keypoints": points.tolist()}
        for i, points in zip(predictions.annotation_ids[order], triples, strict=True)
    ]
    write_json_atomic(path, entries)


def read_mpii_predictions(path: str | Path, annotation: str | Path) -> PosePredictions:
    """Read MPII predictions: a JSON list with one ``{"image", "keypoints"}`` per annotation record, in order;
    ``keypoints`` are 16 ``[x, y]`` or ``[x, y, score]`` in 0-based image pixels (nested or flat).

    Raises:
        ValueError: wrong record count, joint count, image name or non-finite values (naming the record).
    """
    entries, records = read_json(path), read_json(annotation)
    if not isinstance(entries, list) or len(entries) != len(records):
        raise ValueError(f"{path}: expected a JSON list of {len(records)} predictions, one per record of {annotation}")
    points = []
    for index, (entry, record) in enumerate(zip(entries, records, strict=True)):
        where = f"{path}: record {index}"
        if not isinstance(entry, dict) or "keypoints" not in entry:
            raise ValueError(f"{where}: needs 'keypoints'")
        if "image" in entry and entry["image"] != record.get("image"):
            raise ValueError(f"{where}: image {entry['image']!r}, the annotation record has {record.get('image')!r}")
        values = np.asarray(entry["keypoints"], dtype=np.float64).reshape(-1)
        if values.size not in (2 * MPII.num_joints, 3 * MPII.num_joints):
            raise ValueError(f"{where}: {values.size} keypoint values, expected 16 joints as [x, y] or [x, y, score]")
        points.append(values.reshape(MPII.num_joints, -1))
    keypoints = np.stack([p[:, :2] for p in points]) if points else np.zeros((0, MPII.num_joints, 2))
    scores = np.stack([p[:, 2] if p.shape[1] == 3 else np.ones(MPII.num_joints) for p in points]) if points else None
    count = len(points)
    return PosePredictions(
        image_ids=np.zeros(count),
        keypoints=keypoints,
        keypoint_scores=scores if scores is not None else np.zeros((0, MPII.num_joints)),
        box_scores=np.ones(count),
        areas=np.ones(count),
        annotation_ids=np.arange(count),
    )


def evaluate_predictions_file(
    dataset: str, annotation: str | Path, predictions: str | Path, *, head_boxes: str | Path | None = None
) -> dict[str, Any]:
    """Evaluate an existing predictions file as it is (no rescoring, no NMS): a COCO results JSON (COCO,
    CrowdPose, merged PoseTrack18), a folder (or file) of PoseTrack18 per-video files, or MPII predictions."""
    info = get_dataset_info(dataset)
    if not Path(predictions).exists():
        raise FileNotFoundError(f"predictions {predictions} do not exist")
    if info.name == "MPII":
        return evaluate_mpii(annotation, read_mpii_predictions(predictions, annotation), head_boxes)
    if info.name == "POSETRACK18" and (Path(annotation).is_dir() or Path(predictions).is_dir()):
        return evaluate_posetrack_folder(annotation, predictions)
    return evaluate_coco_results(annotation, predictions, info.name)


def load_ground_truth(dataset: str, annotation: str | Path, images: str | Path) -> Any:
    """The person instances of a dataset's ground truth: a COCO-style file (COCO, CrowdPose, SynthPose, PoseTrack18
    merged), a PoseTrack18 per-video folder, or an MPII JSON."""
    from vipnas.data.coco import load_coco
    from vipnas.data.mpii import load_mpii
    from vipnas.data.posetrack import load_posetrack_videos

    info = get_dataset_info(dataset)
    if info.name == "MPII":
        return load_mpii(annotation, images)
    if info.name == "POSETRACK18" and Path(annotation).is_dir():
        return load_posetrack_videos(annotation, images)
    return load_coco(annotation, images, info)


def evaluate_model(
    model: Any,
    dataset: str,
    annotation: str | Path,
    images: str | Path,
    *,
    det_boxes: str | Path | None = None,
    det_score_threshold: float = 0.0,
    flip: bool = True,
    codec: str | None = None,
    out_dir: str | Path | None = None,
    head_boxes: str | Path | None = None,
    nms: str = "oks",
    batch_size: int = 32,
    workers: int = 0,
    device: str = "cpu",
    progress: bool = False,
) -> tuple[dict[str, Any], PosePredictions]:
    """Run a model over a dataset's test crops (ground-truth or detector boxes) and evaluate it.

    Args:
        model: network with ``metadata`` (``input_size`` (h, w), ``mean``, ``std``).
        dataset: ``COCO``, ``CROWDPOSE``, ``POSETRACK`` or ``MPII``.
        annotation: ground truth: COCO-style file, PoseTrack18 per-video folder, MPII JSON.
        images: image root the annotation's file names are relative to.
        det_boxes: detector results ``[{image_id, bbox, score}]``; ground-truth boxes when ``None``.
        det_score_threshold: drop detections scoring below it.
        flip: flip test.
        codec: ``msra``, ``dark`` or ``udp`` (crop affine and decoding); default: what ``model.metadata.codec``
            records (``msra`` when it records none), with its ``sigma``.
        out_dir, head_boxes, nms: see :func:`evaluate_predictions` (``nms``: ``oks``, ``soft`` or ``none``).
        batch_size, workers, device, progress: inference settings.

    Returns:
        The metrics and the raw predictions.
    """
    from vipnas.codec import UDPHeatmap, codec_for_model
    from vipnas.data.coco import load_detections
    from vipnas.data.dataset import TopDownDataset, build_loader
    from vipnas.evaluation.inference import run_inference

    info = get_dataset_info(dataset)
    if nms not in ("oks", "soft", "none"):  # before the inference, not after it
        raise ValueError(f"nms must be one of 'oks', 'soft', 'none', got {nms!r}")
    annotations = load_ground_truth(dataset, annotation, images)
    if det_boxes is not None:
        annotations = load_detections(det_boxes, annotations, score_threshold=det_score_threshold)
    metadata = model.metadata
    if metadata.num_joints != info.num_joints:
        raise ValueError(f"model predicts {metadata.num_joints} joints, {info.name} has {info.num_joints}")
    decoder = codec_for_model(metadata, codec)
    height, width = metadata.input_size
    udp = isinstance(decoder, UDPHeatmap)  # UDP decodes only crops made with its affine
    crops = TopDownDataset(annotations, input_size=(width, height), udp=udp, mean=metadata.mean, std=metadata.std)
    if len(crops) == 0:
        boxes = f" with the detections of {det_boxes} (score >= {det_score_threshold})" if det_boxes else ""
        raise ValueError(f"{annotation}{boxes}: no person instance to evaluate (every instance was filtered out)")
    loader = build_loader(crops, batch_size=batch_size, num_workers=workers)
    predictions = run_inference(model, loader, flip=flip, codec=decoder, device=device, progress=progress)
    metrics = evaluate_predictions(info.name, annotation, predictions, out_dir=out_dir, head_boxes=head_boxes, nms=nms)
    return metrics, predictions
