"""PoseTrack18 AP (poseval reimplementation) on the real per-video files, with hand-derived expected values.

Conventions used in the comments: poseval has 15 joints (the ears are dropped). In video 009473 person 0
(track 0) has 14 of them (no left elbow) and person 1 all 15, so every joint has 2 ground-truth instances except
the left elbow (1). AP is VOC all-point AP in percent; Total is the mean over the 15 joints.
Head sizes: 0.6 × diag(138, 103) = 103.3 px and 0.6 × diag(90, 125) = 92.4 px, so a joint is correct within
51.7 px (person 0) or 46.2 px (person 1).
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from matplotlib.path import Path as Polygon
from samples import REAL

from vipnas.evaluation import PosePredictions, evaluate_coco, evaluate_posetrack, evaluate_posetrack_folder

SAMPLES = REAL / "posetrack18" / "annotations"
VIDEOS = SAMPLES / "val"
VIDEO = "009473_mpii_test.json"
NOSE, L_ELBOW, R_WRIST = 0, 7, 10  # slots of the 17-joint COCO layout the files use


def _load(name: str = VIDEO) -> dict:
    return json.loads((VIDEOS / name).read_text())


def _perfect(gt: dict, score: float = 1.0) -> dict:
    """Predictions equal to the ground truth; unannotated joints written as (0, 0, 0) so poseval drops them."""
    annotations = []
    for track, ann in enumerate(gt["annotations"]):
        points = np.asarray(ann["keypoints"], float).reshape(17, 3)
        present = ~(points == 0).all(axis=1)
        points[present, 2] = score
        annotations.append(
            {
                "image_id": ann["image_id"],
                "track_id": track,
                "keypoints": points.reshape(-1).tolist(),
                "scores": np.where(present, score, 0.0).tolist(),
            }
        )
    images = [{"id": image["id"], "file_name": image["file_name"]} for image in gt["images"]]
    return {"images": images, "annotations": annotations, "categories": gt["categories"]}


def _person_at(image_id: int, track: int, xy: tuple[float, float], score: float) -> dict:
    points = np.tile([xy[0], xy[1], score], (17, 1))
    return {"image_id": image_id, "track_id": track, "keypoints": points.reshape(-1).tolist(), "scores": [score] * 17}


def _set_joint(ann: dict, slot: int, xy: tuple[float, float] | None) -> None:
    values = ann["keypoints"]
    values[3 * slot : 3 * slot + 3] = [0, 0, 0] if xy is None else [xy[0], xy[1], values[3 * slot + 2] or 1]
    if "scores" in ann and xy is None:
        ann["scores"][slot] = 0.0


def _evaluate(tmp_path: Path, gt: dict, pred: dict, name: str = VIDEO) -> dict:
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir(exist_ok=True)
    pred_dir.mkdir(exist_ok=True)
    (gt_dir / name).write_text(json.dumps(gt))
    (pred_dir / name).write_text(json.dumps(pred))
    return evaluate_posetrack_folder(gt_dir, pred_dir)


def test_perfect_predictions_on_all_real_videos(tmp_path: Path) -> None:
    # 003418's right knee lies inside an ignore region: removed from ground truth and prediction alike.
    pred_dir = tmp_path / "pred"
    pred_dir.mkdir()
    for path in VIDEOS.glob("*.json"):
        (pred_dir / path.name).write_text(json.dumps(_perfect(json.loads(path.read_text()))))
    metrics = evaluate_posetrack_folder(VIDEOS, pred_dir)
    assert metrics["Total"] == 100.0
    assert all(metrics[name] == 100.0 for name in ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle"))
    assert set(metrics["joint_ap"]) >= {"head_top", "head_bottom", "nose"} and "left_ear" not in metrics["joint_ap"]


def test_one_missing_joint(tmp_path: Path) -> None:
    gt = _load()
    pred = _perfect(gt)
    _set_joint(pred["annotations"][1], NOSE, None)
    metrics = _evaluate(tmp_path, gt, pred)
    # nose: 2 GT, 1 TP → recall 0.5 at precision 1 → AP 50; the 14 other joints 100
    assert metrics["joint_ap"]["nose"] == pytest.approx(50.0)
    assert metrics["Head"] == pytest.approx((100 + 100 + 50) / 3)
    assert metrics["Total"] == pytest.approx((14 * 100 + 50) / 15)  # 96.67, mean over joints, not over groups


def test_false_positive_person(tmp_path: Path) -> None:
    gt = _load()
    image_id = gt["images"][0]["id"]
    pred = _perfect(gt, score=0.5)
    # all joints at (800, 1000): ≥ 167 px from any GT joint, outside both ignore regions → matches nobody
    pred["annotations"].append(_person_at(image_id, 2, (800, 1000), score=1.0))
    metrics = _evaluate(tmp_path, gt, pred)
    # ranked first, the FP gives precisions 0, 1/2, 2/3 at recalls 0, .5, 1 → AP = 2/3 (joints with 2 GT),
    # and 0, 1/2 at recalls 0, 1 → AP = 1/2 (left elbow, 1 GT)
    assert metrics["joint_ap"]["nose"] == pytest.approx(200 / 3)
    assert metrics["joint_ap"]["left_elbow"] == pytest.approx(50.0)
    assert metrics["Elbow"] == pytest.approx((200 / 3 + 50) / 2)
    assert metrics["Total"] == pytest.approx((14 * 200 / 3 + 50) / 15)  # 65.56
    # ranked last, the same false positive costs nothing: precision is 1 up to full recall
    pred["annotations"][-1] = _person_at(image_id, 2, (800, 1000), score=0.1)
    assert _evaluate(tmp_path, gt, pred)["Total"] == pytest.approx(100.0)


def test_joints_inside_ignore_regions(tmp_path: Path) -> None:
    gt = _load()
    image = gt["images"][0]
    regions = [Polygon(np.c_[x, y]) for x, y in zip(image["ignore_regions_x"], image["ignore_regions_y"], strict=True)]
    assert regions[0].contains_point((1500, 400)) and regions[0].contains_point((1450, 420))
    assert regions[1].contains_point((300, 300))
    pred = _perfect(gt)
    # a GT joint inside a region (person 1's right wrist) and its prediction, 54 px away (a miss if counted),
    # inside the same region: both are removed, the remaining right wrist is found → everything 100
    moved = copy.deepcopy(gt)
    _set_joint(moved["annotations"][1], R_WRIST, (1500, 400))
    _set_joint(pred["annotations"][1], R_WRIST, (1450, 420))
    assert _evaluate(tmp_path, moved, pred)["Total"] == pytest.approx(100.0)
    # a predicted joint inside a region (person 0's nose at (300, 300)) is removed → a missing nose: AP 50
    pred = _perfect(gt)
    _set_joint(pred["annotations"][0], NOSE, (300, 300))
    metrics = _evaluate(tmp_path, gt, pred)
    assert metrics["joint_ap"]["nose"] == pytest.approx(50.0)
    assert metrics["Total"] == pytest.approx((14 * 100 + 50) / 15)


def test_unlabelled_frame_is_not_evaluated(tmp_path: Path) -> None:
    gt = _load()
    frame = dict(gt["images"][0], id=gt["images"][0]["id"] + 1, is_labeled=False)
    frame["file_name"] = frame["file_name"].replace("000000.jpg", "000001.jpg")
    gt["images"].append(frame)  # a second frame, without annotations
    pred = _perfect(gt)
    # a confident false positive on the unlabelled frame: would cost as in test_false_positive_person if counted
    pred["annotations"].append(_person_at(frame["id"], 0, (800, 1000), score=1.0))
    assert _evaluate(tmp_path, gt, pred)["Total"] == pytest.approx(100.0)


def test_bad_prediction_files_are_named_errors(tmp_path: Path) -> None:
    gt = _load()
    with pytest.raises(FileNotFoundError, match=r"009473_mpii_test\.json"):
        (tmp_path / "gt").mkdir()
        (tmp_path / "gt" / VIDEO).write_text(json.dumps(gt))
        (tmp_path / "empty").mkdir()
        evaluate_posetrack_folder(tmp_path / "gt", tmp_path / "empty")
    pred = _perfect(gt)
    pred["images"][0]["id"] = 10094739999
    for ann in pred["annotations"]:
        ann["image_id"] = 10094739999
    with pytest.raises(ValueError, match=r"images\[0\] has id 10094739999, ground truth has 10094730000"):
        _evaluate(tmp_path, gt, pred)
    pred = _perfect(gt)
    pred["annotations"][0]["keypoints"] = pred["annotations"][0]["keypoints"][:48]
    with pytest.raises(ValueError, match=r"annotations\[0\].*48 keypoint values, expected 51"):
        _evaluate(tmp_path, gt, pred)
    pred = _perfect(gt)
    pred["annotations"][1]["keypoints"][4] = float("nan")
    with pytest.raises(ValueError, match=r"annotations\[1\].*non-finite"):
        _evaluate(tmp_path, gt, pred)
    pred = _perfect(gt)
    pred["annotations"][1]["track_id"] = 0
    with pytest.raises(ValueError, match="track_id 0 repeats"):
        _evaluate(tmp_path, gt, pred)
    pred = _perfect(gt)
    pred["annotations"][1]["image_id"] = 5
    with pytest.raises(ValueError, match="image id 5 is not among the file's images"):
        _evaluate(tmp_path, gt, pred)


def _ground_truth_predictions(files: list[Path]) -> PosePredictions:
    ids, points, scores = [], [], []
    for path in files:
        for ann in json.loads(path.read_text())["annotations"]:
            values = np.asarray(ann["keypoints"], float).reshape(17, 3)
            ids.append(ann["image_id"])
            points.append(values[:, :2])
            scores.append((~(values == 0).all(axis=1)).astype(float))
    count = len(ids)
    return PosePredictions(
        ids, np.stack(points), np.stack(scores), np.ones(count), np.full(count, 4e4), np.arange(count)
    )


def test_writer_keeps_original_ids_and_round_trips(tmp_path: Path) -> None:
    files = sorted(VIDEOS.glob("*.json"))
    predictions = _ground_truth_predictions(files)
    metrics = evaluate_posetrack(VIDEOS, predictions, tmp_path / "out")
    assert metrics["Total"] == pytest.approx(100.0)
    for path in files:
        written = json.loads((tmp_path / "out" / path.name).read_text())
        assert [image["id"] for image in written["images"]] == [image["id"] for image in _load(path.name)["images"]]
        assert all(len(str(ann["image_id"])) == 11 for ann in written["annotations"])
    unknown = predictions.subset(np.arange(len(predictions)))
    unknown.image_ids[0] = 10000000001
    with pytest.raises(ValueError, match="10000000001"):
        evaluate_posetrack(VIDEOS, unknown, tmp_path / "bad")


def test_merged_coco_style_file_gives_coco_ap(tmp_path: Path) -> None:
    # the merged file has no 'area': the evaluator estimates 0.53 × box area, as for CrowdPose
    predictions = _ground_truth_predictions([SAMPLES / "test_posetrack18_val.json"])
    assert evaluate_coco(SAMPLES / "test_posetrack18_val.json", predictions, "POSETRACK18")["AP"] == 1.0


def test_folder_of_one_video(tmp_path: Path) -> None:
    shutil.copy(VIDEOS / VIDEO, tmp_path / VIDEO)
    (tmp_path / "pred").mkdir()
    (tmp_path / "pred" / VIDEO).write_text(json.dumps(_perfect(_load())))
    assert evaluate_posetrack_folder(tmp_path / VIDEO, tmp_path / "pred")["Total"] == 100.0
