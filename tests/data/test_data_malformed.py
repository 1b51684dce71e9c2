"""Malformed annotation files that used to give silently wrong metrics: each is now a named error (or, for image
sizes, a warning naming the file and the size used). Small synthetic files, so these run without ../shared."""

from __future__ import annotations

import copy
import json
import logging

import numpy as np
import pytest

from vipnas.data.coco import load_coco, load_detections
from vipnas.data.files import encode_jpeg, read_image_size
from vipnas.data.mpii import load_mpii
from vipnas.data.posetrack import load_posetrack_videos
from vipnas.evaluation import evaluate_posetrack_folder, load_coco_ground_truth
from vipnas.evaluation.posetrack import POSEVAL_JOINTS


def _person(annotation_id: int, image_id: int, x: float, y: float, **extra) -> dict:
    """A 17-joint person whose joints lie on a line inside the box (x, y, 40, 80)."""
    keypoints = [v for k in range(17) for v in (x + 2 + 2 * k, y + 4 * k + 2, 2)]
    return {"id": annotation_id, "image_id": image_id, "bbox": [x, y, 40, 80], "keypoints": keypoints,
            "num_keypoints": 17, "area": 3200.0, "iscrowd": 0, "category_id": 1, **extra}  # fmt: skip


def _coco() -> dict:
    return {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 200, "height": 100},
                   {"id": 2, "file_name": "b.jpg", "width": 200, "height": 100}],
        "annotations": [_person(10, 1, 5, 5), _person(11, 1, 60, 10), _person(12, 2, 100, 10)],
        "categories": [{"id": 1, "name": "person"}],
    }  # fmt: skip


def _both(tmp_path, data):
    """Run the loader and the evaluator on ``data``; returns their errors' messages."""
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(data))
    messages = []
    for load in (lambda: load_coco(path, tmp_path), lambda: load_coco_ground_truth(path)):
        with pytest.raises(ValueError) as error:
            load()
        messages.append(str(error.value))
    return messages


def test_clean_file_loads_in_loader_and_evaluator(tmp_path) -> None:
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(_coco()))
    assert len(load_coco(path, tmp_path)) == 3 and len(load_coco_ground_truth(path).getAnnIds()) == 3


def test_duplicate_annotation_ids_are_named(tmp_path) -> None:
    data = _coco()
    data["annotations"][2]["id"] = 10  # pycocotools' index would keep only one of the two persons
    for message in _both(tmp_path, data):
        assert "annotations[0] and annotations[2] have the same id 10" in message and "ann.json" in message


def test_duplicate_image_ids_are_named(tmp_path) -> None:
    data = _coco()
    data["images"][1]["id"] = 1  # b.jpg's person would be attributed to a.jpg
    for message in _both(tmp_path, data):
        assert "images[0] and images[1] have the same id 1" in message


@pytest.mark.parametrize("where", ["image", "annotation"])
def test_string_image_ids_are_named(tmp_path, where) -> None:
    data = _coco()
    if where == "image":
        data["images"][1]["id"] = "2"  # the loader int()ed it, pycocotools never matched it
        expected = "images[1]: id must be an integer, got '2' (str)"
    else:
        data["annotations"][2]["image_id"] = "2"
        expected = "annotations[2]): image_id must be an integer, got '2' (str)"
    for message in _both(tmp_path, data):
        assert expected in message


def _posetrack_video(tmp_path, annotations) -> None:
    folder = tmp_path / "val"
    folder.mkdir(exist_ok=True)
    names = [*POSEVAL_JOINTS, "left_ear", "right_ear"]
    data = {
        "images": [{"id": 10001230000, "file_name": "images/val/000123/000000.jpg", "vid_id": "000123",
                    "frame_id": 10001230000, "is_labeled": True}],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person", "keypoints": names}],
    }  # fmt: skip
    (folder / "000123.json").write_text(json.dumps(data))
    return folder


