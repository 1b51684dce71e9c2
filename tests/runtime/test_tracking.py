"""``vipnas.runtime.tracking``: boxes from poses, IoU/OKS matrices, and the tracker's ids over scripted scenes.

Every scene is scripted frame by frame with known people, so each assertion names who must carry which id.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import Any, Literal

import numpy as np
import pytest

from vipnas.data.metadata import COCO
from vipnas.runtime.tracking import (
    TrackedPerson,
    Tracker,
    TrackerConfig,
    box_area,
    box_from_keypoints,
    iou_matrix,
    oks_matrix,
)

# one pose template in a unit box, 17 COCO joints (x, y) in [0, 1]²: head at the top, ankles at the bottom
TEMPLATE = np.array(
    [
        [0.50, 0.08], [0.45, 0.06], [0.55, 0.06], [0.40, 0.08], [0.60, 0.08], [0.30, 0.22], [0.70, 0.22],
        [0.22, 0.38], [0.78, 0.38], [0.18, 0.52], [0.82, 0.52], [0.38, 0.55], [0.62, 0.55], [0.36, 0.75],
        [0.64, 0.75], [0.35, 0.95], [0.65, 0.95],
    ]
)  # fmt: skip


def box_at(centre_x: float, centre_y: float, width: float = 60.0, height: float = 160.0) -> np.ndarray:
    return np.array([centre_x - width / 2, centre_y - height / 2, centre_x + width / 2, centre_y + height / 2])


def pose_in(box: np.ndarray) -> np.ndarray:
    return box[:2] + TEMPLATE * (box[2:] - box[:2])


def frame_arrays(boxes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Detections of one frame: boxes (N, 4), scores (N,), poses (N, 17, 2), joint scores (N, 17)."""
    if not boxes:
        return np.zeros((0, 4)), np.zeros(0), np.zeros((0, 17, 2)), np.zeros((0, 17))
    stacked = np.stack(boxes)
    return stacked, np.full(len(boxes), 0.9), np.stack([pose_in(box) for box in boxes]), np.ones((len(boxes), 17))


def step(tracker: Tracker, boxes: list[np.ndarray], frame_index: int) -> list[TrackedPerson]:
    detections, scores, keypoints, keypoint_scores = frame_arrays(boxes)
    people = tracker.update(detections, scores, keypoints, keypoint_scores, frame_index=frame_index)
    for person in people:  # every result points at the detection it reports
        np.testing.assert_array_equal(person.box, detections[person.detection_index])
    return people


def id_of(people: list[TrackedPerson], box: np.ndarray) -> int:
    matches = [person.track_id for person in people if np.allclose(person.box, box)]
    assert len(matches) == 1, (matches, box)
    return matches[0]


# ----------------------------------------------------------------------------------------------- geometry


def test_box_from_keypoints_pads_the_confident_extent_and_clips_to_the_image() -> None:
    keypoints = np.array([[10.0, 20.0], [30.0, 60.0], [100.0, 100.0], [np.nan, 5.0], [0.0, 0.0]])
    scores = np.array([0.9, 0.8, 0.1, 0.9, np.nan])  # joint 2 below the threshold, 3 not finite, 4 NaN score
    # extent x 10..30, y 20..60: centre (20, 40), half-size (10, 20) × 1.25 = (12.5, 25)
    box = box_from_keypoints(keypoints, scores, threshold=0.3)
    assert box is not None
    np.testing.assert_allclose(box, [7.5, 15.0, 32.5, 65.0])
    clipped = box_from_keypoints(keypoints, scores, threshold=0.3, padding=2.0, image_size=(35, 50))
    assert clipped is not None
    np.testing.assert_allclose(clipped, [0.0, 0.0, 35.0, 50.0])  # unclipped: (0, 0, 40, 80)
    assert box_from_keypoints(keypoints, scores, threshold=0.85) is None  # one confident joint only
    assert box_from_keypoints(keypoints, np.full(5, np.nan), threshold=0.0) is None
    single = box_from_keypoints(keypoints, scores, threshold=0.85, min_keypoints=1)
    assert single is not None
    np.testing.assert_allclose(single, [10.0, 20.0, 10.0, 20.0])  # one joint: a box of no size


