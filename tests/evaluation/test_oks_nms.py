"""OKS and (soft) OKS-NMS: duplicates go, distinct people stay."""

from __future__ import annotations

import numpy as np

from vipnas.data.metadata import COCO
from vipnas.evaluation import PosePredictions, oks_iou, oks_nms, select_instances, soft_oks_nms

SIGMAS = np.asarray(COCO.sigmas)


def _person(offset_x: float, rng: np.random.Generator) -> np.ndarray:
    return np.c_[rng.uniform(0, 100, 17) + offset_x, rng.uniform(0, 200, 17)]


def test_oks_iou_by_hand() -> None:
    pose = np.zeros((17, 2))
    shifted = pose + np.array([3.0, 4.0])  # distance 5 on every joint
    area = 100.0
    expected = np.mean(np.exp(-25 / (2 * area * (2 * SIGMAS) ** 2)))
    np.testing.assert_allclose(oks_iou(pose, shifted[None], area, np.array([area]), SIGMAS), [expected])
    assert oks_iou(pose, pose[None], area, np.array([area]), SIGMAS)[0] == 1.0


def test_nms_removes_duplicate_and_keeps_distinct_person() -> None:
    rng = np.random.default_rng(0)
    first, other = _person(0, rng), _person(400, rng)
    duplicate = first + rng.normal(0, 0.5, first.shape)  # OKS ≈ 1 with the first
    keypoints = np.stack([duplicate, first, other])
    scores = np.array([0.8, 0.9, 0.5])
    areas = np.full(3, 200.0 * 150.0)
    keep = oks_nms(keypoints, scores, areas, SIGMAS, threshold=0.9)
    assert keep.tolist() == [1, 2]  # best first; the lower-scored duplicate is gone, the far person stays
    # a looser pose (OKS below 0.9) is not a duplicate
    loose = first + rng.normal(0, 25, first.shape)
    assert oks_iou(first, loose[None], areas[0], areas[:1], SIGMAS)[0] < 0.9
    assert len(oks_nms(np.stack([first, loose]), np.array([0.9, 0.8]), areas[:2], SIGMAS)) == 2


def test_soft_nms_decays_duplicate_instead_of_removing_it() -> None:
    rng = np.random.default_rng(1)
    first, other = _person(0, rng), _person(400, rng)
    keypoints = np.stack([first, first + 0.1, other])
    keep, scores = soft_oks_nms(keypoints, np.array([0.9, 0.85, 0.5]), np.full(3, 3e4), SIGMAS, threshold=0.9)
    assert keep.tolist() == [0, 2, 1]  # the duplicate drops below the distinct person
    overlap = oks_iou(first, (first + 0.1)[None], 3e4, np.array([3e4]), SIGMAS)[0]
    np.testing.assert_allclose(scores, [0.9, 0.5, 0.85 * np.exp(-(overlap**2) / 0.9)])
    assert len(soft_oks_nms(np.repeat(first[None], 30, 0), np.linspace(1, 0.1, 30), np.full(30, 1e4), SIGMAS)[0]) == 20


def test_select_instances_runs_nms_per_image() -> None:
    rng = np.random.default_rng(2)
    pose = _person(0, rng)
    predictions = PosePredictions(
        image_ids=[7, 3, 7],  # the same pose in two images is not a duplicate across images
        keypoints=np.stack([pose, pose, pose + 0.2]),
        keypoint_scores=np.array([np.full(17, 0.9), np.full(17, 0.9), np.full(17, 0.5)]),
        box_scores=[1.0, 1.0, 1.0],
        areas=[3e4, 3e4, 3e4],
        annotation_ids=[0, 1, 2],
    )
    kept, scores = select_instances(predictions, SIGMAS)
    assert kept.annotation_ids.tolist() == [1, 0] and kept.image_ids.tolist() == [3, 7]
    np.testing.assert_allclose(scores, [0.9, 0.9])
    assert len(select_instances(predictions, SIGMAS, nms="none")[0]) == 3
