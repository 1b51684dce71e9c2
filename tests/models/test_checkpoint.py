"""Checkpoints: round trips for networks and supernets, atomic writes, clear errors for foreign or corrupt files."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest
import torch

import vipnas
from vipnas.cli import main
from vipnas.models.checkpoint import read_checkpoint
from vipnas.space import MOBILENETV3_SPACE


def test_network_round_trip_keeps_weights_arch_and_metadata(tmp_path, randomized) -> None:
    model = randomized(vipnas.create_model("s_vipnas_mbv3", input_size=(64, 64), num_joints=14, dataset="CROWDPOSE"))
    path = vipnas.save_model(model, tmp_path / "model.pth")
    loaded = vipnas.load_model(path)
    assert not loaded.training
    assert loaded.arch == model.arch and loaded.metadata == model.metadata and loaded.metadata.dataset == "CROWDPOSE"
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model.eval()(x))
    assert [p.name for p in tmp_path.iterdir()] == ["model.pth"]  # no temporary file left behind


def test_supernet_and_extracted_subnet_round_trip(tmp_path, randomized) -> None:
    supernet = randomized(vipnas.create_model("mobilenetv3_supernet", input_size=(64, 64))).eval()
    vipnas.save_model(supernet, tmp_path / "supernet.pth")
    loaded = vipnas.load_model(tmp_path / "supernet.pth")
    arch = MOBILENETV3_SPACE.sample(random.Random(0))
    subnet = loaded.extract_subnet(arch).eval()
    vipnas.save_model(subnet, tmp_path / "subnet.pth")
    reloaded = vipnas.load_model(tmp_path / "subnet.pth")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad(), supernet.using(arch):
        torch.testing.assert_close(reloaded(x), supernet(x))
    assert reloaded.arch == arch
    (tmp_path / "arch.json").write_text(arch.to_json())
    assert vipnas.create_model(str(tmp_path / "arch.json"), input_size=(64, 64)).arch == arch


def test_foreign_and_corrupt_files_are_named_errors(tmp_path) -> None:
    torch.save({"state_dict": {}}, tmp_path / "mmpose.pth")
    with pytest.raises(ValueError, match=r"not a vipnas checkpoint.*convert-mmpose"):
        vipnas.load_model(tmp_path / "mmpose.pth")
    good = vipnas.save_model(vipnas.create_model("s_vipnas_mbv3", input_size=(64, 64)), tmp_path / "good.pth")
    (tmp_path / "cut.pth").write_bytes(good.read_bytes()[:5000])
    with pytest.raises(ValueError, match=r"cut\.pth cannot be read"):
        vipnas.load_model(tmp_path / "cut.pth")
    with pytest.raises(FileNotFoundError, match=r"missing\.pth does not exist"):
        vipnas.load_model(tmp_path / "missing.pth")
    payload = read_checkpoint(good)
    payload["state_dict"].pop("head.final_layer.bias")
    torch.save(payload, tmp_path / "broken.pth")
    with pytest.raises(ValueError, match=r"head\.final_layer\.bias"):
        vipnas.load_model(tmp_path / "broken.pth")


def test_info_command(capsys, tmp_path) -> None:
    assert main(["info", "s_vipnas_res50", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["params"] == 7_286_772 and round(result["macs"] / 1e9, 4) == 1.4644
    assert main(["info", "s_vipnas_mbv3", "--input-size", "128", "96", "--json"]) == 0
    small = json.loads(capsys.readouterr().out)
    assert small["params"] == 5_895_725 and small["macs"] < result["macs"]
    vipnas.save_model(vipnas.create_model("mobilenetv3_supernet", input_size=(64, 64)), tmp_path / "s.pth")
    assert main(["info", str(tmp_path / "s.pth"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["space"] == "mobilenetv3"
    assert main(["info", "nonexistent_model"]) == 1
    assert "neither a registered model" in capsys.readouterr().err


def test_info_refuses_archs_that_cannot_be_built(capsys, tmp_path) -> None:
    from vipnas.space import save_arch
    from vipnas.space.spaces import S_VIPNAS_MBV3_ARCH, SBL_RES50_ARCH

    outside = tmp_path / "sbl.json"  # outside every search space, but a real network: still described
    save_arch(SBL_RES50_ARCH, outside)
    assert main(["info", str(outside), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["params"] == 33_999_697  # SimpleBaseline-Res50, README's table
    stages = list(S_VIPNAS_MBV3_ARCH.stages)
    stages[1] = dataclasses.replace(stages[1], groups=7)  # 7 does not divide the stage's 120 middle channels
    head = dataclasses.replace(S_VIPNAS_MBV3_ARCH.head, kernel_size=5)
    broken = tmp_path / "broken.json"
    save_arch(dataclasses.replace(S_VIPNAS_MBV3_ARCH, stages=tuple(stages), head=head), broken)
    assert main(["info", str(broken)]) == 1  # used to print MACs of a network that cannot be built
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"vipnas info: error: {broken}: this mobilenetv3 arch cannot be built")
    assert "\n" not in error
    assert "stages[1].groups=7 must divide the block's 120 middle channels" in error
    assert "head.kernel_size=5 must be one of [2, 3, 4]" in error
    short = tmp_path / "short.json"
    save_arch(dataclasses.replace(S_VIPNAS_MBV3_ARCH, stages=tuple(stages[:4])), short)
    assert main(["info", str(short)]) == 1
    assert "arch has 4 stages; a mobilenetv3 network has 6" in capsys.readouterr().err
    for joints in ("0", "-3"):  # 0 used to mean the default 17, -3 gave negative MACs
        with pytest.raises(SystemExit) as exit_status:
            main(["info", "s_vipnas_mbv3", f"--num-joints={joints}"])
        assert exit_status.value.code == 2
        assert f"argument --num-joints: expected a positive integer, got '{joints}'" in capsys.readouterr().err


@pytest.mark.parametrize("head_prefix", ["head.", "keypoint_head."])
def test_convert_mmpose_command_round_trip(tmp_path, randomized, head_prefix: str) -> None:
    from vipnas.models.mmpose import to_mmpose_keys

    model = randomized(vipnas.create_model("s_vipnas_res50")).eval()
    state = to_mmpose_keys(model.state_dict(), model.arch)
    state = {(head_prefix + k[len("head.") :] if k.startswith("head.") else k): v for k, v in state.items()}
    assert "backbone.layer3.6.attention.channel_add_conv.3.weight" in state
    torch.save({"meta": {"epoch": 210}, "state_dict": state}, tmp_path / "mmpose.pth")
    assert (
        main(
            [
                "convert-mmpose",
                str(tmp_path / "mmpose.pth"),
                "--model",
                "s_vipnas_res50",
                "--out",
                str(tmp_path / "out.pth"),
            ]
        )
        == 0
    )
    converted = vipnas.load_model(tmp_path / "out.pth")
    x = torch.randn(1, 3, 256, 192)
    with torch.no_grad():
        torch.testing.assert_close(converted(x), model(x))


def test_convert_mmpose_lists_mismatches(tmp_path, capsys) -> None:
    from vipnas.models.mmpose import to_mmpose_keys

    model = vipnas.create_model("s_vipnas_mbv3")
    state = to_mmpose_keys(model.state_dict(), model.arch)
    state.pop("backbone.layer5.se.conv1.conv.weight")
    state["backbone.layer99.extra.weight"] = torch.zeros(1)
    state["head.final_layer.weight"] = torch.zeros(16, 160, 1, 1)
    torch.save({"state_dict": state}, tmp_path / "bad.pth")
    code = main(
        ["convert-mmpose", str(tmp_path / "bad.pth"), "--model", "s_vipnas_mbv3", "--out", str(tmp_path / "o.pth")]
    )
    error = capsys.readouterr().err
    assert code == 1
    assert "missing keys (1): backbone.layer5.se.conv1.conv.weight" in error
    assert "unexpected keys (1): backbone.layer99.extra.weight" in error
    assert "head.final_layer.weight: checkpoint (16, 160, 1, 1) vs model (17, 160, 1, 1)" in error
    assert not (tmp_path / "o.pth").exists()