def test_iou_matrix_by_hand() -> None:
    boxes_a = np.array([[0.0, 0.0, 10.0, 10.0], [100.0, 100.0, 110.0, 120.0]])
    boxes_b = np.array([[5.0, 5.0, 15.0, 15.0], [0.0, 0.0, 10.0, 10.0], [105.0, 100.0, 110.0, 120.0]])
    expected = np.array([[25 / 175, 1.0, 0.0], [0.0, 0.0, 100 / 200]])
    np.testing.assert_allclose(iou_matrix(boxes_a, boxes_b), expected)
    assert iou_matrix(boxes_a, np.zeros((0, 4))).shape == (2, 0)
    np.testing.assert_allclose(box_area(boxes_b), [100.0, 100.0, 100.0])
    assert iou_matrix([[1.0, 1.0, 1.0, 1.0]], [[1.0, 1.0, 1.0, 1.0]])[0, 0] == 0.0  # no area: 0, not NaN


def test_oks_matrix_by_hand() -> None:
    box = box_at(100.0, 100.0)  # area 60 × 160
    other = box_at(100.0, 100.0, width=80.0, height=160.0)  # area 80 × 160
    pose = pose_in(box)
    shifted = pose + np.array([3.0, 4.0])  # every joint 5 px away
    area = (60 * 160 + 80 * 160) / 2
    sigmas = np.array(COCO.sigmas)
    per_joint = np.exp(-25.0 / (2 * area * (2 * sigmas) ** 2))
    oks = oks_matrix(pose[None], box[None], np.stack([pose, shifted]), np.stack([box, other]))
    np.testing.assert_allclose(oks, [[1.0, per_joint.mean()]])
    # only the joints valid in both count: 0 and 5 (joint 9 is valid in b alone)
    valid_a = np.zeros((1, 17), dtype=bool)
    valid_a[0, [0, 5]] = True
    valid_b = np.zeros((1, 17), dtype=bool)
    valid_b[0, [0, 5, 9]] = True
    masked = oks_matrix(pose[None], box[None], shifted[None], other[None], valid_a=valid_a, valid_b=valid_b)
    np.testing.assert_allclose(masked, [[(per_joint[0] + per_joint[5]) / 2]])
    none = oks_matrix(pose[None], box[None], shifted[None], other[None], valid_a=~valid_a, valid_b=valid_a)
    assert none[0, 0] == 0.0
    with pytest.raises(ValueError, match=r"sigmas must have shape \(17,\)"):
        oks_matrix(pose[None], box[None], pose[None], box[None], sigmas=[0.1] * 3)


# ----------------------------------------------------------------------------------------------- crossing


@pytest.mark.parametrize("metric", ["iou", "oks"])
def test_two_people_walking_through_each_other_keep_their_ids(metric: Literal["iou", "oks"]) -> None:
    """A walks right, B walks left on the same line; at frame 10 their boxes coincide exactly."""
    tracker = Tracker(TrackerConfig(metric=metric))
    speed = 6.0
    ids_a, ids_b = set(), set()
    for frame in range(21):
        box_a, box_b = box_at(140.0 + speed * frame, 200.0), box_at(260.0 - speed * frame, 200.0)
        order = [box_a, box_b] if frame % 3 else [box_b, box_a]  # detection order carries no identity
        people = step(tracker, order, frame)
        assert len(people) == 2 and [person.detection_index for person in people] == [0, 1]
        if frame == 10:  # the same box twice: who is who is undecidable here, but both are reported
            assert {person.track_id for person in people} == {1, 2}
            continue
        ids_a.add(id_of(people, box_a))
        ids_b.add(id_of(people, box_b))
    assert len(ids_a) == 1 and len(ids_b) == 1 and ids_a != ids_b
    assert tracker.track_ids == (1, 2) and tracker.next_id == 3


@pytest.mark.parametrize("metric", ["iou", "oks"])
def test_crossing_with_an_offset_keeps_ids_without_motion_prediction(metric: Literal["iou", "oks"]) -> None:
    tracker = Tracker(TrackerConfig(metric=metric, predict_motion=False))
    first = None
    for frame in range(21):
        box_a, box_b = box_at(140.0 + 6 * frame, 200.0), box_at(260.0 - 6 * frame, 206.0)
        people = step(tracker, [box_b, box_a], frame)
        ids = (id_of(people, box_a), id_of(people, box_b))
        first = first or ids
        assert ids == first


