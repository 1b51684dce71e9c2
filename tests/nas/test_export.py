"""Export: ONNX graphs equal the PyTorch model in ONNX Runtime; `vipnas extract` writes a loadable static network."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

import vipnas
from vipnas.cli import main
from vipnas.models.export import check_onnx, export_onnx, read_onnx_metadata
from vipnas.models.supernet import PoseSupernet
from vipnas.space import MOBILENETV3_TINY_SPACE, S_VIPNAS_RES50_ARCH, save_arch


@pytest.mark.parametrize("name", ["s_vipnas_mbv3", "s_vipnas_res50"])
def test_onnx_export_matches_pytorch_in_onnxruntime(name: str, tmp_path, randomized) -> None:
    import onnxruntime as ort

    model = randomized(vipnas.create_model(name, input_size=(128, 96)), seed=1).eval()
    difference = export_onnx(model, tmp_path / "model.onnx")
    x = torch.randn(3, 3, 128, 96)  # a batch size the check did not use: the batch axis is dynamic
    with torch.no_grad():
        expected = model(x).numpy()
    got = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"image": x.numpy()}
    )[0]
    assert np.abs(expected).max() > 1e-2  # randomised weights: outputs are not ~0
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    assert difference is not None and difference <= 1e-4 * np.abs(expected).max() + 1e-5
    metadata = read_onnx_metadata(tmp_path / "model.onnx")
    assert metadata["input_size"] == [128, 96] and metadata["name"] == name and metadata["arch"] == model.arch.to_dict()


def test_onnx_check_detects_a_different_graph(tmp_path, randomized) -> None:
    model = randomized(vipnas.create_model("s_vipnas_mbv3", input_size=(64, 64)), seed=2).eval()
    export_onnx(model, tmp_path / "a.onnx")
    other = randomized(vipnas.create_model("s_vipnas_mbv3", input_size=(64, 64)), seed=3).eval()
    with pytest.raises(ValueError, match="differs from PyTorch"):
        check_onnx(other, tmp_path / "a.onnx")


def test_extract_command_writes_the_supernet_subnet(tmp_path, randomized, capsys) -> None:
    supernet = randomized(PoseSupernet(MOBILENETV3_TINY_SPACE, input_size=(64, 64)), seed=4).eval()
    vipnas.save_model(supernet, tmp_path / "supernet.pth")
    arch = MOBILENETV3_TINY_SPACE.sample(random.Random(5))
    save_arch(arch, tmp_path / "arch.json")
    code = main(
        [
            "extract",
            str(tmp_path / "supernet.pth"),
            "--arch",
            str(tmp_path / "arch.json"),
            "--out",
            str(tmp_path / "subnet.pth"),
            "--onnx",
            str(tmp_path / "subnet.onnx"),
        ]
    )
    assert code == 0 and "ONNX Runtime matches PyTorch" in capsys.readouterr().out
    subnet = vipnas.load_model(tmp_path / "subnet.pth")
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad(), supernet.using(arch):
        torch.testing.assert_close(subnet(x), supernet(x))
    assert subnet.arch == arch
    save_arch(S_VIPNAS_RES50_ARCH, tmp_path / "resnet.json")
    assert (
        main(
            [
                "extract",
                str(tmp_path / "supernet.pth"),
                "--arch",
                str(tmp_path / "resnet.json"),
                "--out",
                str(tmp_path / "x.pth"),
            ]
        )
        == 1
    )
    assert "does not match search space" in capsys.readouterr().err
    assert (
        main(
            [
                "extract",
                str(tmp_path / "subnet.pth"),
                "--arch",
                str(tmp_path / "arch.json"),
                "--out",
                str(tmp_path / "y.pth"),
            ]
        )
        == 1
    )
    assert "not a supernet" in capsys.readouterr().err
