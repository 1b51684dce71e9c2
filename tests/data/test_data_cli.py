"""The synth and contact-sheet commands, in process and once through ``python -m vipnas``."""

import json
import subprocess
import sys

import cv2
import pytest
from samples import SHARED

from vipnas.cli import main
from vipnas.commands import contact_sheet, synth

REAL = SHARED  # every image and video: the data tests skip without it


def test_commands_follow_the_module_contract():
    for module in (synth, contact_sheet):
        assert isinstance(module.HELP, str) and module.HELP
        assert module.EXAMPLES and all(line.startswith("vipnas ") for line in module.EXAMPLES)


def test_synth_then_contact_sheets(tmp_path, capsys):
    out = tmp_path / "synth"
    args = ["synth", "--out", str(out), "--images", "5", "--videos", "2", "--frames", "3", "--seed", "7"]
    assert main([*args, "--workers", "1", "--quiet", "--level", "easy"]) == 0
    assert "SynthPose (easy) written to" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 7 and manifest["images"] == {"train": 4, "val": 1} and manifest["frames"] == 3
    assert manifest["level"] == "easy" and manifest["difficulty"]["people"] == [0.6, 0.4]
    assert len(list((out / "images" / "train").glob("*.jpg"))) == 4
    assert len(list((out / "posetrack" / "images" / "val").glob("*/*.jpg"))) == 3
    sheet = tmp_path / "sheet.png"
    assert (
        main(["contact-sheet", str(out), "--split", "train", "--count", "4", "--columns", "2", "--out", str(sheet)])
        == 0
    )
    image = cv2.imread(str(sheet))
    assert image.shape[1] > 2 * 256 and image.std() > 10
    crops = tmp_path / "crops.png"
    assert (
        main(["contact-sheet", str(out), "--videos", "--crops", "--augment", "--count", "3", "--out", str(crops)]) == 0
    )
    assert cv2.imread(str(crops)).shape[0] == 256 + 8


@pytest.mark.skipif(not REAL.is_dir(), reason="real samples not found")
def test_contact_sheet_of_real_posetrack_videos(tmp_path, capsys):
    sheet = tmp_path / "pt.png"
    folder = REAL / "posetrack18" / "annotations" / "val"
    assert main(["contact-sheet", str(folder), "--out", str(sheet), "--tile", "128"]) == 0
    assert "POSETRACK18, 14 persons" in capsys.readouterr().out
    assert cv2.imread(str(sheet)).shape[:2] == (128 + 8, 3 * 128 + 16)


def test_python_dash_m_vipnas_synth(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "vipnas", "synth", "--out", str(tmp_path), "--images", "2", "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "annotations" / "synth_train.json").is_file()
    assert (tmp_path / "annotations" / "synth_val_detections.json").is_file()
