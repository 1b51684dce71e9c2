"""SynthPose: determinism, COCO/PoseTrack18 validity, visibility that agrees with the drawing, motion."""

import contextlib
import io
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import coco as cocoapi
from pycocotools.cocoeval import COCOeval
from samples import SHARED

from vipnas.data import synthpose
from vipnas.data.metadata import COCO, POSETRACK18
from vipnas.data.synthpose.body import ANGLE_LIMITS, ANGLES, Body, BodyShape, pose_skeleton, random_shape
from vipnas.data.synthpose.motion import random_pose
from vipnas.data.synthpose.render import (
    DISTRACTOR,
    LABEL_STRIDE,
    OCCLUDER,
    OWN_PARTS,
    Canvas,
    draw_capsule,
    draw_person,
    person_label,
    random_clothing,
)
from vipnas.data.synthpose.scene import annotate, draw_occluder, render_image

REAL = SHARED  # every image and video: the data tests skip without it


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_whatever_the_worker_count(synth_root, tmp_path):
    # The fixture ran inline; this run uses a pool of 2 processes (more than 8 image tasks).
    synthpose.generate(tmp_path, images=10, videos=2, frames=8, seed=3, workers=2, progress=False)
    ours, theirs = _files(tmp_path), _files(synth_root)
    assert ours.keys() == theirs.keys() and len(ours) > 30
    assert [name for name in ours if ours[name] != theirs[name]] == []
    other = tmp_path / "other"
    synthpose.generate(other, images=2, videos=0, seed=4, workers=1, progress=False)
    assert (other / "images/train/000000000001.jpg").read_bytes() != theirs["images/train/000000000001.jpg"]


