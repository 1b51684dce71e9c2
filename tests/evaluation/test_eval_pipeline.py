"""End to end: loader → network (flip test) → decode → back-projection → metrics, and the ``vipnas eval`` CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from samples import REAL

from vipnas.cli import main
from vipnas.data.coco import load_coco
from vipnas.data.transforms import box_xywh_to_center_scale
from vipnas.evaluation import COCO_METRICS, POSETRACK_METRICS
from vipnas.evaluation.pipeline import evaluate_model
from vipnas.models.metadata import ModelMetadata

SAMPLES = REAL
COCO_FILE = SAMPLES / "coco" / "test_coco.json"


class CentreBlob(torch.nn.Module):
    """Predicts every joint at the centre pixel (24, 32) of a 48 × 64 heatmap, whatever the image."""

    def __init__(self) -> None:
        super().__init__()
        self.metadata = ModelMetadata(name="centre_blob")
        # Mirror-symmetric to the last bit by construction (vectorised exp may round equal inputs differently
        # in different SIMD lanes, and the quarter-pixel refinement would turn that into a 1/4 px shift).
        values = np.exp(-(np.arange(33.0) ** 2) / 8)
        rows, columns = values[np.abs(np.arange(64) - 32)], values[np.abs(np.arange(48) - 24)]
        self.register_buffer("blob", torch.from_numpy(np.outer(rows, columns)).float())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.blob.expand(len(images), 17, 64, 48) * images.new_ones(1)


def test_keypoints_are_back_projected_into_the_image(tmp_path: Path) -> None:
    gt = json.loads(COCO_FILE.read_text())  # the images at hand: all 4 with ../shared, 000000000785.jpg without
    gt["images"] = [image for image in gt["images"] if (SAMPLES / "coco" / image["file_name"]).is_file()]
    present = {image["id"] for image in gt["images"]}
    gt["annotations"] = [a for a in gt["annotations"] if a["image_id"] in present]
    annotation = tmp_path / "gt.json"
    annotation.write_text(json.dumps(gt))
    metrics, predictions = evaluate_model(CentreBlob(), "COCO", annotation, SAMPLES / "coco", out_dir=tmp_path)
    instances = load_coco(annotation, SAMPLES / "coco").instances
    expected = {4: 12, 1: 1}[len(present)]  # GT boxes of persons with keypoints
    assert len(predictions) == len(instances) == expected
    centers, scales = box_xywh_to_center_scale(np.stack([i.box for i in instances]), 192 / 256)
    # heatmap (24, 32) → input (96, 128), the crop centre → the box centre; flip + shift lands on the same pixel
    np.testing.assert_allclose(predictions.keypoints, np.repeat(centers[:, None], 17, axis=1), atol=1e-6)
    np.testing.assert_allclose(predictions.areas, scales.prod(axis=1))
    np.testing.assert_allclose(predictions.keypoint_scores, 1.0, atol=1e-6)
    assert set(metrics) == set(COCO_METRICS) and metrics["AP"] < 0.1
    assert len(json.loads((tmp_path / "keypoints.json").read_text())) >= 1


def _cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_evaluates_coco_results_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt = json.loads(COCO_FILE.read_text())
    results = [
        {"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
        for a in gt["annotations"]
        if a["num_keypoints"] > 0
    ]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    metrics = _cli_json(capsys, "eval", "--preds", str(path), "--ann", str(COCO_FILE), "--data", "coco", "--json")
    assert list(metrics) == list(COCO_METRICS) and metrics["AP"] == 1.0
    assert main(["eval", "--preds", str(path), "--ann", str(COCO_FILE), "--data", "COCO"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == " | ".join(COCO_METRICS).split() and "1.000" in table[1]
    results[3]["keypoints"] = results[3]["keypoints"][:-3]
    path.write_text(json.dumps(results))
    assert main(["eval", "--preds", str(path), "--ann", str(COCO_FILE), "--data", "COCO"]) == 1
    assert "record 3" in capsys.readouterr().err


def test_cli_evaluates_posetrack_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    videos = SAMPLES / "posetrack18" / "annotations" / "val"
    for path in videos.glob("*.json"):
        data = json.loads(path.read_text())
        for track, ann in enumerate(data["annotations"]):
            ann["scores"], ann["track_id"] = [1.0] * 17, track
        (tmp_path / path.name).write_text(json.dumps(data))
    argv = [
        "eval",
        "--preds",
        str(tmp_path),
        "--ann",
        str(videos),
        "--data",
        "posetrack",
        "--json",
        "--out",
        str(tmp_path / "o"),
    ]
    metrics = _cli_json(capsys, *argv)
    assert list(metrics) == list(POSETRACK_METRICS) and metrics["Total"] == 100.0
    assert json.loads((tmp_path / "o" / "metrics.json").read_text())["joint_ap"]["nose"] == 100.0


def test_cli_requires_model_or_predictions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--ann", str(COCO_FILE), "--data", "COCO"]) == 1
    assert "either a model" in capsys.readouterr().err


def test_cli_runs_a_registered_model_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt = json.loads(COCO_FILE.read_text())
    gt["annotations"] = [a for a in gt["annotations"] if a["image_id"] == 785]  # one person: keep it fast
    gt["images"] = [i for i in gt["images"] if i["id"] == 785]
    ann = tmp_path / "one.json"
    ann.write_text(json.dumps(gt))
    argv = ["eval", "s_vipnas_mbv3", "--data", "COCO", "--ann", str(ann), "--images", str(SAMPLES / "coco")]
    metrics = _cli_json(capsys, *argv, "--json", "--workers", "0", "--out", str(tmp_path / "out"))
    assert list(metrics) == list(COCO_METRICS)
    assert len(json.loads((tmp_path / "out" / "keypoints.json").read_text())) == 1


def test_cli_nms_option_selects_the_instance_nms(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import vipnas

    gt = json.loads(COCO_FILE.read_text())
    gt["annotations"] = [a for a in gt["annotations"] if a["image_id"] == 785]
    gt["images"] = [i for i in gt["images"] if i["id"] == 785]
    ann = tmp_path / "one.json"
    ann.write_text(json.dumps(gt))
    x, y, w, h = gt["annotations"][0]["bbox"]
    detections = tmp_path / "det.json"  # the same person detected twice, one pixel apart
    boxes = [([x, y, w, h], 0.9), ([x + 1, y + 1, w, h], 0.8)]
    detections.write_text(json.dumps([{"image_id": 785, "category_id": 1, "bbox": b, "score": s} for b, s in boxes]))
    model = vipnas.create_model("s_vipnas_mbv3")
    final = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    with torch.no_grad():  # flat heatmaps: every joint at the crop's corner, so the two predictions overlap
        final.weight.zero_()
        final.bias.fill_(1.0)
    checkpoint = vipnas.save_model(model, tmp_path / "flat.pth")
    results = {}
    for nms in ("oks", "soft", "none"):
        argv = ["eval", str(checkpoint), "--data", "COCO", "--ann", str(ann), "--images", str(SAMPLES / "coco"),
                "--det-boxes", str(detections), "--nms", nms, "--workers", "0", "--json",
                "--out", str(tmp_path / nms)]  # fmt: skip
        _cli_json(capsys, *argv)
        results[nms] = json.loads((tmp_path / nms / "keypoints.json").read_text())
    assert len(results["oks"]) == 1 and len(results["none"]) == 2  # --nms was parsed and ignored: always "oks"
    kept, decayed = sorted(results["soft"], key=lambda r: -r["score"])
    undecayed = sorted(r["score"] for r in results["none"])
    assert kept["score"] == pytest.approx(undecayed[1]) and decayed["score"] < 0.5 * undecayed[0]
