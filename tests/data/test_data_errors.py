"""Malformed input fails with a message naming the file, the record and what was expected."""

import copy
import json
import shutil

import pytest
from samples import SHARED

from vipnas.cli import main
from vipnas.data.coco import load_coco, load_detections
from vipnas.data.dataset import TopDownDataset
from vipnas.data.files import read_image, read_json
from vipnas.data.mpii import load_mpii
from vipnas.data.posetrack import load_posetrack_videos

REAL = SHARED  # every image and video: the data tests skip without it
pytestmark = pytest.mark.skipif(not REAL.is_dir(), reason=f"real samples not found at {REAL}")


@pytest.fixture()
def coco_copy(tmp_path):
    """A writable copy of the COCO sample: (annotation path, image folder, parsed data)."""
    images = tmp_path / "images"
    shutil.copytree(REAL / "coco", images, ignore=shutil.ignore_patterns("*.json"))
    return tmp_path / "broken.json", images, json.loads((REAL / "coco" / "test_coco.json").read_text())


def _write(path, data):
    path.write_text(json.dumps(data))
    return path


def test_missing_annotation_key_names_file_and_id(coco_copy):
    path, images, data = coco_copy
    del data["annotations"][3]["keypoints"]
    with pytest.raises(ValueError, match=rf"broken\.json: annotation id {data['annotations'][3]['id']} .*'keypoints'"):
        load_coco(_write(path, data), images)


def test_wrong_keypoint_count(coco_copy):
    path, images, data = coco_copy
    data["annotations"][0]["keypoints"] = data["annotations"][0]["keypoints"][:-3]
    with pytest.raises(
        ValueError, match=r"annotation id 442619 .*expected 51 keypoint values \(17 COCO joints.*got 48"
    ):
        load_coco(_write(path, data), images)
    data["annotations"][0]["keypoints"] = ["a"] * 51
    with pytest.raises(ValueError, match=r"annotation id 442619.*list of numbers"):
        load_coco(_write(path, data), images)


def test_unknown_image_and_missing_top_level_keys(coco_copy):
    path, images, data = coco_copy
    broken = copy.deepcopy(data)
    broken["annotations"][1]["image_id"] = 123
    with pytest.raises(ValueError, match=r"broken\.json: annotation id .*image_id 123 is not in the file's images"):
        load_coco(_write(path, broken), images)
    del data["images"]
    with pytest.raises(ValueError, match=r"broken\.json: missing key\(s\) \['images'\]"):
        load_coco(_write(path, data), images)


def test_bad_json_and_missing_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match=r"bad\.json: not valid JSON"):
        load_coco(bad, tmp_path)
    with pytest.raises(FileNotFoundError, match=r"nothing\.json does not exist"):
        load_coco(tmp_path / "nothing.json", tmp_path)


def test_missing_and_unreadable_images_name_the_record(coco_copy):
    path, images, data = coco_copy
    annotations = load_coco(_write(path, data), images)
    dataset = TopDownDataset(annotations)
    (images / "000000000785.jpg").unlink()
    with pytest.raises(
        FileNotFoundError, match=r"000000000785\.jpg does not exist.*image id 785, annotation id 442619"
    ):
        dataset[0]
    (images / "000000000785.jpg").write_bytes(b"this is not a jpeg")
    with pytest.raises(ValueError, match=r"000000000785\.jpg cannot be decoded.*image id 785"):
        dataset[0]
    with pytest.raises(FileNotFoundError, match=r"missing\.png"):
        read_image(images / "missing.png")


def test_detection_errors(coco_copy, tmp_path):
    path, images, data = coco_copy
    annotations = load_coco(_write(path, data), images)
    results = json.loads((REAL / "coco" / "test_coco_det_AP_H_56.json").read_text())
    del results[5]["score"]
    with pytest.raises(ValueError, match=r"dets\.json: detection \[5\]: missing key\(s\) \['score'\]"):
        load_detections(_write(tmp_path / "dets.json", results), annotations)
    results[5]["score"] = 0.9
    results[7]["image_id"] = 42
    with pytest.raises(ValueError, match=r"detection \[7\]: image_id 42 is not in"):
        load_detections(_write(tmp_path / "dets.json", results), annotations)
    with pytest.raises(ValueError, match="expected a JSON list"):
        load_detections(_write(tmp_path / "dets.json", {"a": 1}), annotations)


def test_mpii_errors(tmp_path):
    records = read_json(REAL / "mpii" / "test_mpii.json")
    records[2]["joints"] = records[2]["joints"][:15]
    with pytest.raises(ValueError, match=r"mpii\.json: record \[2\] \(image .*\.jpg\): expected 16 MPII joints"):
        load_mpii(_write(tmp_path / "mpii.json", records), tmp_path)
    del records[1]["center"]
    with pytest.raises(ValueError, match=r"record \[1\]: missing key\(s\) \['center'\]"):
        load_mpii(_write(tmp_path / "mpii.json", records), tmp_path)


def test_posetrack_video_file_errors(tmp_path):
    folder = tmp_path / "val"
    folder.mkdir()
    data = read_json(REAL / "posetrack18" / "annotations" / "val" / "012834_mpii_test.json")
    data["annotations"][4]["keypoints"] = data["annotations"][4]["keypoints"] + [0]
    _write(folder / "012834_mpii_test.json", data)
    with pytest.raises(ValueError, match=r"012834_mpii_test\.json: annotation id 1012834000004 .*expected 51"):
        load_posetrack_videos(folder, REAL / "posetrack18")
    del data["annotations"]
    _write(folder / "012834_mpii_test.json", data)
    with pytest.raises(ValueError, match=r"012834_mpii_test\.json: missing key\(s\) \['annotations'\]"):
        load_posetrack_videos(folder, REAL / "posetrack18")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no PoseTrack18 video files"):
        load_posetrack_videos(empty, REAL)


def test_cli_reports_errors_without_traceback(tmp_path, capsys):
    assert main(["contact-sheet", str(tmp_path / "missing.json"), "--out", str(tmp_path / "x.png")]) == 1
    assert "missing.json does not exist" in capsys.readouterr().err
    assert main(["synth", "--out", str(tmp_path / "s"), "--images", "-1"]) == 1
    assert "images >= 0" in capsys.readouterr().err