def test_assignment_is_optimal_not_greedy() -> None:
    """Boxes 10 × 10 on one line; IoU of two at horizontal distance s is (10 − s) / (10 + s).

    Tracks A at x = 0 and B at x = 4; detections d1 at x = 1 and d2 at x = −4. Greedy takes A–d1 (9/11) and
    leaves B–d2 (2/18, below 0.3) unmatched; the optimum A–d2 (6/14) + B–d1 (7/13) keeps both people."""

    def box(x: float) -> np.ndarray:
        return np.array([x, 0.0, x + 10.0, 10.0])

    tracker = Tracker(TrackerConfig(min_similarity=0.3))
    tracker.update(np.stack([box(0.0), box(4.0)]), np.ones(2), frame_index=0)
    detections = np.stack([box(1.0), box(-4.0)])
    np.testing.assert_allclose(
        iou_matrix(np.stack([box(0.0), box(4.0)]), detections), [[9 / 11, 6 / 14], [7 / 13, 2 / 18]]
    )
    people = tracker.update(detections, np.ones(2), frame_index=1)
    assert [(person.detection_index, person.track_id) for person in people] == [(0, 2), (1, 1)]
    assert tracker.next_id == 3


# ----------------------------------------------------------------------------------------------- ageing


@pytest.mark.parametrize(("absent", "same_id"), [(1, True), (5, True), (6, False)])
def test_a_person_absent_for_up_to_max_age_frames_keeps_the_id(absent: int, same_id: bool) -> None:
    """P stands still, disappears for ``absent`` frames (max_age = 5), comes back; Q is there all along."""
    tracker = Tracker(TrackerConfig(max_age=5))
    box_p, box_q = box_at(100.0, 200.0), box_at(400.0, 200.0)
    for frame in range(3):
        people = step(tracker, [box_p, box_q], frame)
    id_p, id_q = id_of(people, box_p), id_of(people, box_q)
    for frame in range(3, 3 + absent):
        people = step(tracker, [box_q], frame)
        assert [person.track_id for person in people] == [id_q]
        assert (id_p in tracker.track_ids) == (frame - 2 <= 5)  # lost and not reported, alive for 5 misses
    people = step(tracker, [box_q, box_p], 3 + absent)
    assert id_of(people, box_q) == id_q
    if same_id:
        assert id_of(people, box_p) == id_p
        back = next(person for person in people if person.track_id == id_p)
        assert (back.hits, back.age, back.is_new) == (4, 3 + absent, False)
    else:
        assert id_of(people, box_p) == 3  # a new id, never P's old one
        assert next(person for person in people if person.track_id == 3).is_new
        assert id_p not in tracker.track_ids


def test_frames_with_nobody_age_every_track() -> None:
    tracker = Tracker(TrackerConfig(max_age=2))
    box = box_at(100.0, 100.0)
    assert step(tracker, [box], 0)[0].track_id == 1
    assert tracker.update(np.zeros((0, 4)), np.zeros(0), frame_index=1) == []
    assert tracker.update([], [], frame_index=2) == []  # empty lists are N = 0 too
    assert tracker.track_ids == (1,)
    assert step(tracker, [box], 3)[0].track_id == 1  # missed frames 1 and 2: within max_age
    assert tracker.update([], [], frame_index=6) == []  # frames 4 and 5 skipped, 6 empty: three misses
    assert tracker.track_ids == ()
    assert step(tracker, [box], 7)[0].track_id == 2


def test_skipped_frame_indices_count_as_missed_frames() -> None:
    tracker = Tracker(TrackerConfig(max_age=5))
    box = box_at(100.0, 100.0)
    step(tracker, [box], 0)
    assert step(tracker, [box], 6)[0].track_id == 1  # frames 1..5 missed: five
    assert step(tracker, [box], 13)[0].track_id == 2  # frames 7..12 missed: six


def test_motion_prediction_refinds_a_person_who_walked_on_behind_an_occluder() -> None:
    """P walks right at 8 px/frame, is hidden for 10 frames, and reappears 88 px on: no overlap with its last box."""
    results = {}
    for predict in (True, False):
        tracker = Tracker(TrackerConfig(predict_motion=predict))
        for frame in range(5):
            step(tracker, [box_at(100.0 + 8 * frame, 100.0)], frame)
        for frame in range(5, 15):
            step(tracker, [], frame)
        last, back = box_at(132.0, 100.0), box_at(100.0 + 8 * 15, 100.0)
        assert iou_matrix(last[None], back[None])[0, 0] < 0.3
        results[predict] = step(tracker, [back], 15)[0].track_id
    assert results == {True: 1, False: 2}


