"""`vipnas export`: deployments for ONNX Runtime and OpenVINO at fp32 / bf16 / int8, with their checks.

The network is the shipped SynthPose supernet's largest sub-network (trained: random weights would say nothing
about a precision's accuracy), evaluated on a small SynthPose set rendered here."""

from __future__ import annotations

import copy
import json
import os
import random

import numpy as np
import pytest
import torch

import vipnas
from vipnas.cli import main
from vipnas.data import synthpose
from vipnas.data.synthpose.generate import SynthPoseLayout
from vipnas.demo import PRETRAINED
from vipnas.deploy.build import Calibration, CheckData, DeploymentRefusedError, export_deployment
from vipnas.deploy.manifest import read_deployment
from vipnas.deploy.network import load_deployment


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("deploy")
    synthpose.generate(root / "synth", images=120, val_fraction=0.5, seed=3, workers=1, progress=False)
    layout = SynthPoseLayout(root / "synth")
    supernet = vipnas.load_model(PRETRAINED)
    network = supernet.extract_subnet(supernet.space.largest(), name="largest").eval()
    vipnas.save_model(network, root / "largest.pth")
    calibration = Calibration("COCO", str(layout.annotations("train")), str(layout.images("train")), count=40)
    check = CheckData("COCO", str(layout.annotations("val")), str(layout.images("val")), flip=False)
    return root, network, calibration, check


def _ap(args, capsys) -> float:
    assert main(["eval", *args, "--json", "--workers", "0"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])["AP"]


def test_onnxruntime_fp32_deployment_equals_torch_in_vipnas_eval(setup, tmp_path, capsys) -> None:
    root, _network, _, check = setup
    out = tmp_path / "ort-fp32"
    assert main(["export", str(root / "largest.pth"), "--backend", "onnxruntime", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "onnxruntime fp32 (model.onnx)" in printed
    deployment = read_deployment(out)
    assert deployment.file == "model.onnx" and deployment.frame is None and set(deployment.files) == {"model.onnx"}
    agreement = deployment.checks["agreement"]
    assert agreement["heatmap_max_abs_difference"] < 1e-4 and agreement["keypoint_shift_max_px"] < 1e-3
    # vipnas eval on the folder runs ONNX Runtime and gives the checkpoint's AP
    data = ["--data", "COCO", "--ann", check.annotation, "--images", check.images, "--no-flip"]
    torch_ap = _ap([str(root / "largest.pth"), *data], capsys)
    deployed_ap = _ap([str(out), *data], capsys)
    assert torch_ap > 0 and deployed_ap == pytest.approx(torch_ap, abs=1e-6)


def test_int8_measures_its_ap_drop_and_a_drop_over_the_threshold_is_refused(setup, tmp_path) -> None:
    _root, network, calibration, check = setup
    good = export_deployment(
        network, tmp_path / "int8", backend="onnxruntime", precision="int8", calibration=calibration, check=check
    )
    accuracy = good.checks["accuracy"]
    assert good.file == "model_int8.onnx" and accuracy["metric"] == "AP" and accuracy["torch_fp32"] > 0.05
    assert accuracy["drop"] == pytest.approx(accuracy["torch_fp32"] - accuracy["deployed"])
    assert abs(accuracy["drop"]) <= 0.03 and good.checks["forced"] is None  # 60 images: noise ~0.01-0.02
    # the same function in fp32 with one heatmap channel shifted by +100: its argmax is where it was, but the
    # int8 output's one scale for all channels (step ~0.8) flattens every other heatmap
    shifted = copy.deepcopy(network)
    with torch.no_grad():
        shifted.head.final_layer.bias[0] += 100.0
    with pytest.raises(DeploymentRefusedError, match=r"loses .* AP .*more than --max-drop 0.01"):
        export_deployment(
            shifted, tmp_path / "bad", backend="onnxruntime", precision="int8", calibration=calibration, check=check
        )
    assert not (tmp_path / "bad").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".bad")]
    forced = export_deployment(
        shifted, tmp_path / "bad", backend="onnxruntime", precision="int8", calibration=calibration, check=check,
        force=True,
    )  # fmt: skip
    assert forced.checks["accuracy"]["drop"] > 0.01 and "more than --max-drop" in forced.checks["forced"]


def test_low_precision_without_validation_is_refused_unless_forced(setup, tmp_path, capsys) -> None:
    root, _network, calibration, _ = setup
    args = ["export", str(root / "largest.pth"), "--backend", "onnxruntime", "--precision", "int8",
            "--calibration", calibration.annotation, "--calibration-images", calibration.images,
            "--calibration-count", "20", "--out", str(tmp_path / "x")]  # fmt: skip
    assert main(args) == 1
    assert "accuracy is not measured" in capsys.readouterr().err and not (tmp_path / "x").exists()
    assert main([*args, "--force"]) == 0
    assert "FORCED" in capsys.readouterr().out
    # one-line errors: a precision the runtime does not deploy, int8 without calibration data
    assert main(["export", str(root / "largest.pth"), "--backend", "onnxruntime", "--precision", "bf16",
                 "--out", str(tmp_path / "y")]) == 1  # fmt: skip
    assert "precision 'bf16' for onnxruntime" in capsys.readouterr().err
    assert main(["export", str(root / "largest.pth"), "--backend", "onnxruntime", "--precision", "int8",
                 "--out", str(tmp_path / "y")]) == 1  # fmt: skip
    assert "int8 needs calibration data" in capsys.readouterr().err


