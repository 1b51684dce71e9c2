"""PoseTrack18 tracking metrics (poseval ``evaluateTracking`` reimplementation) on hand-built videos.

Conventions of the scenarios: every person has all 15 poseval joints (the two ear slots of the file's 17 are
``(0, 0, 0)``), joint slot ``s`` at ``(x + 10 s, y + 5 s)``, and a 30 × 40 head box: head size 0.6 × 50 = 30 px, so
two joints pair within 15 px (distance / head size <= 0.5). Person A starts at x = 0, B at x = 1000, both moving
20 px a frame. Videos have 4 labelled frames; poseval leaves out the last labelled frame of each video, so 3 are
evaluated and each joint has 2 × 3 = 6 ground-truth objects.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from samples import REAL

from vipnas.data.metadata import POSETRACK18
from vipnas.evaluation.posetrack import POSEVAL_JOINTS
from vipnas.evaluation.tracking import MotCounts, evaluate_posetrack_tracking, posetrack_tracking_counts

VIDEOS = REAL / "posetrack18" / "annotations" / "val"
NAME = "000001_mpii_test.json"
SLOTS = list(POSETRACK18.joint_names)
JOINT = {name: index for index, name in enumerate(POSEVAL_JOINTS)}
A_X, B_X, STEP = 0.0, 1000.0, 20.0

Frame = list[dict[str, Any]]  # the person annotations of one frame (no image ids yet)


def _person(track: int, x: float, y: float = 0.0, *, only: tuple[str, ...] = (), drop: tuple[str, ...] = ()) -> dict:
    """A person annotation at (x, y); ``only`` keeps just these joints, ``drop`` removes these."""
    keypoints = []
    for slot, name in enumerate(SLOTS):
        absent = name.endswith("_ear") or name in drop or (only and name not in only)
        keypoints += [0.0, 0.0, 0.0] if absent else [x + 10.0 * slot, y + 5.0 * slot, 1.0]
    return {"track_id": track, "keypoints": keypoints, "bbox_head": [x, y, 30.0, 40.0], "scores": [1.0] * 17}


def _two_people(frames: int = 4, tracks: tuple[int, int] = (0, 1)) -> list[Frame]:
    """A and B walking right, ``frames`` labelled frames."""
    return [[_person(tracks[0], A_X + STEP * t), _person(tracks[1], B_X + STEP * t)] for t in range(frames)]


def _video(frames: list[Frame], regions: dict[int, list[list[float]]] | None = None) -> dict:
    """A PoseTrack18 per-video file; ``regions`` maps a frame index to ignore squares ``[x0, y0, x1, y1]``."""
    images, annotations = [], []
    for index, persons in enumerate(frames):
        image = {"id": 1000 + index, "file_name": f"images/val/000001_mpii_test/{index:06d}.jpg"}
        squares = (regions or {}).get(index, [])
        if squares:
            image["ignore_regions_x"] = [[x0, x1, x1, x0] for x0, _, x1, _ in squares]
            image["ignore_regions_y"] = [[y0, y0, y1, y1] for _, y0, _, y1 in squares]
        images.append(image)
        for person in persons:
            annotations.append({**copy.deepcopy(person), "image_id": image["id"], "id": len(annotations)})
    return {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person", "keypoints": SLOTS}],
    }


def _write(folder: Path, data: dict, name: str = NAME) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(data))
    return folder / name


def _run(
    tmp_path: Path, gt: list[Frame], pred: list[Frame], regions: dict | None = None
) -> tuple[MotCounts, dict[str, float]]:
    _write(tmp_path / "gt", _video(gt, regions))
    _write(tmp_path / "pred", _video(pred))
    return posetrack_tracking_counts(tmp_path / "gt", tmp_path / "pred"), evaluate_posetrack_tracking(
        tmp_path / "gt", tmp_path / "pred"
    )


def _assert_all_joints(metrics: dict[str, float], metric: str, value: float) -> None:
    assert [metrics[f"{metric}_{name}"] for name in POSEVAL_JOINTS] == pytest.approx([value] * 15)


def test_perfect_tracking_scores_100_with_any_track_ids(tmp_path: Path) -> None:
    counts, metrics = _run(tmp_path, _two_people(), _two_people(tracks=(7, 3)))
    assert counts.objects.tolist() == [6] * 15 and counts.matches.tolist() == [6] * 15
    assert counts.switches.sum() == counts.misses.sum() == counts.false_positives.sum() == 0
    for metric in ("MOTA", "MOTP", "Precision", "Recall"):
        for group in ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Total"):
            assert metrics[f"{metric}_{group}"] == pytest.approx(100.0)


def test_identity_change_of_a_whole_person_is_one_switch_per_joint(tmp_path: Path) -> None:
    pred = _two_people()
    for frame in pred[1:]:
        frame[0]["track_id"] = 9  # A's track id changes from frame 1 on: one switch, then matches again
    pred[1][0] = _person(9, A_X + STEP + 3.0)  # 3 px off at the switch: distance 0.1
    counts, metrics = _run(tmp_path, _two_people(), pred)
    assert counts.switches.tolist() == [1] * 15 and counts.matches.tolist() == [5] * 15
    _assert_all_joints(metrics, "MOTA", 100 * (1 - 1 / 6))
    assert metrics["MOTA_Total"] == pytest.approx(100 * (1 - 1 / 6))
    assert metrics["Precision_Total"] == metrics["Recall_Total"] == pytest.approx(100.0)  # a switch is a detection
    # The switch to a never-seen track adds motmetrics' ASCEND event: its distance is summed three times (RAW,
    # ASCEND, SWITCH).
    assert counts.distance_sum == pytest.approx([0.3] * 15)
    assert metrics["MOTP_Total"] == pytest.approx(100 * (1 - 0.3 / 6))


def test_identity_switch_on_one_joint(tmp_path: Path) -> None:
    # Frame 2: A's right wrist is predicted by another track (9) than the rest of A (0).
    pred = _two_people()
    pred[2][0] = _person(0, A_X + 2 * STEP, drop=("right_wrist",))
    pred[2].append(_person(9, A_X + 2 * STEP, only=("right_wrist",)))
    counts, metrics = _run(tmp_path, _two_people(), pred)
    wrist = 100 * (1 - 1 / 6)
    assert counts.switches[JOINT["right_wrist"]] == 1 and counts.switches.sum() == 1
    assert metrics["MOTA_right_wrist"] == pytest.approx(wrist)
    assert metrics["MOTA_Wrist"] == pytest.approx((wrist + 100) / 2)
    assert metrics["MOTA_Total"] == pytest.approx((14 * 100 + wrist) / 15)
    assert metrics["MOTA_Elbow"] == metrics["MOTA_Head"] == pytest.approx(100.0)


def test_switch_in_the_last_labelled_frame_and_unlabelled_frames_are_not_counted(tmp_path: Path) -> None:
    gt = [*_two_people(), []]  # a fifth, unlabelled frame
    pred = _two_people()
    pred[3][0]["track_id"] = 9  # a switch in the last labelled frame: poseval never looks at that frame
    pred.append([_person(5, 4000.0), _person(6, 5000.0)])  # predictions in an unlabelled frame: ignored
    counts, metrics = _run(tmp_path, gt, pred)
    assert counts.objects.tolist() == [6] * 15
    assert counts.switches.sum() == counts.false_positives.sum() == 0
    assert metrics["MOTA_Total"] == pytest.approx(100.0)


def test_unlabelled_frame_between_labelled_ones_keeps_the_tracks(tmp_path: Path) -> None:
    gt = _two_people(5)
    gt[1] = []  # frames 0, 2, 3 are evaluated, 4 is the last labelled
    pred = _two_people(5)
    pred[1] = [_person(5, 4000.0)]  # ignored
    for frame in pred[2:]:
        frame[0]["track_id"] = 9  # a switch between frames 0 and 2, across the unlabelled frame
    counts, metrics = _run(tmp_path, gt, pred)
    assert counts.objects.tolist() == [6] * 15 and counts.switches.tolist() == [1] * 15
    assert counts.false_positives.sum() == 0
    assert metrics["MOTA_Total"] == pytest.approx(100 * (1 - 1 / 6))


def test_missed_person_is_a_miss_per_joint(tmp_path: Path) -> None:
    pred = _two_people()
    del pred[1][1]  # B is not predicted in frame 1
    counts, metrics = _run(tmp_path, _two_people(), pred)
    assert counts.misses.tolist() == [1] * 15 and counts.objects.tolist() == [6] * 15
    assert metrics["MOTA_Total"] == pytest.approx(100 * (1 - 1 / 6))
    assert metrics["Recall_Total"] == pytest.approx(100 * 5 / 6)
    assert metrics["Precision_Total"] == pytest.approx(100.0)


def test_dropped_joint_is_a_miss_of_that_joint_only(tmp_path: Path) -> None:
    pred = _two_people()
    pred[0][0] = _person(0, A_X, drop=("left_knee",))
    counts, metrics = _run(tmp_path, _two_people(), pred)
    assert counts.misses[JOINT["left_knee"]] == 1 and counts.misses.sum() == 1
    assert metrics["MOTA_left_knee"] == pytest.approx(100 * (1 - 1 / 6))
    assert metrics["MOTA_Knee"] == pytest.approx((100 * (1 - 1 / 6) + 100) / 2)


def test_frame_without_predictions_is_poseval_placeholder(tmp_path: Path) -> None:
    # poseval replaces a frame without predictions by one unpairable object and hypothesis per joint: one object,
    # one miss and one false positive, not the frame's two persons.
    pred = _two_people()
    pred[1] = []
    counts, metrics = _run(tmp_path, _two_people(), pred)
    assert counts.objects.tolist() == [5] * 15
    assert counts.misses.tolist() == counts.false_positives.tolist() == [1] * 15
    assert metrics["MOTA_Total"] == pytest.approx(100 * (1 - 2 / 5))
    assert metrics["Precision_Total"] == metrics["Recall_Total"] == pytest.approx(100 * 4 / 5)


def test_false_positive_person(tmp_path: Path) -> None:
    pred = _two_people()
    pred[0].append(_person(5, 3000.0, 500.0))  # nowhere near anyone
    counts, metrics = _run(tmp_path, _two_people(), pred)
    assert counts.false_positives.tolist() == [1] * 15 and counts.matches.tolist() == [6] * 15
    assert metrics["MOTA_Total"] == pytest.approx(100 * (1 - 1 / 6))
    assert metrics["Precision_Total"] == pytest.approx(100 * 6 / 7)
    assert metrics["Recall_Total"] == pytest.approx(100.0)
    assert metrics["MOTP_Total"] == pytest.approx(100.0)


def test_motp_sums_every_pairable_pair_as_poseval_does(tmp_path: Path) -> None:
    # Frame 0: A predicted 5 px off (distance 5 / 30), plus a near duplicate of B 10 px off (distance 1 / 3) that
    # stays a false positive. poseval's distance sum (events['D'].sum()) holds A's pair twice (RAW + MATCH) and
    # the duplicate's pair once (RAW): 2/6 + 1/3 per joint, over 6 detections.
    pred = _two_people()
    pred[0][0] = _person(0, A_X + 3.0, 4.0)
    pred[0].append(_person(5, B_X + 10.0))
    counts, metrics = _run(tmp_path, _two_people(), pred)
    assert counts.false_positives.tolist() == [1] * 15 and counts.switches.sum() == 0
    assert counts.distance_sum == pytest.approx([2 / 6 + 1 / 3] * 15)
    _assert_all_joints(metrics, "MOTP", 100 * (1 - (2 / 6 + 1 / 3) / 6))


def test_a_person_keeps_its_track_while_within_the_threshold(tmp_path: Path) -> None:
    # Frame 1: A's track 0 is 10 px off (pairable) and a new track 7 lies exactly on A: motmetrics keeps the
    # established pair (a match) and 7 is a false positive, although pairing A with 7 would cost less.
    pred = _two_people()
    pred[1][0] = _person(0, A_X + STEP + 10.0)
    pred[1].append(_person(7, A_X + STEP))
    counts, _ = _run(tmp_path, _two_people(), pred)
    assert counts.switches.sum() == 0
    assert counts.false_positives.tolist() == [1] * 15 and counts.matches.tolist() == [6] * 15


def test_id_swap_between_two_crossing_people(tmp_path: Path) -> None:
    # A walks right, B left; they meet in frame 1 (10 px apart) and the tracker swaps their ids there.
    a_x, b_x = [0.0, 45.0, 100.0, 150.0], [100.0, 55.0, 0.0, -50.0]
    gt = [[_person(0, a), _person(1, b)] for a, b in zip(a_x, b_x, strict=True)]
    pred = [[_person(10, a_x[0]), _person(11, b_x[0])]]
    pred += [[_person(10, b), _person(11, a)] for a, b in zip(a_x[1:], b_x[1:], strict=True)]
    pred[2] = [_person(10, b_x[2] + 3.0), _person(11, a_x[2] + 3.0)]  # 3 px off in frame 2: distance 0.1
    counts, metrics = _run(tmp_path, gt, pred)
    # Frame 1: each person is still pairable with its old track (10 px): two matches. Frame 2: each is only
    # pairable with the other track: two switches.
    assert counts.switches.tolist() == [2] * 15 and counts.matches.tolist() == [4] * 15
    assert metrics["MOTA_Total"] == pytest.approx(100 * (1 - 2 / 6))
    # Distance sum: frame 1's four pairable pairs (RAW: 1/3, 0, 0, 1/3) and its two matches (1/3 each); frame 2's
    # two switches, each summed three times (RAW, TRANSFER: the track was the other person's, SWITCH).
    assert counts.distance_sum == pytest.approx([4 / 3 + 0.6] * 15)
    assert metrics["MOTP_Total"] == pytest.approx(100 * (1 - (4 / 3 + 0.6) / 6))


def test_track_taken_over_by_a_new_person(tmp_path: Path) -> None:
    # Frame 1: A has left, a new person C (track 2) appears and is predicted by A's old track 0, 3 px off: a match
    # (C had no partner), with motmetrics' TRANSFER and MIGRATE events, so its distance is summed four times.
    gt = [[_person(0, A_X)], [_person(2, B_X)], [_person(2, B_X)]]
    pred = [[_person(0, A_X)], [_person(0, B_X + 3.0)], [_person(0, B_X)]]
    counts, metrics = _run(tmp_path, gt, pred)
    assert counts.matches.tolist() == [2] * 15 and counts.switches.sum() == 0
    assert metrics["MOTA_Total"] == pytest.approx(100.0)
    assert counts.distance_sum == pytest.approx([0.4] * 15)
    assert metrics["MOTP_Total"] == pytest.approx(100 * (1 - 0.4 / 2))


def test_ignore_regions_remove_joints_and_persons(tmp_path: Path) -> None:
    # Frame 1: B's right ankle (slot 16, at (1020 + 160, 80)) lies in an ignore square, in ground truth and
    # prediction alike; a false-positive person lies wholly in another square and is removed.
    pred = _two_people()
    pred[1].append(_person(5, 3000.0, 3000.0))
    regions = {1: [[1175.0, 75.0, 1185.0, 85.0], [2900.0, 2900.0, 3400.0, 3400.0]]}
    counts, metrics = _run(tmp_path, _two_people(), pred, regions)
    expected = [6] * 15
    expected[JOINT["right_ankle"]] = 5
    assert counts.objects.tolist() == expected
    assert counts.false_positives.sum() == counts.misses.sum() == 0
    assert metrics["MOTA_Total"] == pytest.approx(100.0)


def test_frame_whose_ground_truth_is_all_ignored_is_poseval_placeholder(tmp_path: Path) -> None:
    regions = {1: [[-100.0, -100.0, 2000.0, 500.0]]}  # covers A and B (and their predictions) in frame 1
    counts, metrics = _run(tmp_path, _two_people(), _two_people(), regions)
    assert counts.objects.tolist() == [5] * 15
    assert counts.misses.tolist() == counts.false_positives.tolist() == [1] * 15
    assert metrics["MOTA_Total"] == pytest.approx(100 * (1 - 2 / 5))


def test_videos_are_tracked_separately_and_summed(tmp_path: Path) -> None:
    # The same track ids stand for other persons in the second video: no switch across videos.
    _write(tmp_path / "gt", _video(_two_people()), "000001_mpii_test.json")
    _write(tmp_path / "gt", _video(_two_people()), "000002_mpii_test.json")
    _write(tmp_path / "pred", _video(_two_people(tracks=(0, 1))), "000001_mpii_test.json")
    pred = _two_people(tracks=(1, 0))
    pred[0].append(_person(5, 3000.0))
    _write(tmp_path / "pred", _video(pred), "000002_mpii_test.json")
    counts = posetrack_tracking_counts(tmp_path / "gt", tmp_path / "pred")
    assert counts.videos == 2 and counts.objects.tolist() == [12] * 15
    assert counts.switches.sum() == 0 and counts.false_positives.tolist() == [1] * 15
    metrics = evaluate_posetrack_tracking(tmp_path / "gt", tmp_path / "pred")
    assert metrics["MOTA_Total"] == pytest.approx(100 * (1 - 1 / 12))


def test_video_with_one_labelled_frame_contributes_nothing(tmp_path: Path) -> None:
    _write(tmp_path / "gt", _video(_two_people()), "000001_mpii_test.json")
    _write(tmp_path / "pred", _video(_two_people()), "000001_mpii_test.json")
    _write(tmp_path / "gt", _video([[_person(0, 0.0)], []]), "000002_mpii_test.json")
    _write(tmp_path / "pred", _video([[], [_person(3, 0.0)]]), "000002_mpii_test.json")
    counts = posetrack_tracking_counts(tmp_path / "gt", tmp_path / "pred")
    assert counts.videos == 1 and counts.objects.tolist() == [6] * 15 and counts.misses.sum() == 0
    with pytest.raises(ValueError, match="no video has two labelled frames"):
        evaluate_posetrack_tracking(tmp_path / "gt" / "000002_mpii_test.json", tmp_path / "pred")


def test_joint_without_ground_truth_is_nan_and_left_out_of_total(tmp_path: Path) -> None:
    gt = [[_person(0, A_X + STEP * t, drop=("nose",))] for t in range(4)]
    pred = [[_person(0, A_X + STEP * t)] for t in range(4)]  # predicts the nose: 3 false positives, no object
    counts, metrics = _run(tmp_path, gt, pred)
    assert counts.objects[JOINT["nose"]] == 0 and counts.false_positives[JOINT["nose"]] == 3
    assert np.isnan(metrics["MOTA_nose"]) and np.isnan(metrics["MOTA_Head"]) and np.isnan(metrics["Recall_nose"])
    assert metrics["Precision_nose"] == 0.0 and metrics["MOTP_nose"] == 0.0
    assert metrics["MOTA_Total"] == pytest.approx(100.0)  # mean over the 14 other joints
    assert metrics["Precision_Total"] == pytest.approx(100 * 14 / 15)  # the nose's 0 is not NaN: it counts


def _broken(tmp_path: Path, where: str, change) -> tuple[Path, Path]:
    gt, pred = _video(_two_people()), _video(_two_people())
    change(gt if where == "gt" else pred)
    return _write(tmp_path / "gt", gt), _write(tmp_path / "pred", pred)


def _set_annotation(index: int, key: str, value: Any):
    def change(data: dict) -> None:
        data["annotations"][index][key] = value

    return change


def _drop_track(data: dict) -> None:
    del data["annotations"][3]["track_id"]


def _nan_region(data: dict) -> None:
    data["images"][2]["ignore_regions_x"] = [[0.0, float("nan"), 5.0]]
    data["images"][2]["ignore_regions_y"] = [[0.0, 0.0, 5.0]]


def _fewer_frames(data: dict) -> None:
    data["images"].pop()
    data["annotations"] = [ann for ann in data["annotations"] if ann["image_id"] != 1003]


@pytest.mark.parametrize(
    ("where", "change", "message"),
    [
        ("gt", _drop_track, "annotations[3]): needs a 'track_id'"),
        ("pred", _drop_track, "annotations[3]): needs a 'track_id'"),
        ("pred", _set_annotation(2, "track_id", "4"), "annotations[2]): track_id must be an integer, got '4'"),
        ("gt", _set_annotation(2, "track_id", 1.5), "annotations[2]): track_id must be an integer, got 1.5"),
        ("gt", _set_annotation(1, "track_id", 12000), "track_id 12000 is not below 10000"),
        ("pred", _set_annotation(1, "keypoints", [float("nan")] * 51), "non-finite keypoint values"),
        ("gt", _set_annotation(0, "bbox_head", [0.0, 0.0, float("inf"), 40.0]), "non-finite bbox_head"),
        ("gt", _nan_region, "images[2]: non-finite ignore_regions_x/y[0]"),
        ("pred", _fewer_frames, "3 images, the ground truth"),
    ],
)
def test_bad_input_is_a_one_line_error_naming_file_and_field(tmp_path: Path, where, change, message) -> None:
    gt_file, pred_file = _broken(tmp_path, where, change)
    with pytest.raises(ValueError) as error:
        evaluate_posetrack_tracking(tmp_path / "gt", tmp_path / "pred")
    text = str(error.value)
    assert message in text and "\n" not in text
    assert text.startswith(str(gt_file if where == "gt" else pred_file))


def test_missing_prediction_file_is_a_value_error(tmp_path: Path) -> None:
    _write(tmp_path / "gt", _video(_two_people()))
    (tmp_path / "pred").mkdir()
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'pred' / NAME}: prediction file for ground-truth")):
        evaluate_posetrack_tracking(tmp_path / "gt", tmp_path / "pred")


def _poseval_points(annotation: dict) -> np.ndarray:
    """(15, 3) joints of an annotation in poseval's joint order."""
    points = np.asarray(annotation["keypoints"], float).reshape(-1, 3)
    return points[[SLOTS.index(name) for name in POSEVAL_JOINTS]]


