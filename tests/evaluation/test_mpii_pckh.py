"""MPII PCKh@0.5 / @0.1 on the real sample records, with hand-counted expected values."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from samples import REAL

from vipnas.data.metadata import MPII
from vipnas.evaluation import PosePredictions, evaluate_mpii

MPII_FILE = REAL / "mpii" / "test_mpii.json"
R_ANKLE, L_ANKLE, PELVIS, HEAD_TOP, L_WRIST = 0, 5, 6, 9, 15


def _records() -> list[dict]:
    return json.loads(MPII_FILE.read_text())


def _predictions(keypoints: np.ndarray) -> PosePredictions:
    count = len(keypoints)
    return PosePredictions(
        np.zeros(count), keypoints, np.ones((count, 16)), np.ones(count), np.ones(count), np.arange(count)
    )


def _head_boxes(records: list[dict], width: float, height: float) -> np.ndarray:
    """Head boxes (1-based) of a fixed size around each head top; only their diagonal matters."""
    return np.array([[r["joints"][HEAD_TOP], np.add(r["joints"][HEAD_TOP], [width, height])] for r in records])


def test_pckh_by_hand() -> None:
    records = _records()
    # 30 × 40 head boxes: diagonal 50, head size 0.6 × 50 = 30 px → correct within 15 px (@0.5) and 3 px (@0.1)
    boxes = _head_boxes(records, 30, 40)
    truth = np.array([r["joints"] for r in records], float) - 1  # the files are 1-based MATLAB pixels
    predicted = truth.copy()
    predicted[0, R_ANKLE] += [10, 0]  # right @0.5, wrong @0.1
    predicted[1, L_WRIST] += [20, 0]  # wrong at both
    predicted[2, PELVIS] += [100, 0]  # wrong, but pelvis is not in the mean
    predicted[3, HEAD_TOP] += [9, 12]  # exactly 15 px = 0.5 head sizes: correct (official "<=")
    predicted[2, R_ANKLE] += [500, 0]  # not annotated in record 2 (joints_vis 0): not counted
    metrics = evaluate_mpii(MPII_FILE, _predictions(predicted), boxes)
    # annotated joints without pelvis/thorax: 14 in records 0, 1, 4 and 12 in records 2, 3 (no ankles) = 66
    assert metrics["PCKh"] == pytest.approx(100 * 65 / 66)  # one miss (record 1's left wrist)
    assert metrics["PCKh@0.1"] == pytest.approx(100 * 63 / 66)  # plus record 0's ankle and record 3's head top
    assert metrics["Wrist"] == pytest.approx((100 * 4 / 5 + 100) / 2)
    assert metrics["Head"] == 100.0 and metrics["Ankle"] == 100.0
    assert metrics["joint_pckh"]["pelvis"] == pytest.approx(80.0)
    assert set(metrics) == {
        "Head",
        "Shoulder",
        "Elbow",
        "Wrist",
        "Hip",
        "Knee",
        "Ankle",
        "PCKh",
        "PCKh@0.1",
        "joint_pckh",
    }


def test_ground_truth_is_converted_to_zero_based_pixels() -> None:
    records = _records()
    boxes = _head_boxes(records, 4, 3)  # head size 3 px: @0.1 tolerates 0.3 px, less than the 1.41 px shift
    one_based = np.array([r["joints"] for r in records], float)
    assert evaluate_mpii(MPII_FILE, _predictions(one_based - 1), boxes)["PCKh@0.1"] == 100.0
    assert evaluate_mpii(MPII_FILE, _predictions(one_based), boxes)["PCKh@0.1"] == 0.0


def test_records_and_head_boxes_are_checked(tmp_path: Path) -> None:
    records = _records()
    truth = np.array([r["joints"] for r in records], float) - 1
    with pytest.raises(ValueError, match="head boxes"):
        evaluate_mpii(MPII_FILE, _predictions(truth))
    with pytest.raises(ValueError, match="exactly one prediction per record"):
        evaluate_mpii(MPII_FILE, _predictions(truth[:4]), _head_boxes(records, 30, 40))
    path = tmp_path / "boxes.json"
    path.write_text(json.dumps(_head_boxes(records, 30, 40)[:3].tolist()))
    with pytest.raises(ValueError, match=r"expected \(5, 2, 2\)"):
        evaluate_mpii(MPII_FILE, _predictions(truth), path)
    assert MPII.joint_names[HEAD_TOP] == "head_top" and MPII.joint_names[L_WRIST] == "l_wrist"