def test_a_person_who_turns_back_behind_the_occluder_is_refound_where_last_seen() -> None:
    tracker = Tracker(TrackerConfig(predict_motion=True))
    for frame in range(5):
        step(tracker, [box_at(100.0 + 8 * frame, 100.0)], frame)
    for frame in range(5, 15):
        step(tracker, [], frame)  # the prediction runs 88 px on, the person waited at the last place
    assert step(tracker, [box_at(130.0, 100.0)], 15)[0].track_id == 1


# ----------------------------------------------------------------------------------------------- ids


def test_non_contiguous_ids_after_deletions_still_map_to_the_right_people() -> None:
    """rtmlib's bug: track ids used as indices into the track list. After deletions ids are {3, 4, 5}; any code
    that indexes by id either raises or hands a person another person's box."""
    tracker = Tracker(TrackerConfig(max_age=2))
    places = {name: box_at(100.0 + 150 * index, 200.0) for index, name in enumerate("PQRS")}
    people = step(tracker, [places["P"], places["Q"], places["R"]], 0)
    assert [id_of(people, places[name]) for name in "PQR"] == [1, 2, 3]
    for frame in range(1, 4):  # P and Q leave for three frames: deleted
        step(tracker, [places["R"]], frame)
    assert tracker.track_ids == (3,)
    step(tracker, [places["S"], places["R"]], 4)
    step(tracker, [places["R"], places["P"], places["S"]], 5)  # P comes back: a new person to the tracker
    assert tracker.track_ids == (3, 4, 5)
    expected = {"R": 3, "S": 4, "P": 5}
    orders = [["S", "P", "R"], ["P", "R", "S"], ["R", "S", "P"], ["P", "S", "R"]]
    for frame, order in enumerate(orders, start=6):
        people = step(tracker, [places[name] for name in order], frame)
        assert {name: id_of(people, places[name]) for name in order} == expected
        by_id = {person.track_id: person for person in people}
        for name, track_id in expected.items():
            assert order[by_id[track_id].detection_index] == name


def test_ids_are_never_reused_even_after_reset() -> None:
    tracker = Tracker()
    step(tracker, [box_at(100.0, 100.0), box_at(300.0, 100.0)], 0)
    tracker.reset()
    assert tracker.track_ids == () and tracker.last_frame_index is None
    assert step(tracker, [box_at(100.0, 100.0)], 0)[0].track_id == 3  # frame indices may restart, ids do not
    tracker.reset(restart_ids=True)
    assert step(tracker, [box_at(100.0, 100.0)], 0)[0].track_id == 1


def test_min_hits_birth() -> None:
    """min_hits = 3: P is reported from its third consecutive frame; a one-frame false positive spends no id."""
    tracker = Tracker(TrackerConfig(min_hits=3))
    box_p, ghost, box_q = box_at(100.0, 100.0), box_at(300.0, 100.0), box_at(500.0, 100.0)
    assert step(tracker, [box_p], 0) == []
    assert step(tracker, [box_p, ghost], 1) == []
    people = step(tracker, [box_p], 2)
    assert [(person.track_id, person.hits, person.age, person.is_new) for person in people] == [(1, 3, 2, True)]
    assert not step(tracker, [box_p], 3)[0].is_new
    # Q: seen twice, missed once (its count restarts), then three frames in a row
    for frame, seen in zip(range(4, 10), [True, True, False, True, True, True], strict=True):
        people = step(tracker, [box_p, box_q] if seen else [box_p], frame)
        reported = {person.track_id for person in people}
        assert reported == ({1, 2} if frame == 9 else {1})
    assert id_of(people, box_q) == 2  # the ghost and Q's first attempt took no id


# ----------------------------------------------------------------------------------------------- errors


