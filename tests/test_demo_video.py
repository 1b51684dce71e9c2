"""`vipnas demo --video` and `vipnas ablation`: the temporal pipeline runs end to end on SynthPose videos, respects
its budgets, writes every ablation's table, JSON and figure, saves loadable T-ViPNets, resumes, and never reuses a
stage made with other settings."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import pytest
import torch

import vipnas
from vipnas.cli import main
from vipnas.demo.ablations import ABLATIONS
from vipnas.demo.video import QUICK_VIDEO, VideoRun, budget_macs
from vipnas.models.temporal import TemporalNetwork
from vipnas.space.temporal import TemporalArch, TemporalSpace


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("video-demo") / "run"
    assert main(["demo", "--video", "--quick", "--threads", "1", "--out", str(out)]) == 0
    return out


def test_quick_video_demo_writes_every_ablation_within_its_budgets(quick) -> None:
    summary = json.loads((quick / "video_demo.json").read_text())
    assert set(summary["ablations"]) == set(ABLATIONS)
    for name in ABLATIONS:
        for suffix in ("txt", "json", "png"):
            assert (quick / "ablations" / f"{name}.{suffix}").stat().st_size > 0
    run = VideoRun(quick, QUICK_VIDEO)
    space = run.spatial_space
    main_budget = budget_macs(space, QUICK_VIDEO.budget_fractions[0])
    table3 = {row["network"]: row for row in summary["ablations"]["table3"]["rows"]}
    searched = [row for name, row in table3.items() if "ViPNAS" in name]
    assert len(searched) == 2 and all(row["macs_per_frame"] <= main_budget * (1 + 1e-6) for row in searched)
    key = table3["S-ViPNet (key) on every frame"]
    assert key["macs_per_frame"] > main_budget  # the key alone is over budget: that is why frames are allocated
    assert all(0 < row["mAP_all"] <= 100 and 0 < row["mAP_nonkey"] <= 100 for row in table3.values())
    # T-ViPNAS: the key frame and its T followers average under the budget, frames below the key arch
    best = TemporalArch.from_dict(summary["ablations"]["table3"]["best_temporal_arch"])
    assert best.length == QUICK_VIDEO.length and best.key == space.largest()
    lengths = [len(row["arch"]["frames"]) for row in summary["ablations"]["table4"]["rows"]]
    assert lengths == list(QUICK_VIDEO.lengths)
    shared = [row for row in summary["ablations"]["fig6b"]["rows"] if row["network"].startswith("  ")]
    assert shared and all(len({json.dumps(f) for f in row["arch"]["frames"]}) == 1 for row in shared)
    fig6a = summary["ablations"]["fig6a"]["rows"]
    assert [row["arch"] for row in fig6a[0::2]] == [row["arch"] for row in fig6a[1::2]]  # same archs, no fusion
    # the test videos are not the validation videos the searches read
    videos = run.videos / "annotations"
    assert {p.name for p in (videos / "test").glob("*.json")}.isdisjoint(
        p.name for p in (videos / "val").glob("*.json")
    )


def test_saved_t_vipnets_load_and_compute_what_the_evaluator_used(quick) -> None:
    arch = TemporalArch.from_dict(json.loads((quick / "t_vipnas" / "temporal_arch.json").read_text()))
    run = VideoRun(quick, QUICK_VIDEO)
    expected = run.clips("val").networks(arch)
    for index, network in enumerate(expected, start=1):
        loaded = vipnas.load_model(quick / "t_vipnas" / f"t_vipnet_frame{index}.pth")
        assert isinstance(loaded, TemporalNetwork) and loaded.frame == arch.frames[index - 1]
        crops, heatmaps = torch.randn(2, 3, 128, 96), torch.rand(2, 17, 32, 24)
        torch.testing.assert_close(loaded.eval()(crops, heatmaps), network(crops, heatmaps))


def test_saved_s_vipnet_is_table3s_searched_network(quick) -> None:
    """s_vipnas/s_vipnet.pth is the S-ViPNAS row of Table 3: its arch, within the budget, and run on every frame of
    the test clips it gives that row's mAP."""
    from vipnas.nas.temporal import SingleFrame
    from vipnas.space.arch import Arch

    summary = json.loads((quick / "video_demo.json").read_text())
    table3 = summary["ablations"]["table3"]
    row = next(r for r in table3["rows"] if r["network"] == "S-ViPNAS on every frame")
    loaded = vipnas.load_model(quick / "s_vipnas" / "s_vipnet.pth")
    assert loaded.arch == Arch.from_dict(table3["best_spatial_arch"]) == Arch.from_dict(row["arch"])
    run = VideoRun(quick, QUICK_VIDEO)
    metrics = run.clips("test").evaluate_networks([SingleFrame(loaded)] * QUICK_VIDEO.length, key=loaded)
    assert metrics["Total_all"] == pytest.approx(row["mAP_all"], abs=0.05)


def test_a_rerun_resumes_and_other_settings_make_new_stages(quick, capsys) -> None:
    stores = {p: p.read_bytes() for p in quick.glob("search_*/store.json")}
    trained = {p: p.read_bytes() for p in quick.glob("*_supernet-*/checkpoints/last.pth")}
    assert len(trained) == 3 and len(stores) >= 6
    assert main(["ablation", "table4", "--quick", "--threads", "1", "--out", str(quick)]) == 0
    assert "Table 4" in capsys.readouterr().out
    assert {p: p.read_bytes() for p in quick.glob("search_*/store.json")} == stores  # nothing re-evaluated
    assert {p: p.read_bytes() for p in quick.glob("*_supernet-*/checkpoints/last.pth")} == trained
    run = VideoRun(quick, QUICK_VIDEO)
    assert run.timings == {}
    # another seed: the videos are shared (their own seed), every trained stage is new
    other = VideoRun(quick, replace(QUICK_VIDEO, seed=1))
    assert other.videos == run.videos
    assert other.adapted != run.adapted and len(list(quick.glob("adapted_supernet-*"))) == 2


def test_a_shared_space_keeps_every_frame_equal() -> None:
    from vipnas.space import MOBILENETV3_TINY_SPACE as SPACE
    from vipnas.space.search_space import InvalidArchError

    shared = TemporalSpace(SPACE, SPACE.largest(), length=3, shared=True)
    free = TemporalSpace(SPACE, SPACE.largest(), length=3)
    rng = random.Random(0)
    archs = [shared.sample(rng) for _ in range(10)]
    archs += [shared.mutate(a, rng, 0.5) for a in archs] + [shared.crossover(archs[0], archs[1], rng)]
    archs += [shared.extreme("smallest", rng)]
    assert all(len(set(a.frames)) == 1 and shared.contains(a) for a in archs)
    assert len({a.frames[0] for a in archs}) > 5
    different = free.sample(random.Random(1))
    assert len(set(different.frames)) > 1 and free.contains(different)
    with pytest.raises(InvalidArchError, match="shares one choice"):
        shared.validate(different)
    assert free.size() == shared.size() ** 3 and shared.name.endswith("_shared")
