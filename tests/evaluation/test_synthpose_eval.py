"""The evaluators and codecs on SynthPose: COCO AP equals pycocotools, PoseTrack18 AP by hand, codec round trip."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from vipnas.codec import MSRAHeatmap
from vipnas.data import synthpose
from vipnas.data.dataset import TopDownDataset
from vipnas.data.metadata import COCO as COCO_INFO
from vipnas.evaluation import COCO_METRICS, POSETRACK_METRICS, PosePredictions, evaluate_coco, evaluate_posetrack_folder


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> synthpose.SynthPoseLayout:
    root = tmp_path_factory.mktemp("synthpose")
    with contextlib.redirect_stderr(io.StringIO()):
        return synthpose.generate(root, images=12, videos=2, frames=5, seed=3, workers=1)


def test_coco_ap_on_synthpose_equals_pycocotools(layout: synthpose.SynthPoseLayout) -> None:
    path = layout.annotations("train")
    gt = json.loads(path.read_text())
    anns = [a for a in gt["annotations"] if a["num_keypoints"] > 0]
    rng = np.random.default_rng(0)
    points = np.array([a["keypoints"] for a in anns], float).reshape(len(anns), 17, 3)[..., :2]
    sizes = np.sqrt([a["area"] for a in anns])
    noisy = points + rng.normal(0, 1, points.shape) * sizes[:, None, None] * rng.uniform(0.01, 0.06, (len(anns), 1, 1))
    count = len(anns)
    joint_scores = rng.uniform(0.3, 1, (count, 17))
    predictions = PosePredictions(
        [a["image_id"] for a in anns], noisy, joint_scores, np.ones(count), np.ones(count), np.arange(count)
    )
    ours = evaluate_coco(path, predictions, nms="none")
    results = [
        {
            "image_id": a["image_id"],
            "category_id": 1,
            "keypoints": np.c_[p, s].reshape(-1).tolist(),
            "score": float(s.mean()),
        }
        for a, p, s in zip(anns, noisy, joint_scores, strict=True)
    ]  # all joint scores exceed 0.2: the instance score is their mean
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(path))
        evaluator = COCOeval(coco, coco.loadRes(copy.deepcopy(results)), "keypoints")
        evaluator.params.kpt_oks_sigmas = np.array(COCO_INFO.sigmas)
        evaluator.evaluate(), evaluator.accumulate(), evaluator.summarize()
    np.testing.assert_allclose([ours[k] for k in COCO_METRICS], evaluator.stats, atol=1e-12)
    assert 0.05 < ours["AP"] < 0.999
    exact = PosePredictions(
        predictions.image_ids, points, np.ones((count, 17)), np.ones(count), np.ones(count), np.arange(count)
    )
    assert evaluate_coco(path, exact, nms="none")["AP"] == 1.0


def _perfect_video(data: dict, score: float) -> dict:
    annotations = []
    for ann in data["annotations"]:
        values = np.asarray(ann["keypoints"], float).reshape(17, 3)
        present = ~(values == 0).all(axis=1)
        values[present, 2] = score
        annotations.append(
            {
                "image_id": ann["image_id"],
                "track_id": ann["track_id"],
                "keypoints": values.reshape(-1).tolist(),
                "scores": np.where(present, score, 0).tolist(),
            }
        )
    return {"images": data["images"], "annotations": annotations, "categories": data["categories"]}


def test_posetrack_ap_on_synthpose_videos(layout: synthpose.SynthPoseLayout, tmp_path: Path) -> None:
    gt_dir = layout.video_annotations("train")
    files = sorted(gt_dir.glob("*.json"))
    assert files
    perfect, with_fp = tmp_path / "perfect", tmp_path / "fp"
    perfect.mkdir(), with_fp.mkdir()
    labelled = 0
    for path in files:
        data = json.loads(path.read_text())
        (perfect / path.name).write_text(json.dumps(_perfect_video(data, 0.5)))
        fp = _perfect_video(data, 0.5)
        for image in data["images"]:
            if any(a["image_id"] == image["id"] for a in data["annotations"]):
                labelled += 1
                # one confident person at (-1000, -1000) in every evaluated frame: matches nobody
                fp["annotations"].append(
                    {
                        "image_id": image["id"],
                        "track_id": 999,
                        "keypoints": [-1000.0, -1000.0, 1.0] * 17,
                        "scores": [1.0] * 17,
                    }
                )
        (with_fp / path.name).write_text(json.dumps(fp))
    metrics = evaluate_posetrack_folder(gt_dir, perfect)
    assert [metrics[k] for k in POSETRACK_METRICS] == [100.0] * 8
    # F = one false positive per labelled frame ranked above all n_j true positives of joint j: the precision
    # at the k-th true positive is k / (F + k), rising to n_j / (F + n_j), so AP_j = 100 · n_j / (n_j + F)
    counts = {}
    for path in files:
        for ann in json.loads(path.read_text())["annotations"]:
            values = np.asarray(ann["keypoints"], float).reshape(17, 3)
            for name, present in zip(COCO_INFO.joint_names, ~(values == 0).all(axis=1), strict=True):
                counts[name] = counts.get(name, 0) + int(present)
    metrics = evaluate_posetrack_folder(gt_dir, with_fp)
    for name, ap in metrics["joint_ap"].items():
        coco_name = {"head_bottom": "left_eye", "head_top": "right_eye"}.get(name, name)  # SynthPose writes COCO slots
        assert ap == pytest.approx(100 * counts[coco_name] / (counts[coco_name] + labelled)), name


@pytest.mark.parametrize("unbiased", [False, True])
def test_codec_round_trip_on_synthpose_crops(layout: synthpose.SynthPoseLayout, unbiased: bool) -> None:
    codec = MSRAHeatmap((192, 256), (48, 64), unbiased=unbiased)
    crops = TopDownDataset(synthpose.load(layout.root, "train"), codec=codec)
    errors = []
    for index in range(len(crops)):
        sample = crops[index]
        decoded, _ = codec.decode(sample.heatmaps.numpy())
        centre = sample.keypoints / 4  # heatmap px
        margin = 2.5 if unbiased else 0.0  # DARK refines maxima at least 2 px inside the map
        inside = (sample.visible > 0) & (centre >= margin).all(1) & (centre <= np.array([47, 63]) - margin).all(1)
        errors.append(np.abs(decoded[inside] - sample.keypoints[inside]) / 4)
    errors = np.concatenate(errors)
    assert len(errors) > 50
    if unbiased:
        assert np.linalg.norm(errors, axis=1).mean() < 0.1
    else:
        assert errors.max() <= 0.5 + 1e-4  # the MSRA centre is integer-rounded