def _as_predictions(data: dict, shift: float, track_offset: int) -> dict:
    """The ground truth as a prediction file: joints kept, track ids renumbered, no head boxes."""
    annotations = []
    for ann in data["annotations"]:
        points = np.asarray(ann["keypoints"], float).reshape(-1, 3)
        present = ~(points == 0).all(axis=1)
        points[present, 0] += shift
        annotations.append(
            {
                "image_id": ann["image_id"],
                "track_id": ann["track_id"] + track_offset,
                "keypoints": points.ravel().tolist(),
            }
        )
    images = [{"id": image["id"], "file_name": image["file_name"]} for image in data["images"]]
    return {"images": images, "annotations": annotations, "categories": data["categories"]}


def _extended(data: dict, frames: int) -> dict:
    """A real one-frame video extended to ``frames`` labelled frames: the frame copied, its persons moved 7 px a
    frame (ignore regions moved with them)."""
    data = copy.deepcopy(data)
    first = data["images"][0]
    people = [ann for ann in data["annotations"] if ann["image_id"] == first["id"]]
    for t in range(1, frames):
        image = copy.deepcopy(first)
        image["id"], image["file_name"] = first["id"] + t, first["file_name"].replace("000000", f"{t:06d}")
        if "ignore_regions_x" in image:
            image["ignore_regions_x"] = [[x + 7.0 * t for x in xs] for xs in image["ignore_regions_x"]]
        data["images"].append(image)
        for ann in people:
            moved = copy.deepcopy(ann)
            moved["image_id"], moved["id"] = image["id"], ann["id"] + 100 * t
            points = np.asarray(moved["keypoints"], float).reshape(-1, 3)
            points[~(points == 0).all(axis=1), 0] += 7.0 * t
            moved["keypoints"] = points.ravel().tolist()
            moved["bbox_head"] = [moved["bbox_head"][0] + 7.0 * t, *moved["bbox_head"][1:]]
            data["annotations"].append(moved)
    return data


