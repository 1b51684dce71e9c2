"""Malformed ground truth and predictions are named errors (file, record, field, what was found and expected)."""

from __future__ import annotations

import json

import pytest
import torch
from samples import FIXTURES

from vipnas.cli import main
from vipnas.data.posetrack import load_posetrack_videos
from vipnas.evaluation.inference import run_inference
from vipnas.evaluation.pipeline import evaluate_model
from vipnas.evaluation.posetrack import read_posetrack_video

COCO_FILE = FIXTURES / "coco" / "test_coco.json"
VIDEO_FILE = FIXTURES / "posetrack18" / "annotations" / "val" / "003418_mpii_test.json"


def _predictions(tmp_path, **changes):
    gt = json.loads(COCO_FILE.read_text())
    results = [
        {"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 0.9}
        for a in gt["annotations"]
    ]
    results[2].update(changes)
    path = tmp_path / "preds.json"
    path.write_text(json.dumps(results))
    return path


@pytest.mark.parametrize(
    ("score", "found"),
    [("high", "score is 'high' (str)"), (None, "score is None (NoneType)"), ([0.9], "score is a list [0.9]"),
     (True, "score is True (bool)")],
)  # fmt: skip
def test_non_numeric_score_names_the_record(tmp_path, capsys, score, found) -> None:
    path = _predictions(tmp_path, score=score)
    assert main(["eval", "--preds", str(path), "--ann", str(COCO_FILE), "--data", "COCO"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"vipnas eval: error: {path}: record 2 (image id 40083): {found}, expected a number"


def test_non_numeric_keypoint_names_the_entry(tmp_path, capsys) -> None:
    keypoints = json.loads(COCO_FILE.read_text())["annotations"][2]["keypoints"]
    path = _predictions(tmp_path, keypoints=[*keypoints[:4], "x", *keypoints[5:]])
    assert main(["eval", "--preds", str(path), "--ann", str(COCO_FILE), "--data", "COCO"]) == 1
    assert "record 2 (image id 40083): keypoints[4] is 'x' (str), expected a number" in capsys.readouterr().err


def _video(tmp_path, **image_changes):
    data = json.loads(VIDEO_FILE.read_text())
    data["images"][0].update(image_changes)
    folder = tmp_path / "val"
    folder.mkdir(exist_ok=True)
    path = folder / VIDEO_FILE.name
    path.write_text(json.dumps(data))
    return path, data["images"][0]


def test_ignore_regions_of_unequal_length(tmp_path) -> None:
    image = json.loads(VIDEO_FILE.read_text())["images"][0]
    xs, ys = image["ignore_regions_x"], image["ignore_regions_y"]
    path, _ = _video(tmp_path, ignore_regions_y=ys[:-1])
    message = rf"{path.name}: images\[0\]: ignore_regions_x has {len(xs)} regions and ignore_regions_y {len(ys) - 1}"
    with pytest.raises(ValueError, match=message):
        read_posetrack_video(path, prediction=False)
    with pytest.raises(ValueError, match=message):  # the training/data loader no longer drops them silently
        load_posetrack_videos(path.parent, tmp_path)
    path, _ = _video(tmp_path, ignore_regions_y=[ys[0][:-2], *ys[1:]])
    message = rf"images\[0\]: ignore region 0 has {len(xs[0])} x and {len(xs[0]) - 2} y coordinates"
    with pytest.raises(ValueError, match=message):
        read_posetrack_video(path, prediction=False)
    path, _ = _video(tmp_path, ignore_regions_x=[["a"] * len(xs[0]), *xs[1:]])
    with pytest.raises(ValueError, match=r"ignore_regions_x\[0\]\[0\] is 'a' \(str\), expected a number"):
        read_posetrack_video(path, prediction=False)


def test_well_formed_ignore_regions_still_load(tmp_path) -> None:
    frames = read_posetrack_video(VIDEO_FILE, prediction=False)
    assert len(frames[0].regions) == 9 and frames[0].regions[0].shape == (66, 2)


def test_empty_evaluation_names_the_input(tmp_path) -> None:
    import vipnas

    gt = json.loads(COCO_FILE.read_text())
    gt["annotations"] = []
    ann = tmp_path / "empty.json"
    ann.write_text(json.dumps(gt))
    model = vipnas.create_model("s_vipnas_mbv3", input_size=(64, 64))
    with pytest.raises(ValueError, match=r"empty\.json: no person instance to evaluate"):
        evaluate_model(model, "COCO", ann, FIXTURES / "coco")


def test_loader_without_batches_names_its_annotation_file() -> None:
    from vipnas.data.coco import load_coco
    from vipnas.data.dataset import TopDownDataset, build_loader

    annotations = load_coco(COCO_FILE, FIXTURES / "coco")
    dataset = TopDownDataset(annotations, input_size=(64, 64))
    loader = build_loader(dataset, batch_size=len(dataset) + 1, drop_last=True)  # fewer crops than one batch
    with pytest.raises(ValueError, match=r"the loader over .*test_coco\.json \(\d+ person instances\) yielded no"):
        run_inference(torch.nn.Identity(), loader, flip=False)
