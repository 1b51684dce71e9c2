"""Finding a folder's T-ViPNets (one piece for ``vipnas video --temporal`` and ``vipnas serve``)."""

from __future__ import annotations

import pytest

from vipnas.deploy.network import frame_number, t_vipnet_files


def _touch(folder, *names):
    for name in names:
        (folder / name).write_bytes(b"")


def test_frames_are_ordered_by_number_and_mix_checkpoints_and_deployments(tmp_path) -> None:
    _touch(tmp_path, *(f"t_vipnet_frame{n}.pth" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 11)), "t_vipnet_frame1.json")
    deployment = tmp_path / "t_vipnet_frame10"
    deployment.mkdir()
    (deployment / "deployment.json").write_text("{}")
    (tmp_path / "t_vipnet_frame12").mkdir()  # a folder without deployment.json is not a T-ViPNet
    found = t_vipnet_files(tmp_path)
    assert [p.name for p in found] == [f"t_vipnet_frame{n}.pth" for n in range(1, 10)] + [
        "t_vipnet_frame10",
        "t_vipnet_frame11.pth",
    ]
    # the entries a directory walk listed already give the same answer without a second listing
    assert t_vipnet_files(tmp_path, sorted(p.name for p in tmp_path.iterdir())) == found
    assert t_vipnet_files(tmp_path, ["t_vipnet_frame1.pth"]) == [tmp_path / "t_vipnet_frame1.pth"]


def test_missing_duplicated_and_gapped_frames_are_named(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no t_vipnet_frame1\.pth"):
        t_vipnet_files(tmp_path)
    _touch(tmp_path, "t_vipnet_frame1.pth", "t_vipnet_frame3.pth")
    with pytest.raises(ValueError, match=r"frames \[1, 3\]; expected 1..2"):
        t_vipnet_files(tmp_path)
    _touch(tmp_path, "t_vipnet_frame2.pth")
    deployment = tmp_path / "t_vipnet_frame2"
    deployment.mkdir()
    (deployment / "deployment.json").write_text("{}")
    with pytest.raises(ValueError, match=r"frames \[1, 2, 2, 3\]"):
        t_vipnet_files(tmp_path)


@pytest.mark.parametrize(
    ("name", "number"),
    [("t_vipnet_frame3.pth", 3), ("t_vipnet_frame12", 12), ("t_vipnet_frameX.pth", None), ("s_vipnet.pth", None)],
)
def test_frame_number(name, number) -> None:
    assert frame_number(name) == number