def test_coco_annotations_pass_pycocotools_and_score_perfectly(synth_root):
    layout = synthpose.SynthPoseLayout(synth_root)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = cocoapi.COCO(str(layout.annotations("train")))
        results = [
            {"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
            for a in gt.loadAnns(gt.getAnnIds())
            if a["num_keypoints"] > 0
        ]
        evaluation = COCOeval(gt, gt.loadRes(results), "keypoints")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
        gt.loadRes(str(layout.detections("train")))
        cocoapi.COCO(str(layout.video_merged("val")))
    assert evaluation.stats[0] == pytest.approx(1.0)
    annotations = gt.loadAnns(gt.getAnnIds())
    for annotation in annotations:
        flags = np.array(annotation["keypoints"]).reshape(17, 3)[:, 2]
        assert annotation["num_keypoints"] == np.count_nonzero(flags)
        assert annotation["area"] > 0 and annotation["bbox"][2] > 0 and annotation["bbox"][3] > 0
        assert set(np.unique(flags)) <= {0, 1, 2}
    assert len({a["id"] for a in annotations}) == len(annotations)
    assert len(gt.getImgIds()) == 8 and len(annotations) >= 8
    for image in gt.loadImgs(gt.getImgIds()):
        assert 320 <= image["width"] <= 480 and 256 <= image["height"] <= 416


def test_video_files_use_the_official_posetrack18_fields(synth_root):
    layout = synthpose.SynthPoseLayout(synth_root)
    files = sorted(layout.video_annotations("val").glob("*.json"))
    assert [f.name for f in files] == ["000002_synth_val.json"]
    data = json.loads(files[0].read_text())
    assert list(data) == ["categories", "images", "annotations"]
    assert data["categories"][0]["keypoints"] == list(POSETRACK18.joint_names)
    if REAL.is_dir():
        real = json.loads((REAL / "posetrack18/annotations/val/012834_mpii_test.json").read_text())
        assert set(data["images"][0]) == set(real["images"][0]) - {"mask_file"}
        assert set(data["annotations"][0]) == set(real["annotations"][0])
        assert data["categories"][0]["skeleton"] != [] and data["categories"][0]["name"] == "person"
    ids = [image["id"] for image in data["images"]]
    assert ids == [int(f"1000002{frame:04d}") for frame in range(8)] and all(len(str(i)) == 11 for i in ids)
    assert [image["file_name"] for image in data["images"]][:2] == [
        "images/val/000002_synth_val/000000.jpg",
        "images/val/000002_synth_val/000001.jpg",
    ]
    for annotation in data["annotations"]:
        flat = np.array(annotation["keypoints"]).reshape(17, 3)
        assert (flat[3:5] == 0).all()  # PoseTrack18 never labels the ears
        assert annotation["id"] // 100 == annotation["image_id"]
    loaded = synthpose.load(synth_root, "val", videos=True)
    assert list(loaded.videos) == ["000002_synth_val"] and len(loaded.videos["000002_synth_val"]) == 8
    assert all((layout.posetrack_root / image["file_name"]).is_file() for image in data["images"])


def _check_visibility(labels: np.ndarray, people, joints) -> tuple[int, int]:
    visible = occluded = 0
    for person in people:
        for name in joints:
            flag = person.visibility[name]
            x, y = person.points[name]
            if flag == 0:
                assert not (0 <= x <= labels.shape[1] - 1 and 0 <= y <= labels.shape[0] - 1)
                continue
            label = labels[int(np.floor(y + 0.5)), int(np.floor(x + 0.5))]
            own = {person_label(person.index, part) for part in OWN_PARTS[name]}
            if flag == 2:
                assert label in own, (name, label)
                visible += 1
            else:
                # Covered by something drawn later: a body part (of anyone) or a foreground occluder, never the
                # background or a distractor (both drawn before every person).
                assert label not in own and label not in (0, DISTRACTOR), (name, label)
                assert label == OCCLUDER or label >= LABEL_STRIDE
                occluded += 1
    return visible, occluded


def test_visibility_flags_agree_with_the_label_map():
    visible = occluded = 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        _, labels, people = render_image(rng, 400, 320, COCO.joint_names)
        counts = _check_visibility(labels, people, COCO.joint_names)
        visible, occluded = visible + counts[0], occluded + counts[1]
    assert visible > 100 and 0.05 < occluded / (visible + occluded) < 0.6


def _single_person(yaw: float, joints=COCO.joint_names, occlude: str | None = None):
    canvas = Canvas(np.full((300, 240, 3), 128, np.float32))
    pose = np.zeros(len(ANGLES))
    pose[ANGLES.index("left_shoulder_abduct")] = pose[ANGLES.index("right_shoulder_abduct")] = 25
    skeleton = pose_skeleton(BodyShape(), pose, Body(x=120, y=150, height=240, yaw=yaw))
    extent = draw_person(canvas, skeleton, BodyShape(), random_clothing(np.random.default_rng(0)), 0)
    if occlude:
        draw_occluder(canvas, np.random.default_rng(1), skeleton.points[occlude], np.array([20.0, 20.0]), 0)
    truth = annotate(canvas, skeleton, 0, extent, joints)
    _check_visibility(canvas.labels, [truth], joints)
    return truth.visibility, canvas


def test_frontal_person_shows_every_joint_until_occluded():
    flags, _ = _single_person(0.0)
    assert all(flag == 2 for flag in flags.values()), flags
    flags, _ = _single_person(0.0, occlude="left_wrist")
    assert flags["left_wrist"] == 1 and sum(flag == 1 for flag in flags.values()) == 1


def test_profile_and_back_views_hide_the_far_side_and_the_face():
    flags, _ = _single_person(90.0)  # facing image right: the person's left side is away from the camera
    assert flags["left_shoulder"] == 1 and flags["right_shoulder"] == 2
    assert flags["left_eye"] == 1 and flags["right_eye"] == 2 and flags["nose"] == 2
    assert flags["left_ear"] == 1 and flags["right_ear"] == 2
    flags, _ = _single_person(180.0)
    assert flags["nose"] == flags["left_eye"] == flags["right_eye"] == 1
    assert flags["left_ear"] == flags["right_ear"] == 2
    flags, _ = _single_person(0.0, POSETRACK18.joint_names)
    assert flags["head_top"] == flags["head_bottom"] == 2


def test_left_and_right_limbs_share_colours():
    _, canvas = _single_person(0.0)
    for part in ("upper_arm", "thigh", "shin", "hand"):
        means = [
            canvas.image[canvas.labels == person_label(0, f"{side}_{part}")].mean(axis=0) for side in ("left", "right")
        ]
        np.testing.assert_allclose(means[0], means[1], atol=6.0, err_msg=part)


def test_poses_respect_joint_limits_and_people_differ():
    rng = np.random.default_rng(0)
    poses = np.stack([random_pose(rng) for _ in range(500)])
    low = np.array([ANGLE_LIMITS[name][0] for name in ANGLES])
    high = np.array([ANGLE_LIMITS[name][1] for name in ANGLES])
    assert (poses >= low).all() and (poses <= high).all() and poses.std(axis=0).min() > 3
    shapes = [random_shape(rng) for _ in range(20)]
    assert len({(s.upper_arm, s.thigh, s.head_radius) for s in shapes}) == 20


def test_motion_blur_smears_fast_limbs():
    still, blurred = (Canvas(np.zeros((60, 80, 3), np.float32)) for _ in range(2))
    a, b = np.array([20.0, 30.0]), np.array([60.0, 30.0])
    draw_capsule(still, a, b, 4, 4, np.float32([255, 255, 255]), 70)
    draw_capsule(blurred, a, b, 4, 4, np.float32([255, 255, 255]), 70, blur=np.array([0.0, 12.0]))
    assert (still.labels == 70).sum() == (blurred.labels == 70).sum()  # labels keep the sharp shape
    partial = (blurred.image[..., 0] > 5) & (blurred.image[..., 0] < 150)
    assert partial.sum() > 2 * ((still.image[..., 0] > 5) & (still.image[..., 0] < 150)).sum()
    assert np.ptp(blurred.image[:, 40, 0].nonzero()[0]) > np.ptp(still.image[:, 40, 0].nonzero()[0]) + 8


def test_video_tracks_move_smoothly_and_get_occluded(synth_root):
    videos = synthpose.load(synth_root, "train", videos=True)
    tracks = videos.tracks()
    assert tracks
    steps, flips = [], 0
    for sequence in tracks.values():
        frames = list(sequence)
        assert frames == sorted(frames)
        for before, after in itertools.pairwise(frames):
            if after != before + 1:
                continue
            a, b = sequence[before], sequence[after]
            both = (a.visible > 0) & (b.visible > 0)
            steps.append(np.median(np.linalg.norm(a.keypoints - b.keypoints, axis=1)[both]) / a.box[3])
    assert steps and np.median(steps) < 0.08  # joints move a few percent of the body height per frame
    raw = json.loads(next(synthpose.SynthPoseLayout(synth_root).video_annotations("train").glob("*.json")).read_text())
    by_track: dict[int, list] = {}
    for annotation in raw["annotations"]:
        by_track.setdefault(annotation["track_id"], []).append(np.array(annotation["keypoints"]).reshape(17, 3)[:, 2])
    for flags in by_track.values():
        flips += int((np.diff(np.stack(flags), axis=0) != 0).sum())
    assert flips > 0  # visibility changes over time: occlusion comes and goes


def test_label_every_marks_a_subset_of_frames(tmp_path):
    synthpose.generate(tmp_path, images=0, videos=1, frames=5, seed=2, label_every=2, workers=1, progress=False)
    data = json.loads(next((tmp_path / "posetrack/annotations/train").glob("*.json")).read_text())
    assert [image["is_labeled"] for image in data["images"]] == [True, False, True, False, True]
    labelled = {image["id"] for image in data["images"] if image["is_labeled"]}
    assert {annotation["image_id"] for annotation in data["annotations"]} <= labelled
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["videos"] == {"train": 1, "val": 0} and manifest["label_every"] == 2
    with pytest.raises(ValueError, match="frames"):
        synthpose.generate(tmp_path, images=1, frames=0)