@pytest.mark.skipif(not VIDEOS.is_dir(), reason="PoseTrack18 real samples not available")
def test_real_samples_scored_against_themselves(tmp_path: Path) -> None:
    # The sample videos have one labelled frame each: as poseval leaves out each video's last labelled frame,
    # there is nothing to evaluate.
    with pytest.raises(ValueError, match="no video has two labelled frames"):
        evaluate_posetrack_tracking(VIDEOS, VIDEOS)
    for path in sorted(VIDEOS.glob("*.json")):
        data = _extended(json.loads(path.read_text()), frames=4)
        _write(tmp_path / "gt", data, path.name)
        _write(tmp_path / "pred", _as_predictions(data, shift=0.0, track_offset=50), path.name)
    counts = posetrack_tracking_counts(tmp_path / "gt", tmp_path / "pred")
    metrics = evaluate_posetrack_tracking(tmp_path / "gt", tmp_path / "pred")
    assert counts.videos == 3 and counts.objects.sum() > 0
    assert counts.misses.sum() == counts.false_positives.sum() == counts.switches.sum() == 0
    for metric in ("MOTA", "Precision", "Recall"):
        assert metrics[f"{metric}_Total"] == pytest.approx(100.0)
        values = [metrics[f"{metric}_{name}"] for name in POSEVAL_JOINTS]
        assert all(value == pytest.approx(100.0) for value in values if not np.isnan(value))
    # MOTP is not 100: poseval's distance sum also holds every pair of two persons whose same joints lie within
    # half a head size of each other (motmetrics' RAW events), as in the crowded 012834. Per joint, that is the
    # sum over the 3 evaluated frames (all alike) of |joint of g - joint of p| / head size of g, g != p.
    expected = np.zeros(15)
    for path in sorted(VIDEOS.glob("*.json")):
        annotations = json.loads(path.read_text())["annotations"]
        points = np.stack([_poseval_points(ann) for ann in annotations])  # (N, 15, 3)
        head = np.array([0.6 * np.hypot(*ann["bbox_head"][2:]) for ann in annotations])
        distance = np.linalg.norm(points[:, None, :, :2] - points[None, :, :, :2], axis=-1) / head[:, None, None]
        present = ~(points == 0).all(axis=-1)
        pairable = present[:, None] & present[None] & ~np.eye(len(annotations), dtype=bool)[..., None]
        expected += 3 * np.where(pairable & (distance <= 0.5), distance, 0.0).sum(axis=(0, 1))
    assert expected.sum() > 0
    assert counts.distance_sum == pytest.approx(expected)
    detections = counts.matches + counts.switches
    assert metrics["MOTP_Total"] == pytest.approx(np.mean(100 * (1 - expected / detections)))


