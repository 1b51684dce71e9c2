"""Evaluation follows the codec: crop affine, decoding and flip shift of ``msra``/``dark``/``udp``; ``--codec``."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from samples import SHARED

from vipnas.cli import main
from vipnas.codec import codec_for_model
from vipnas.data.coco import load_coco
from vipnas.data.dataset import TopDownDataset, build_loader
from vipnas.data.transforms import box_xywh_to_center_scale
from vipnas.evaluation.inference import run_inference
from vipnas.evaluation.pipeline import evaluate_model
from vipnas.models.metadata import ModelMetadata

SAMPLES = SHARED  # these tests crop every image of the COCO sample: only the shared copy has them all
COCO_FILE = SAMPLES / "coco" / "test_coco.json"
needs_images = pytest.mark.skipif(not COCO_FILE.is_file(), reason="needs ../shared/real_samples (CI adds it)")


class Blob(torch.nn.Module):
    """Every joint at heatmap pixel (24, 32) of 48 × 64, whatever the image: the centre under the standard
    convention (pixel p ↔ input 4p), half a pixel right of and below it under UDP's ((W_hm - 1) / 2 = 23.5)."""

    def __init__(self, codec: str = "msra") -> None:
        super().__init__()
        self.metadata = ModelMetadata(name="blob", codec=codec)
        values = np.exp(-(np.arange(33.0) ** 2) / 8)  # mirror-symmetric to the last bit
        rows, columns = values[np.abs(np.arange(64) - 32)], values[np.abs(np.arange(48) - 24)]
        self.register_buffer("blob", torch.from_numpy(np.outer(rows, columns)).float())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.blob.expand(len(images), 17, 64, 48) * images.new_ones(1)


@pytest.fixture(scope="module")
def boxes() -> tuple[np.ndarray, np.ndarray]:
    instances = load_coco(COCO_FILE, SAMPLES / "coco").instances
    return box_xywh_to_center_scale(np.stack([i.box for i in instances]), 192 / 256)


def _offsets(model: torch.nn.Module, boxes, **options) -> np.ndarray:
    """Predicted joints minus the box centres, in box sizes: (N, 17, 2)."""
    _, predictions = evaluate_model(model, "COCO", COCO_FILE, SAMPLES / "coco", **options)
    centers, scales = boxes
    return (predictions.keypoints - centers[:, None]) / scales[:, None]


@needs_images
def test_each_codec_crops_decodes_and_flips_its_own_way(boxes) -> None:
    for codec in ("msra", "dark"):
        np.testing.assert_allclose(_offsets(Blob(), boxes, codec=codec), 0.0, atol=1e-9)
    udp = _offsets(Blob(), boxes, codec="udp")
    # flip without the one-pixel shift: the blob and its mirror average about 23.5, UDP's exact centre
    np.testing.assert_allclose(udp[..., 0], 0.0, atol=1e-9)
    np.testing.assert_allclose(udp[..., 1], 0.5 / 63, atol=1e-6)  # half a heatmap pixel of 63 (float32 decoding)
    unflipped = _offsets(Blob(), boxes, codec="udp", flip=False)
    np.testing.assert_allclose(unflipped[..., 0], 0.5 / 47, atol=1e-6)


@needs_images
def test_the_model_recorded_codec_is_the_default(boxes) -> None:
    np.testing.assert_array_equal(_offsets(Blob("udp"), boxes), _offsets(Blob(), boxes, codec="udp"))
    model = Blob()
    model.metadata = replace(model.metadata, codec="udp")
    np.testing.assert_array_equal(_offsets(model, boxes, codec="msra"), _offsets(Blob(), boxes))  # --codec wins
    crops = TopDownDataset(load_coco(COCO_FILE, SAMPLES / "coco"), udp=True)
    recorded = run_inference(Blob("udp"), build_loader(crops, batch_size=8))  # decoder and flip shift: UDP's
    given = run_inference(Blob(), build_loader(crops, batch_size=8), codec=codec_for_model(Blob().metadata, "udp"))
    np.testing.assert_array_equal(recorded.keypoints, given.keypoints)
    assert not np.allclose(run_inference(Blob(), build_loader(crops, batch_size=8)).keypoints, given.keypoints)


def test_cli_codec_option(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import vipnas.evaluation.pipeline as pipeline

    seen = {}

    def fake_evaluate_model(model, *args, **options):
        seen.update(options)
        return {"AP": 0.5}, None

    monkeypatch.setattr(pipeline, "evaluate_model", fake_evaluate_model)
    argv = ["eval", "s_vipnas_mbv3", "--data", "COCO", "--ann", str(COCO_FILE), "--images", str(SAMPLES / "coco")]
    assert main([*argv, "--codec", "dark", "--json"]) == 0 and seen["codec"] == "dark"
    assert main([*argv, "--json"]) == 0 and seen["codec"] is None  # the checkpoint's codec, else msra
    capsys.readouterr()
    assert main([*argv, "--codec", "gaussian"]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert error == ["vipnas eval: error: --codec must be one of 'msra', 'dark', 'udp'; got 'gaussian'"]
    assert main(["eval", "--preds", "p.json", "--ann", str(COCO_FILE), "--data", "COCO", "--codec", "udp"]) == 1
    assert "--preds files are already decoded" in capsys.readouterr().err
