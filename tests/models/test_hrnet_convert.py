"""`vipnas convert-mmpose --model hrnet_w32`: an MMPose 1.x / 0.x HRNet-W32 checkpoint (keys written by the
independent mapping of `hrnet_mmpose`, checked against MMPose's own modules by benchmarks/hrnet_equivalence.py)
loads into our network with the same heatmaps; foreign or truncated checkpoints are named errors."""

from __future__ import annotations

import pytest
import torch

import vipnas
from vipnas.cli import main
from vipnas.models.hrnet_mmpose import hrnet_to_mmpose_keys
from vipnas.models.registry import create_model


@pytest.fixture(scope="module")
def source(randomized):
    return randomized(create_model("hrnet_w32", input_size=(64, 64)), seed=7).eval()


@pytest.mark.parametrize("style", ["1.x", "0.x"])
def test_converted_mmpose_checkpoint_gives_the_same_heatmaps(source, tmp_path, style, capsys) -> None:
    state = hrnet_to_mmpose_keys(source.state_dict())
    if style == "0.x":
        state = {key.replace("head.", "keypoint_head.", 1): value for key, value in state.items()}
    torch.save({"meta": {"mmpose_version": style}, "state_dict": state}, tmp_path / "mmpose.pth")
    out = tmp_path / "hrnet.pth"
    assert main(["convert-mmpose", str(tmp_path / "mmpose.pth"), "--model", "hrnet_w32", "--out", str(out)]) == 0
    assert "hrnet_w32" in capsys.readouterr().out
    converted = vipnas.load_model(out).eval()
    x = torch.randn(2, 3, 256, 192, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, got = source(x), converted(x)
    assert expected.abs().max() > 1e-3
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_foreign_and_truncated_checkpoints_are_named_errors(source, tmp_path, capsys) -> None:
    state = hrnet_to_mmpose_keys(source.state_dict())
    truncated = {k: v for k, v in state.items() if not k.startswith("backbone.stage4")}
    torch.save({"state_dict": truncated}, tmp_path / "truncated.pth")
    args = ["convert-mmpose", str(tmp_path / "truncated.pth"), "--model", "hrnet_w32", "--out", str(tmp_path / "a")]
    assert main(args) == 1
    error = capsys.readouterr().err
    assert "does not match hrnet_w32" in error and "backbone.stage4" in error and "Traceback" not in error
    torch.save({"state_dict": {**state, "backbone.extra.weight": torch.zeros(1)}}, tmp_path / "foreign.pth")
    args = ["convert-mmpose", str(tmp_path / "foreign.pth"), "--model", "hrnet_w32", "--out", str(tmp_path / "b")]
    assert main(args) == 1
    assert "is not an MMPose HRNet-W32 checkpoint" in capsys.readouterr().err