def test_vipnas_eval_tracking_scores_a_predictions_folder(tmp_path, capsys) -> None:
    """`vipnas eval --preds DIR --data POSETRACK --tracking`: SynthPose's own ground truth, re-labelled with other
    track ids, scores 100 mAP and 100 MOTA (the switch costs are tested above on hand-made cases)."""
    import json

    from vipnas.cli import main
    from vipnas.data import synthpose
    from vipnas.data.synthpose.generate import SynthPoseLayout

    root = tmp_path / "synth"
    synthpose.generate(root, images=0, videos=2, frames=5, seed=7, workers=1, progress=False, val_fraction=0.5)
    gt = SynthPoseLayout(root).video_annotations("val")
    preds = tmp_path / "preds"
    preds.mkdir()
    for path in sorted(gt.glob("*.json")):
        data = json.loads(path.read_text())
        for annotation in data["annotations"]:
            annotation["track_id"] = 100 + annotation["track_id"]
            annotation["scores"] = [1.0] * 17
        (preds / path.name).write_text(json.dumps(data))
    command = ["eval", "--preds", str(preds), "--ann", str(gt), "--data", "POSETRACK", "--tracking", "--json"]
    assert main(command) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["Total"] == pytest.approx(100.0) and metrics["MOTA_Total"] == pytest.approx(100.0)
    assert metrics["Precision_Total"] == pytest.approx(100.0) and metrics["Recall_Total"] == pytest.approx(100.0)
    assert main(["eval", "--preds", str(preds), "--ann", str(gt), "--data", "COCO", "--tracking"]) == 1
    assert "--tracking scores a --preds folder" in capsys.readouterr().err