def test_a_folder_is_reused_only_when_made_the_same_way(setup, tmp_path, capsys) -> None:
    _root, network, _, _ = setup
    out = tmp_path / "d"
    first = export_deployment(network, out, backend="onnxruntime")
    stamp = (out / "model.onnx").stat().st_mtime_ns
    assert export_deployment(network, out, backend="onnxruntime") == first
    assert (out / "model.onnx").stat().st_mtime_ns == stamp  # reused, not rewritten
    other = copy.deepcopy(network)
    with torch.no_grad():
        other.head.final_layer.bias[1] += 0.5
    with pytest.raises(FileExistsError, match="network differ"):
        export_deployment(other, out, backend="onnxruntime")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty and not a deployment"):
        export_deployment(network, tmp_path / "busy", backend="onnxruntime")
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
    # a network file changed after the export is named, not run
    data = bytearray((out / "model.onnx").read_bytes())
    data[-1] ^= 1
    (out / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"model\.onnx: changed since it was exported"):
        load_deployment(out)
    assert main(["eval", str(out), "--data", "COCO", "--ann", "x.json", "--images", "."]) == 1
    assert "changed since it was exported" in capsys.readouterr().err


def test_deployed_t_vipnets_run_in_vipnas_video_like_their_checkpoints(tmp_path, capsys) -> None:
    from vipnas.models.temporal_supernet import TemporalSupernet
    from vipnas.space.temporal import FrameChoice, TemporalSpace

    synthpose.generate(tmp_path / "synth", images=0, videos=2, frames=6, seed=8, workers=1, progress=False)
    layout = SynthPoseLayout(tmp_path / "synth")
    supernet = vipnas.load_model(PRETRAINED)
    key = supernet.extract_subnet(supernet.space.largest(), name="key").eval()
    vipnas.save_model(key, tmp_path / "key.pth")
    temporal = TemporalSupernet.from_key_network(key, TemporalSpace(supernet.space, key.arch, length=2))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # fusion weights away from their zero start, so that the heatmaps matter
        for parameter in temporal.fusions.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
    arch = temporal.space.sample(random.Random(1))
    (tmp_path / "torch").mkdir()
    (tmp_path / "deployed").mkdir()
    for index, frame in enumerate(arch.frames, start=1):
        network = temporal.extract(frame).eval()
        vipnas.save_model(network, tmp_path / "torch" / f"t_vipnet_frame{index}.pth")
        deployment = export_deployment(network, tmp_path / "deployed" / f"t_vipnet_frame{index}", backend="onnxruntime")
        assert FrameChoice.from_dict(deployment.frame) == frame
        assert deployment.checks["agreement"]["heatmap_max_abs_difference"] < 1e-4
    export_deployment(key, tmp_path / "deployed" / "key", backend="onnxruntime")
    gt = sorted(layout.video_annotations("val").glob("*.json"))[0]
    frames = layout.posetrack_root / "images" / "val" / gt.stem
    outputs = {}
    for name, model, nets in (("torch", tmp_path / "key.pth", tmp_path / "torch"),
                              ("deployed", tmp_path / "deployed" / "key", tmp_path / "deployed")):  # fmt: skip
        assert main(["video", str(frames), "--model", str(model), "--temporal", str(nets), "--detector", f"gt:{gt}",
                     "--no-video", "--out", str(tmp_path / f"out-{name}")]) == 0  # fmt: skip
        printed = capsys.readouterr().out
        assert "2 T-ViPNet(s)" in printed
        lines = (tmp_path / f"out-{name}" / f"{gt.stem}.jsonl").read_text().splitlines()
        outputs[name] = [json.loads(line)["people"] for line in lines]
    assert "onnxruntime fp32 (deployed)" in printed
    networks = [p["network"] for people in outputs["deployed"] for p in people]
    assert {"key", "t1", "t2"} <= set(networks)
    for ours, theirs in zip(outputs["deployed"], outputs["torch"], strict=True):
        assert [p["network"] for p in ours] == [p["network"] for p in theirs]
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(a["keypoints"], b["keypoints"], atol=2e-2)


@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
def test_openvino_deployments(setup, tmp_path, precision) -> None:
    """OpenVINO and NNCF are an optional extra (pip install 'vipnas[openvino]'): skipped when absent."""
    pytest.importorskip("openvino")
    if precision == "int8":
        pytest.importorskip("nncf")
    _root, network, calibration, check = setup
    # 60 validation images: an AP difference under ~0.03 is noise here (docs/deploy.md measures on more)
    deployment = export_deployment(
        network, tmp_path / precision, backend="openvino", precision=precision, calibration=calibration, check=check,
        max_drop=0.05,
    )  # fmt: skip
    assert deployment.file == "model.xml" and {"model.xml", "model.bin"} <= set(deployment.files)
    agreement, accuracy = deployment.checks["agreement"], deployment.checks["accuracy"]
    if precision == "fp32":  # asked for: OpenVINO's CPU default here would be bf16
        assert agreement["heatmap_max_abs_difference"] < 1e-4 and accuracy["drop"] == pytest.approx(0, abs=1e-4)
    else:
        assert agreement["heatmap_max_abs_difference"] > 1e-4  # it did run at the lower precision
        assert abs(accuracy["drop"]) <= 0.05 and agreement["keypoints_within_1px"] > 0.7
    loaded = load_deployment(tmp_path / precision)
    crops = torch.randn(3, 3, 128, 96)
    assert loaded(crops).shape == (3, 17, 32, 24)


def test_deployment_folder_permissions_follow_the_umask(setup, tmp_path) -> None:
    _, network, _, _ = setup
    previous = os.umask(0o027)
    try:
        export_deployment(network, tmp_path / "m", backend="onnxruntime")
    finally:
        os.umask(previous)
    assert (tmp_path / "m").stat().st_mode & 0o777 == 0o750
    assert (tmp_path / "m" / "deployment.json").stat().st_mode & 0o777 == 0o640