def test_results_and_configs_are_frozen() -> None:
    person = step(Tracker(), [box_at(100.0, 100.0)], 0)[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        person.track_id = 7  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrackerConfig().max_age = 3  # type: ignore[misc]
    assert hash(person) == hash(dataclasses.replace(person))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"boxes": np.zeros((2, 3)), "scores": np.zeros(2)}, r"boxes must have shape \(N, 4\), got \(2, 3\)"),
        ({"boxes": np.zeros(4), "scores": np.zeros(1)}, r"boxes must have shape \(N, 4\), got \(4,\)"),
        ({"boxes": np.zeros((2, 4)), "scores": np.zeros(3)}, r"scores must have shape \(N,\) with N = 2"),
        ({"boxes": np.zeros((2, 4)), "scores": np.zeros((2, 1))}, r"scores must have shape \(N,\), got \(2, 1\)"),
        (
            {"boxes": np.zeros((2, 4)), "scores": np.zeros(2), "keypoints": np.zeros((2, 17))},
            r"keypoints must have shape \(N, K, 2\), got \(2, 17\)",
        ),
        (
            {"boxes": np.zeros((2, 4)), "scores": np.zeros(2), "keypoints": np.zeros((1, 17, 2))},
            r"keypoints must have shape \(N, K, 2\) with N = 2",
        ),
        (
            {
                "boxes": np.zeros((2, 4)),
                "scores": np.zeros(2),
                "keypoints": np.zeros((2, 17, 2)),
                "keypoint_scores": np.zeros((2, 16)),
            },
            r"keypoint_scores must have shape \(N, K\) = \(2, 17\)",
        ),
        ({"boxes": [[0.0, 0.0, np.nan, 1.0]], "scores": [1.0]}, r"boxes must be finite"),
        ({"boxes": [[5.0, 0.0, 1.0, 1.0]], "scores": [1.0]}, r"x2 >= x1"),
    ],
)
def test_bad_shapes_name_the_argument_and_the_expected_shape(arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Tracker().update(**arguments, frame_index=0)


def test_oks_needs_keypoints_that_fit_the_sigmas() -> None:
    tracker = Tracker(TrackerConfig(metric="oks"))
    with pytest.raises(ValueError, match=r"keypoints of shape \(N, K, 2\) are needed with metric='oks'"):
        tracker.update(np.zeros((1, 4)), np.ones(1), frame_index=0)
    with pytest.raises(ValueError, match=r"keypoints must have shape \(N, 17, 2\) to match the 17 OKS sigmas"):
        tracker.update(np.zeros((1, 4)), np.ones(1), np.zeros((1, 16, 2)), frame_index=0)
    assert tracker.update(np.zeros((0, 4)), np.zeros(0), frame_index=0) == []  # nobody: no keypoints needed
    custom = Tracker(TrackerConfig(metric="oks", sigmas=(0.1,) * 4))
    boxes, keypoints = np.array([[0.0, 0.0, 10.0, 10.0]]), np.full((1, 4, 2), 5.0)
    assert custom.update(boxes, np.ones(1), keypoints, frame_index=0)[0].track_id == 1
    assert custom.update(boxes, np.ones(1), keypoints + 1, frame_index=1)[0].track_id == 1


def test_box_from_keypoints_shapes_and_frame_order_errors() -> None:
    with pytest.raises(ValueError, match=r"keypoints must have shape \(K, 2\), got \(17, 3\)"):
        box_from_keypoints(np.zeros((17, 3)), np.zeros(17), threshold=0.3)
    with pytest.raises(ValueError, match=r"scores must have shape \(17,\), got \(16,\)"):
        box_from_keypoints(np.zeros((17, 2)), np.zeros(16), threshold=0.3)
    tracker = Tracker()
    tracker.update([], [], frame_index=5)
    with pytest.raises(ValueError, match="frame_index must increase: got 5 after 5"):
        tracker.update([], [], frame_index=5)
    assert tracker.update([], []) == [] and tracker.last_frame_index == 6


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("metric", "giou", "metric must be 'iou' or 'oks'"),
        ("min_similarity", 0.0, r"min_similarity must be in \(0, 1\]"),
        ("max_age", -1, "max_age must be at least 0"),
        ("min_hits", 0, "min_hits must be at least 1"),
        ("velocity_smoothing", 1.0, r"velocity_smoothing must be in \[0, 1\)"),
    ],
)
def test_config_errors(field: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrackerConfig(**{field: value})


def test_the_runtime_imports_neither_torch_nor_the_training_packages() -> None:
    code = (
        "import sys, vipnas.runtime\n"
        "banned = ('torch', 'cv2', 'vipnas.elastic', 'vipnas.nas', 'vipnas.engine', 'vipnas.demo', 'vipnas.commands')\n"
        "print([name for name in sys.modules if name.split('.')[0] == 'torch' or name.startswith(banned)])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