def test_posetrack_annotation_listed_twice_is_named(tmp_path) -> None:
    first = _person(1, 10001230000, 10, 10, track_id=0, bbox_head=[10, 10, 20, 20])
    second = _person(2, 10001230000, 100, 10, track_id=1, bbox_head=[100, 10, 20, 20])
    folder = _posetrack_video(tmp_path, [first, second])
    assert len(load_posetrack_videos(folder, tmp_path)) == 2
    predictions = tmp_path / "pred"
    predictions.mkdir()
    (predictions / "000123.json").write_text((folder / "000123.json").read_text())
    assert evaluate_posetrack_folder(folder, predictions)["Total"] == 100.0
    for copied in (dict(first), dict(first, id=3)):  # the same record twice, or a copy under a new id
        _posetrack_video(tmp_path, [first, second, copied])
        with pytest.raises(ValueError, match=r"000123\.json: annotation") as loader:
            load_posetrack_videos(folder, tmp_path)
        with pytest.raises(ValueError, match=r"000123\.json") as evaluator:
            evaluate_posetrack_folder(folder, predictions)  # poseval would count a missed third person
        for error in (loader, evaluator):
            assert "same id 1" in str(error.value) or "track_id 0" in str(error.value)


def test_image_larger_than_its_json_size_warns_and_uses_the_file(tmp_path, caplog) -> None:
    (tmp_path / "a.jpg").write_bytes(encode_jpeg(np.zeros((100, 200, 3), np.uint8)))
    assert read_image_size(tmp_path / "a.jpg") == (200, 100)
    data = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 50}],  # the file is 200 x 100
        "annotations": [_person(10, 1, 5, 5), _person(11, 1, 120, 10)],  # the second lies beyond x = 100
        "categories": [{"id": 1, "name": "person"}],
    }
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(data))
    with caplog.at_level(logging.WARNING, logger="vipnas.data"):
        annotations = load_coco(path, tmp_path)
    assert len(annotations) == 2  # the second person used to be dropped without a word
    assert annotations.images[1].width == 200 and annotations.images[1].height == 100
    np.testing.assert_allclose(annotations.instances[1].box, [120, 10, 40, 80])
    message = caplog.text
    assert "states 100x50" in message and str(tmp_path / "a.jpg") in message
    assert "using the file's size 200x100" in message
    caplog.clear()
    consistent = copy.deepcopy(data)
    consistent["images"][0].update(width=200, height=100)
    path.write_text(json.dumps(consistent))
    with caplog.at_level(logging.WARNING, logger="vipnas.data"):
        assert len(load_coco(path, tmp_path)) == 2
    assert not caplog.text


def test_detector_boxes_of_negative_size_are_named(tmp_path) -> None:
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(_coco()))
    annotations = load_coco(path, tmp_path)
    detections = tmp_path / "det.json"
    good = {"image_id": 1, "category_id": 1, "bbox": [5, 5, 40, 80], "score": 0.9}
    detections.write_text(json.dumps([good]))
    assert len(load_detections(detections, annotations)) == 1
    for bbox in ([5, 5, -40, 80], [5, 5, 40, 0], [5, 5, float("nan"), 80]):
        detections.write_text(json.dumps([good, {**good, "bbox": bbox}]))
        with pytest.raises(ValueError, match=r"det\.json: detection \[1\]: bbox .* positive width and height"):
            load_detections(detections, annotations)


def test_mpii_negative_scale_is_named(tmp_path) -> None:
    record = {"image": "005808361.jpg", "center": [100.0, 120.0], "scale": 1.5,
              "joints": [[50.0 + k, 60.0 + k] for k in range(16)], "joints_vis": [1] * 16}  # fmt: skip
    path = tmp_path / "mpii.json"
    path.write_text(json.dumps([record]))
    assert load_mpii(path, tmp_path).instances[0].box[2] == pytest.approx(300.0)
    for scale in (-1.5, 0.0):
        path.write_text(json.dumps([record, {**record, "scale": scale}]))
        with pytest.raises(ValueError, match=r"mpii\.json: record \[1\] \(image 005808361\.jpg\): scale .* positive"):
            load_mpii(path, tmp_path)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [("bbox", [5.0, 5.0, float("nan"), 80.0], "bbox"), ("bbox", [5.0, float("inf"), 40.0, 80.0], "bbox"),
     ("area", float("nan"), "area")],
)  # fmt: skip
def test_non_finite_ground_truth_boxes_are_named_not_reported_as_predictions(tmp_path, key, value, expected) -> None:
    """A NaN box used to crop NaN pixels and then fail as "predictions: ... non-finite keypoints"."""
    data = _coco()
    data["annotations"][1][key] = value  # json writes NaN / Infinity, which Python's reader accepts
    for message in _both(tmp_path, data):
        assert "annotation id 11 (annotations[1])" in message and expected in message and "non-finite" in message
        assert "predictions" not in message
