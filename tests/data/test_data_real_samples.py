"""Every real sample file loads, with its ids, filters and visibility conventions kept."""

import json

import cv2
import numpy as np
import pytest
from samples import SHARED

from vipnas.data.coco import load_coco, load_detections
from vipnas.data.files import read_image, read_json
from vipnas.data.load import load_annotations
from vipnas.data.metadata import CROWDPOSE, MPII, POSETRACK18
from vipnas.data.mpii import load_mpii
from vipnas.data.posetrack import load_posetrack_videos

REAL = SHARED  # every image and video: the data tests skip without it
pytestmark = pytest.mark.skipif(not REAL.is_dir(), reason=f"real samples not found at {REAL}")


def test_coco_ground_truth_skips_empty_and_keeps_ids():
    data = read_json(REAL / "coco" / "test_coco.json")
    annotations = load_coco(REAL / "coco" / "test_coco.json", REAL / "coco")
    expected = [a for a in data["annotations"] if not a["iscrowd"] and a["num_keypoints"] > 0]
    assert len(annotations) == len(expected) == 12  # two of the 14 persons have no labelled joint
    assert [i.annotation_id for i in annotations.instances] == [a["id"] for a in expected]
    assert set(annotations.images) == {785, 40083, 196141, 197388}
    first = annotations.instances[0]
    assert first.image.image_id == 785 and first.image.width == 640 and first.image.height == 425
    raw = np.asarray(expected[0]["keypoints"], float).reshape(17, 3)
    np.testing.assert_allclose(first.keypoints, raw[:, :2])
    np.testing.assert_array_equal(first.visible, np.minimum(raw[:, 2], 1))
    assert set(np.unique(np.concatenate([i.visible for i in annotations.instances]))) <= {0.0, 1.0}
    assert first.area == pytest.approx(expected[0]["area"])
    for instance in annotations.instances:  # boxes clipped into the image
        x, y, w, h = instance.box
        assert x >= 0 and y >= 0 and x + w <= instance.image.width - 1 and y + h <= instance.image.height - 1


def test_coco_every_image_reads_as_rgb():
    annotations = load_coco(REAL / "coco" / "test_coco.json", REAL / "coco")
    for image in annotations.images.values():
        pixels = read_image(image.path)
        assert pixels.shape == (image.height, image.width, 3) and pixels.dtype == np.uint8
    bgr = cv2.imread(str(REAL / "coco" / "000000000785.jpg"))
    np.testing.assert_array_equal(read_image(REAL / "coco" / "000000000785.jpg"), bgr[..., ::-1])


def test_detections_threshold_and_scores():
    annotations = load_coco(REAL / "coco" / "test_coco.json", REAL / "coco")
    every = load_detections(REAL / "coco" / "test_coco_det_AP_H_56.json", annotations)
    raw = read_json(REAL / "coco" / "test_coco_det_AP_H_56.json")
    assert len(every) == len(raw) == 118
    confident = load_detections(REAL / "coco" / "test_coco_det_AP_H_56.json", annotations, score_threshold=0.5)
    assert len(confident) == sum(d["score"] >= 0.5 for d in raw) < len(every)
    assert all(i.box_score >= 0.5 and not i.visible.any() for i in confident.instances)
    assert every.instances[0].box_score == pytest.approx(raw[0]["score"])
    crowd = load_coco(REAL / "crowdpose" / "test_crowdpose.json", REAL / "crowdpose", "CROWDPOSE")
    assert len(load_detections(REAL / "crowdpose" / "test_crowdpose_det_AP_40.json", crowd)) == 6


def test_crowdpose_fourteen_joints_and_area_fallback():
    annotations = load_coco(REAL / "crowdpose" / "test_crowdpose.json", REAL / "crowdpose", "CROWDPOSE")
    assert annotations.info is CROWDPOSE and len(annotations) == 4
    assert all(i.keypoints.shape == (14, 2) for i in annotations.instances)
    first = annotations.instances[0]  # CrowdPose has no `area`: the clipped box area stands in
    assert first.area == pytest.approx(first.box[2] * first.box[3])
    for image in annotations.images.values():
        assert read_image(image.path).shape[:2] == (image.height, image.width)


def test_mpii_converts_matlab_centre_and_scale():
    annotations = load_mpii(REAL / "mpii" / "test_mpii.json", REAL / "mpii")
    raw = read_json(REAL / "mpii" / "test_mpii.json")
    assert annotations.info is MPII and len(annotations) == 5
    assert sorted(annotations.images) == sorted(int(r["image"][:-4]) for r in raw)
    first, record = annotations.instances[0], raw[0]
    side = record["scale"] * 200
    center = np.array(record["center"]) + np.array([0, 15 * record["scale"]]) - 1
    np.testing.assert_allclose(first.box, [*(center - side / 2), side, side])
    np.testing.assert_allclose(first.keypoints, np.array(record["joints"]) - 1)
    for image in annotations.images.values():
        assert read_image(image.path).ndim == 3


