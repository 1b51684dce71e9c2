"""Evaluation: flip test, instance scoring and OKS-NMS, COCO / CrowdPose / PoseTrack18 / MPII metrics.

Every metric takes arrays (:class:`PosePredictions`: keypoints in image pixels, scores, image ids, areas) and the
dataset's own ground-truth files, so it runs without the data loader; :func:`run_inference` produces those arrays
from a model and a loader. Only ``run_inference`` needs torch (imported on first use).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vipnas.evaluation.coco import (
    COCO_METRICS,
    CROWDPOSE_METRICS,
    coco_keypoint_metrics,
    coco_results,
    evaluate_coco,
    evaluate_coco_results,
    load_coco_ground_truth,
)
from vipnas.evaluation.flip import flip_heatmaps, flip_test
from vipnas.evaluation.instances import (
    PosePredictions,
    instance_scores,
    keypoints_to_image,
    oks_iou,
    oks_nms,
    select_instances,
    soft_oks_nms,
)
from vipnas.evaluation.mpii import MPII_METRICS, evaluate_mpii, mpii_pckh
from vipnas.evaluation.posetrack import (
    POSETRACK_METRICS,
    evaluate_posetrack,
    evaluate_posetrack_folder,
    posetrack_joint_ap,
    write_posetrack_predictions,
)

if TYPE_CHECKING:
    from vipnas.evaluation.inference import run_inference

__all__ = [
    "COCO_METRICS",
    "CROWDPOSE_METRICS",
    "MPII_METRICS",
    "POSETRACK_METRICS",
    "PosePredictions",
    "coco_keypoint_metrics",
    "coco_results",
    "evaluate_coco",
    "evaluate_coco_results",
    "evaluate_mpii",
    "evaluate_posetrack",
    "evaluate_posetrack_folder",
    "flip_heatmaps",
    "flip_test",
    "instance_scores",
    "keypoints_to_image",
    "load_coco_ground_truth",
    "mpii_pckh",
    "oks_iou",
    "oks_nms",
    "posetrack_joint_ap",
    "run_inference",
    "select_instances",
    "soft_oks_nms",
    "write_posetrack_predictions",
]


def __getattr__(name: str) -> Any:
    if name == "run_inference":
        from vipnas.evaluation.inference import run_inference

        return run_inference
    raise AttributeError(f"module 'vipnas.evaluation' has no attribute {name!r}")
