"""Automatic computation allocation: temporal budgets, candidates scored by propagation over validation clips
(PoseTrack mAP over non-key and all frames), random search and evolution deterministic and within budget."""

from __future__ import annotations

import random

import pytest
import torch

from vipnas.codec import build_codec
from vipnas.data import synthpose
from vipnas.data.clips import ClipDataset
from vipnas.data.dataset import build_loader
from vipnas.data.synthpose.generate import SynthPoseLayout
from vipnas.demo import PRETRAINED
from vipnas.models.checkpoint import load_model
from vipnas.models.complexity import temporal_complexity
from vipnas.models.temporal_supernet import TemporalSupernet
from vipnas.nas.budget import InfeasibleBudgetError
from vipnas.nas.search import ResultStore, evolutionary_search, random_search
from vipnas.nas.temporal import TemporalBudget, TemporalEvaluator, align_on_key_frames
from vipnas.space.temporal import TemporalSpace

LENGTH = 3


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The shipped trained tiny supernet as a T-supernet (its largest arch is the key: the frame space is the whole
    tiny space, so every T-ViPNet starts as a trained spatial sub-network) and SynthPose easy videos."""
    root = tmp_path_factory.mktemp("temporal-search")
    synthpose.generate(root, images=2, videos=3, frames=8, seed=2, workers=1, progress=False)
    layout = SynthPoseLayout(root)
    pretrained = load_model(PRETRAINED)
    key = pretrained.extract_subnet(pretrained.space.largest()).eval()
    space = TemporalSpace(pretrained.space, key.arch, length=LENGTH)
    supernet = TemporalSupernet.from_key_network(key, space)
    supernet.network.load_state_dict(pretrained.state_dict())  # every sub-network trained, not only the key's
    height, width = key.metadata.input_size
    codec = build_codec("dark", input_size=(width, height), heatmap_size=(width // 4, height // 4), sigma=2.0)

    def clips(split: str) -> list:
        videos = synthpose.load(root, split, videos=True)
        dataset = ClipDataset(videos, frames=LENGTH + 1, stride=LENGTH + 1, input_size=(width, height), codec=codec)
        return list(build_loader(align_on_key_frames(dataset), batch_size=8, num_workers=0))

    evaluator = TemporalEvaluator(
        supernet, key, calibration_batches=clips("train")[:2], val_batches=clips("val"),
        ground_truth=layout.video_annotations("val"), codec=codec,
    )  # fmt: skip
    return space, supernet, key, evaluator


def test_budget_is_the_per_frame_average_and_names_its_bounds(setup) -> None:
    space, *_ = setup
    arch = space.sample(random.Random(0))
    budget = TemporalBudget(max_macs=1e12, input_size=(128, 96))
    cost = budget.cost(arch)
    frames = temporal_complexity(arch, input_size=(128, 96))
    assert cost.frame_macs == tuple(f.macs for f in frames) and cost.total_macs == sum(f.macs for f in frames)
    assert cost.macs == round(cost.total_macs / (LENGTH + 1)) and cost.params == sum(f.params for f in frames)
    tight = TemporalBudget(max_macs=cost.macs - 1, input_size=(128, 96))
    assert not tight.fits(arch) and "MACs per frame" in tight.violations(cost)[0]
    cheapest = budget.cheapest(space)
    assert all(budget.cost(space.sample(random.Random(s))).macs >= budget.cost(cheapest).macs for s in range(20))
    with pytest.raises(InfeasibleBudgetError, match="below the smallest"):
        random_search(space, lambda a: {}, TemporalBudget(max_macs=1.0, input_size=(128, 96)), num_candidates=1)
    with pytest.raises(ValueError, match="finite positive"):
        TemporalBudget(max_macs=float("nan"))


def test_evaluation_propagates_and_scores_non_key_and_all_frames(setup) -> None:
    space, _, _, evaluator = setup
    largest = space.extreme("largest", random.Random(0))
    metrics = evaluator(largest)
    assert {"Total", "Total_all", "Head", "Head_all"} <= set(metrics)
    assert 0 < metrics["Total"] <= 100 and 0 < metrics["Total_all"] <= 100
    # the same candidate scores the same (calibration and validation clips are fixed)
    assert metrics == evaluator(largest)  # deterministic
    smallest = evaluator(space.extreme("smallest", random.Random(0)))
    assert smallest["Total"] != metrics["Total"]  # the frames' networks decide the non-key score
    with torch.no_grad():
        networks = evaluator.networks(largest)
    assert all(not net.training for net in networks) and len(networks) == LENGTH


def test_random_search_and_evolution_respect_the_budget_and_are_deterministic(setup, tmp_path) -> None:
    space, _, _, evaluator = setup
    budget = TemporalBudget(max_macs=7.4e6, input_size=(128, 96))
    first = random_search(space, evaluator, budget, num_candidates=4, seed=1, progress=False)
    again = random_search(
        space, evaluator, budget, num_candidates=4, seed=1, progress=False, store=ResultStore(tmp_path / "s.json")
    )
    assert [c.arch for c in first.candidates] == [c.arch for c in again.candidates]
    assert [c.metrics for c in first.candidates] == [c.metrics for c in again.candidates]
    assert all(c.macs <= 7.4e6 for c in first.candidates) and len({c.metrics["Total"] for c in first.candidates}) > 1
    resumed = ResultStore(tmp_path / "s.json")  # the store round-trips temporal candidates
    assert len(resumed) == 4 and {c.arch for c in resumed.all()} == {c.arch for c in first.candidates}
    evolved = evolutionary_search(
        space, evaluator, budget, population=3, generations=1, parents=2, mutations=2, crossovers=1, seed=2,
        mutation_probability=0.3, progress=False, objective="Total",
    )  # fmt: skip
    archs = [c.arch for c in evolved.candidates]
    assert len(archs) == len(set(archs)) == 6 and all(c.macs <= 7.4e6 for c in evolved.candidates)
    assert evolved.best.metrics["Total"] == max(c.metrics["Total"] for c in evolved.candidates)


def test_allocate_command_searches_a_trained_temporal_supernet(tmp_path) -> None:
    """`vipnas train` a T-supernet briefly (T=2, from the shipped supernet's largest network as the key), then
    `vipnas allocate` it: outputs, budget, best = max, resume of its store, and T=3 from the same supernet."""
    import dataclasses
    import json

    import vipnas
    from vipnas.cli import main
    from vipnas.config import load_config
    from vipnas.engine.trainer import train

    root = tmp_path / "videos"
    synthpose.generate(root, images=2, videos=3, frames=8, seed=2, workers=1, progress=False)
    pretrained = load_model(PRETRAINED)
    key = pretrained.extract_subnet(pretrained.space.largest(), name="key")
    key.metadata = dataclasses.replace(key.metadata, dataset="POSETRACK18")  # same 17 heatmaps, PoseTrack names
    vipnas.save_model(key, tmp_path / "key.pth")
    values = {
        "temporal.key": f"'{tmp_path / 'key.pth'}'", "temporal.length": 2,
        "data.root": f"'{SynthPoseLayout(root).posetrack_root}'", "data.batch_size": 2, "data.num_workers": 0,
        "data.sigma": key.metadata.sigma, "schedule.max_iters": 2, "schedule.warmup_iters": 0,
        "runtime.validate": False, "runtime.progress": False, "runtime.threads": 1, "optimizer.lr": 1e-4,
    }  # fmt: skip
    config = load_config("synthpose_temporal_mbv3_tiny", [f"{k}={v}" for k, v in values.items()])
    checkpoint = train(config, work_dir=tmp_path / "run").last_checkpoint
    args = ["allocate", str(checkpoint), "--candidates", "3", "--budget-macs", "8M", "--calibration-clips", "4"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    summary = json.loads((tmp_path / "a" / "candidates.json").read_text())
    assert summary["length"] == 2 and len(summary["candidates"]) == 3
    assert all(c["macs"] <= 8e6 and len(c["arch"]["frames"]) == 2 for c in summary["candidates"])
    totals = [c["metrics"]["Total"] for c in summary["candidates"]]
    assert summary["best"]["metrics"]["Total"] == max(totals) > 0
    assert (tmp_path / "a" / "allocation.png").stat().st_size > 0 and len(summary["frame_macs"]) == 3
    again = tmp_path / "a" / "store.json"
    before = again.read_text()
    assert main([*args, "--out", str(tmp_path / "a")]) == 0  # resumed from its store: the same candidates
    assert json.loads((tmp_path / "a" / "candidates.json").read_text())["candidates"] == summary["candidates"]
    assert json.loads(again.read_text()) == json.loads(before)
    assert main([*args, "--length", "3", "--out", str(tmp_path / "t3")]) == 0
    longer = json.loads((tmp_path / "t3" / "candidates.json").read_text())
    assert longer["length"] == 3 and all(len(c["arch"]["frames"]) == 3 for c in longer["candidates"])


def test_frame_by_frame_scores_every_frame_without_the_propagated_heatmaps(setup, tmp_path) -> None:
    """S-ViPNAS on every frame (Table 3's baseline) and a temporal arch without fusion (Fig. 6a's) against a loop
    written here: each frame's crops through its own network, decoded and scored over all frames by poseval."""
    from vipnas.engine.batchnorm import recalibrate_bn
    from vipnas.evaluation.instances import PosePredictions
    from vipnas.evaluation.posetrack import evaluate_posetrack
    from vipnas.nas.temporal import FrameByFrameEvaluator, _frame_view

    space, _, key, evaluator = setup
    pretrained = load_model(PRETRAINED)
    frames = FrameByFrameEvaluator(pretrained, evaluator)
    calibration = [batch.image.flatten(0, 1) for batch in evaluator.calibration_batches]

    def by_hand(networks):  # networks[t] runs frame t, key frame included
        parts = []
        with torch.no_grad():
            for batch in evaluator.val_batches:
                for t, network in enumerate(networks):
                    keypoints, scores = evaluator.codec.decode(network(batch.image[:, t]).numpy())
                    parts.append(PosePredictions.from_crops(keypoints, scores, _frame_view(batch, t)))
        predictions = PosePredictions.concatenate(parts)
        images = {int(i) for i in predictions.image_ids}
        return evaluate_posetrack(evaluator.ground_truth, predictions, str(tmp_path / "p"), image_ids=images)["Total"]

    arch = pretrained.space.sample(random.Random(3))
    network = recalibrate_bn(pretrained.extract_subnet(arch), None, calibration).eval()
    assert frames(arch)["Total_all"] == pytest.approx(by_hand([network] * (LENGTH + 1)), abs=1e-9)
    temporal = space.sample(random.Random(4))
    nets = [recalibrate_bn(pretrained.extract_subnet(f.arch), None, calibration).eval() for f in temporal.frames]
    assert frames.without_fusion(temporal)["Total_all"] == pytest.approx(by_hand([key, *nets]), abs=1e-9)
    assert frames(arch)["Total_all"] != frames(pretrained.space.smallest())["Total_all"]