def test_mpii_trb_is_rejected_with_a_clear_message():
    # MPII-TRB (40 joints) is not a supported convention: loading it as MPII must say why, not crash.
    with pytest.raises(ValueError, match=r"test_mpii_trb\.json.*expected 48 keypoint values.*got 120"):
        load_coco(REAL / "mpii" / "test_mpii_trb.json", REAL / "mpii", "MPII")


def test_posetrack_official_video_files_keep_ids_and_order():
    annotations = load_posetrack_videos(REAL / "posetrack18" / "annotations" / "val", REAL / "posetrack18")
    assert annotations.info is POSETRACK18
    assert sorted(annotations.images) == [10034180000, 10094730000, 10128340000]
    assert set(annotations.videos) == {"003418_mpii_test", "009473_mpii_test", "012834_mpii_test"}
    raw = read_json(REAL / "posetrack18" / "annotations" / "val" / "012834_mpii_test.json")
    ids = [i.annotation_id for i in annotations.instances if i.image.video == "012834_mpii_test"]
    assert ids == [a["id"] for a in raw["annotations"]] and ids[0] == 1012834000000
    image = annotations.images[10128340000]
    assert image.is_labeled and image.frame_index == 0 and len(image.ignore_regions) == 4
    assert image.ignore_regions[0].shape[1] == 2
    tracks = annotations.tracks()
    assert ("012834_mpii_test", 10) in tracks and len(tracks) == 14
    first = next(i for i in annotations.instances if i.image.video == "012834_mpii_test")
    np.testing.assert_allclose(first.head_box, raw["annotations"][0]["bbox_head"])
    assert read_image(image.path).shape == (1080, 1920, 3)
    for mask in (REAL / "posetrack18" / "mask" / "val").glob("*/*.jpg"):
        assert read_image(mask).shape[:2] == (1080, 1920)


def test_posetrack_merged_file_matches_the_video_files():
    merged = load_coco(REAL / "posetrack18/annotations/test_posetrack18_val.json", REAL / "posetrack18", "posetrack18")
    videos = load_posetrack_videos(REAL / "posetrack18/annotations/val", REAL / "posetrack18")
    assert set(merged.images) == set(videos.images)
    key = lambda i: i.annotation_id  # noqa: E731
    for a, b in zip(sorted(merged.instances, key=key), sorted(videos.instances, key=key), strict=True):
        assert a.image.image_id == b.image.image_id and a.track_id == b.track_id
        assert a.image.video == b.image.video
        np.testing.assert_allclose(a.keypoints, b.keypoints)
    detections = load_detections(REAL / "posetrack18/annotations/test_posetrack18_human_detections.json", merged)
    assert len(detections) == 278 and {i.image.image_id for i in detections.instances} <= set(merged.images)


def test_load_annotations_recognises_every_format():
    cases = {
        "coco/test_coco.json": ("COCO", 12),
        "crowdpose/test_crowdpose.json": ("CROWDPOSE", 4),
        "mpii/test_mpii.json": ("MPII", 5),
        "posetrack18/annotations/test_posetrack18_val.json": ("POSETRACK18", 14),
    }
    for name, (dataset, count) in cases.items():
        root = REAL / "posetrack18" if "posetrack" in name else None
        annotations = load_annotations(REAL / name, root)
        assert (annotations.info.name, len(annotations)) == (dataset, count), name
    videos = load_annotations(REAL / "posetrack18" / "annotations" / "val")
    assert len(videos) == 14 and all(i.image.path.is_file() for i in videos.instances)


def test_video_samples_decode():
    frames = sorted((REAL / "posetrack18" / "videos" / "000001_mpiinew_test").glob("*.jpg"))
    assert [f.stem for f in frames] == ["000000", "000001", "000002", "000003", "000004"]
    shapes = {read_image(f).shape for f in frames}
    assert len(shapes) == 1
    for video in (REAL / "video" / "demo.mp4", REAL / "posetrack18/videos/000001_mpiinew_test/000001_mpiinew_test.mp4"):
        capture = cv2.VideoCapture(str(video))
        ok, frame = capture.read()
        capture.release()
        assert ok and frame.ndim == 3, video


def test_real_json_files_are_all_covered():
    covered = {
        "coco/test_coco.json", "coco/test_coco_det_AP_H_56.json", "crowdpose/test_crowdpose.json",
        "crowdpose/test_crowdpose_det_AP_40.json", "mpii/test_mpii.json", "mpii/test_mpii_trb.json",
        "posetrack18/annotations/test_posetrack18_val.json",
        "posetrack18/annotations/test_posetrack18_human_detections.json",
        "posetrack18/annotations/val/003418_mpii_test.json", "posetrack18/annotations/val/009473_mpii_test.json",
        "posetrack18/annotations/val/012834_mpii_test.json",
    }  # fmt: skip
    found = {str(p.relative_to(REAL)) for p in REAL.rglob("*.json")}
    assert found == covered
    for name in found:
        json.loads((REAL / name).read_text())
