"""COCO AP equals a direct pycocotools COCOeval on the real samples; CrowdPose equals the official crowdposetools."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from samples import REAL

from vipnas.data.metadata import COCO as COCO_INFO
from vipnas.evaluation import (
    COCO_METRICS,
    CROWDPOSE_METRICS,
    PosePredictions,
    evaluate_coco,
    evaluate_coco_results,
    instance_scores,
)

SAMPLES = REAL
COCO_FILE = SAMPLES / "coco" / "test_coco.json"
REPOSITORY = Path(__file__).resolve().parents[2]
# written by benchmarks/crowdpose_crosscheck.py from the official crowdposetools; repository files only
CROWDPOSE_REFERENCE = REPOSITORY / "tests" / "fixtures" / "crowdpose_reference.json"


def _direct(gt_data: dict, results: list[dict], sigmas) -> np.ndarray:
    """The reference: pycocotools exactly as its README uses it."""
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = copy.deepcopy(gt_data)
        gt.createIndex()
        evaluator = COCOeval(gt, gt.loadRes(copy.deepcopy(results)), "keypoints")
        evaluator.params.kpt_oks_sigmas = np.asarray(sigmas)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator.stats


def _perturbed_predictions(gt_data: dict, num_joints: int, seed: int) -> PosePredictions:
    """GT persons with OKS-scaled noise, dropped joints, a missed person, a false positive; random scores."""
    rng = np.random.default_rng(seed)
    anns = [a for a in gt_data["annotations"] if a.get("num_keypoints", 1) > 0]
    keep = [a for a in anns if rng.random() > 0.15]
    keypoints = []
    for ann in keep:
        points = np.asarray(ann["keypoints"], float).reshape(num_joints, 3)[:, :2]
        size = np.sqrt(ann["bbox"][2] * ann["bbox"][3])
        points = points + rng.normal(0, size * rng.uniform(0.005, 0.05), points.shape)
        keypoints.append(points)
    image_ids = [a["image_id"] for a in keep]
    fake = rng.uniform(0, 400, (num_joints, 2))  # a person where there is none
    keypoints.append(fake)
    image_ids.append(gt_data["images"][0]["id"])
    count = len(keypoints)
    return PosePredictions(
        image_ids=image_ids,
        keypoints=np.stack(keypoints),
        keypoint_scores=rng.uniform(0, 1, (count, num_joints)),
        box_scores=rng.uniform(0.3, 1, count),
        areas=rng.uniform(1e4, 5e4, count),
        annotation_ids=np.arange(count),
    )


def _results(predictions: PosePredictions, scores: np.ndarray) -> list[dict]:
    triples = np.concatenate([predictions.keypoints, predictions.keypoint_scores[..., None]], axis=-1)
    return [
        {"image_id": int(i), "category_id": 1, "keypoints": t.reshape(-1).tolist(), "score": float(s)}
        for i, t, s in zip(predictions.image_ids, triples, scores, strict=True)
    ]


def test_ground_truth_as_predictions_gives_ap_one() -> None:
    gt_data = json.loads(COCO_FILE.read_text())
    anns = [a for a in gt_data["annotations"] if a["num_keypoints"] > 0]
    keypoints = np.array([a["keypoints"] for a in anns], float).reshape(len(anns), 17, 3)
    predictions = PosePredictions(
        image_ids=[a["image_id"] for a in anns],
        keypoints=keypoints[..., :2],
        keypoint_scores=np.ones((len(anns), 17)),
        box_scores=np.ones(len(anns)),
        areas=[a["bbox"][2] * a["bbox"][3] * 1.25**2 for a in anns],
        annotation_ids=[a["id"] for a in anns],
    )
    metrics = evaluate_coco(COCO_FILE, predictions)  # OKS-NMS on: distinct people survive it
    assert set(metrics) == set(COCO_METRICS)
    assert metrics["AP"] == 1.0 and metrics["AR"] == 1.0 and metrics["AP75"] == 1.0


@pytest.mark.parametrize("seed", range(4))
def test_coco_equals_direct_pycocotools(seed: int, tmp_path: Path) -> None:
    gt_data = json.loads(COCO_FILE.read_text())
    predictions = _perturbed_predictions(gt_data, 17, seed)
    results_file = tmp_path / "keypoints.json"
    ours = evaluate_coco(COCO_FILE, predictions, nms="none", results_file=results_file)
    # the instance score written out is box score × mean of the joint scores above 0.2, computed here by hand
    above = np.where(predictions.keypoint_scores > 0.2, predictions.keypoint_scores, np.nan)
    expected_scores = predictions.box_scores * np.nan_to_num(np.nanmean(above, axis=1))
    reference = _direct(gt_data, _results(predictions, expected_scores), COCO_INFO.sigmas)
    np.testing.assert_allclose([ours[name] for name in COCO_METRICS], reference, atol=1e-12)
    assert 0.05 < ours["AP"] < 0.999  # the perturbation is neither trivial nor hopeless
    # the results file is the COCO results format and evaluates to the same numbers as it is
    written = json.loads(results_file.read_text())
    assert len(written) == len(predictions) and set(written[0]) == {"image_id", "category_id", "keypoints", "score"}
    assert evaluate_coco_results(COCO_FILE, results_file) == ours


def test_instance_score_rule() -> None:
    scores = instance_scores(np.array([0.5, 1.0, 0.8]), np.array([[0.9, 0.1, 0.3], [0.2, 0.1, 0.0], [0.21, 1, 1]]))
    np.testing.assert_allclose(scores, [0.5 * 0.6, 0.0, 0.8 * (2.21 / 3)])


def _crowdpose_reference() -> dict:
    return json.loads(CROWDPOSE_REFERENCE.read_text())


def test_crowdpose_reference_matches_its_annotations() -> None:
    """The official numbers were computed on these very files, and the cases reach all three crowd bins."""
    reference = _crowdpose_reference()
    for path, digest in reference["annotations"].items():
        assert hashlib.sha256((REPOSITORY / path).read_bytes()).hexdigest() == digest, f"{path}: rerun the script"
    assert reference["crowdposetools"]["commit"] and reference["cases"]
    for name in ("APE", "APM", "APH"):
        assert any(case["official"][name] not in (-1.0, 0.0, 1.0) for case in reference["cases"]), name


@pytest.mark.parametrize("case", _crowdpose_reference()["cases"], ids=lambda case: case["name"])
def test_crowdpose_equals_the_official_crowdposetools(case: dict, tmp_path: Path) -> None:
    """Official numbers from crowdposetools itself (benchmarks/crowdpose_crosscheck.py, recorded in the fixture)."""
    results_file = tmp_path / "results.json"
    results_file.write_text(json.dumps(case["predictions"]))
    ours = evaluate_coco_results(REPOSITORY / case["annotation"], results_file, "CROWDPOSE")
    assert set(ours) == set(CROWDPOSE_METRICS) == set(case["official"])
    for name, value in case["official"].items():
        assert ours[name] == pytest.approx(value, abs=1e-9), name


def test_bad_predictions_are_named_errors() -> None:
    gt_data = json.loads(COCO_FILE.read_text())
    good = _perturbed_predictions(gt_data, 17, seed=0)
    wrong_joints = PosePredictions(
        good.image_ids, good.keypoints[:, :16], good.keypoint_scores[:, :16], good.box_scores, good.areas,
        good.annotation_ids,
    )  # fmt: skip
    with pytest.raises(ValueError, match="16 joints, expected 17"):
        evaluate_coco(COCO_FILE, wrong_joints)
    with_nan = good.subset(np.arange(len(good)))
    with_nan.keypoints[2, 5, 0] = np.nan
    with pytest.raises(ValueError, match=r"record 2 \(image id \d+\) has non-finite keypoints"):
        evaluate_coco(COCO_FILE, with_nan)
    unknown = good.subset(np.arange(len(good)))
    unknown.image_ids[0] = 123456789
    with pytest.raises(ValueError, match=r"123456789.*not in the ground truth"):
        evaluate_coco(COCO_FILE, unknown)


def test_bad_results_file_is_a_named_error(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps([{"image_id": 785, "category_id": 1, "keypoints": [1.0] * 50, "score": 0.5}]))
    with pytest.raises(ValueError, match=r"results.json: record 0 \(image id 785\): 50 keypoint values, expected 51"):
        evaluate_coco_results(COCO_FILE, path)
    path.write_text(json.dumps([{"image_id": 1, "category_id": 1, "keypoints": [1.0] * 51, "score": 0.5}]))
    with pytest.raises(ValueError, match="image id 1 is not in the ground truth"):
        evaluate_coco_results(COCO_FILE, path)


def test_empty_predictions_give_zero_ap() -> None:
    empty = PosePredictions(np.zeros(0), np.zeros((0, 17, 2)), np.zeros((0, 17)), np.zeros(0), np.zeros(0), np.zeros(0))
    assert evaluate_coco(COCO_FILE, empty)["AP"] == 0.0
