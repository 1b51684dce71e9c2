"""Search over the HRNet space: budgets count HRNet MACs, stores round-trip HRNet candidates, the supernet evaluator and
extraction take an HRNet supernet checkpoint, the report draws an HRNet arch, and `vipnas search` / `vipnas extract`
run end to end on one; the hand-shrunk baseline refuses HRNet by name."""

from __future__ import annotations

import json
import math
import random

import pytest
import torch

from vipnas.cli import main
from vipnas.config import config_to_dict, load_config
from vipnas.data import synthpose
from vipnas.models.checkpoint import atomic_save, checkpoint_payload, load_model
from vipnas.models.complexity import complexity_of
from vipnas.models.hrnet_complexity import hrnet_complexity
from vipnas.models.hrnet_network import HRNetNetwork
from vipnas.models.hrnet_supernet import HRNetSupernet
from vipnas.nas.baseline import UnsupportedSpaceError, hand_shrunk_arch, uniform_arch
from vipnas.nas.budget import Budget, sample_under_budget
from vipnas.nas.evaluate import SupernetEvaluator
from vipnas.nas.extract import extract_from_checkpoint
from vipnas.nas.report import write_search_outputs
from vipnas.nas.search import Candidate, ResultStore, evolutionary_search, random_search
from vipnas.space import HRNET_W32_ARCH, HRNET_W32_TINY_SPACE, S_VIPNAS_MBV3_ARCH, HRNetArch, arch_from_dict
from vipnas.space.search_space import InvalidArchError

SPACE = HRNET_W32_TINY_SPACE
SIZE = (64, 64)


def objective(arch: HRNetArch) -> dict[str, float]:
    """A stand-in for AP (no training): rewards depth and SE, penalises groups; not monotone in MACs."""
    score = sum(stage.depth + 0.3 * sum(b.attention for b in stage.branches) for stage in SPACE.validate(arch).stages)
    score -= 0.05 * sum(b.groups for stage in arch.stages for b in stage.branches)
    return {"AP": score / 10, "AR": score / 9}


def budget(fraction: float) -> Budget:
    low, high = (hrnet_complexity(a, input_size=SIZE).macs for a in (SPACE.smallest(), SPACE.largest()))
    return Budget(max_macs=low + fraction * (high - low), input_size=SIZE)


def test_random_and_evolutionary_search_respect_a_macs_budget_and_round_trip_the_store(tmp_path) -> None:
    b = budget(0.4)
    assert complexity_of(HRNET_W32_ARCH) == hrnet_complexity(HRNET_W32_ARCH)  # the budget's count, by arch type
    assert all(b.fits(sample_under_budget(SPACE, random.Random(seed), b)) for seed in range(5))
    provenance = {"space": SPACE.name, "budget": b.max_macs}
    store = ResultStore(tmp_path / "store.json", provenance=provenance)
    result = random_search(SPACE, objective, b, num_candidates=6, seed=2, store=store, progress=False)
    assert len({c.arch for c in result.candidates}) == 6
    assert all(isinstance(c.arch, HRNetArch) and c.macs <= b.max_macs for c in result.candidates)
    assert all(c.macs == hrnet_complexity(c.arch, input_size=SIZE).macs for c in result.candidates)
    reopened = ResultStore(tmp_path / "store.json", provenance=provenance)
    assert sorted(reopened.all(), key=lambda c: c.arch.to_json()) == sorted(store.all(), key=lambda c: c.arch.to_json())
    replay = random_search(SPACE, lambda arch: pytest.fail("a cached candidate was evaluated"), b, num_candidates=6,
                           seed=2, store=reopened, progress=False)  # fmt: skip
    assert [c.arch for c in replay.candidates] == [c.arch for c in result.candidates]
    record = json.loads(json.dumps(result.best.to_dict()))
    assert record["arch"]["family"] == "hrnet" and Candidate.from_dict(record) == result.best
    assert arch_from_dict(S_VIPNAS_MBV3_ARCH.to_dict()) == S_VIPNAS_MBV3_ARCH
    evolved = evolutionary_search(SPACE, objective, b, population=4, generations=2, parents=2, mutations=2,
                                  crossovers=2, seed=1, progress=False)  # fmt: skip
    assert len(evolved.candidates) == 4 + 2 * 4 and all(c.macs <= b.max_macs for c in evolved.candidates)


def test_the_report_draws_an_hrnet_arch(tmp_path) -> None:
    result = random_search(SPACE, objective, budget(0.6), num_candidates=3, seed=0, progress=False)
    paths = write_search_outputs(tmp_path, result)
    assert paths["best_arch_png"].stat().st_size > 10_000 and paths["pareto_macs_png"].is_file()
    best = json.loads((tmp_path / "best_arch.json").read_text())
    assert HRNetArch.from_dict(best["arch"]) == result.best.arch
    figure = write_search_outputs(tmp_path / "w32", result, selected=Candidate(HRNET_W32_ARCH, 1, 1, None, {"AP": 1}))
    assert figure["best_arch_png"].is_file()


def test_the_hand_shrunk_baseline_refuses_hrnet_by_name() -> None:
    with pytest.raises(UnsupportedSpaceError, match="not the HRNet space 'hrnet_w32_tiny'"):
        hand_shrunk_arch(SPACE, 1e8, input_size=SIZE)
    with pytest.raises(ValueError, match="hand-shrunk baseline"):
        uniform_arch(SPACE, 0.5, 0.5)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def hrnet_checkpoint(tmp_path_factory, randomized):
    """A randomly initialised tiny HRNet supernet saved with a training config pointing at 12 SynthPose images, as
    `vipnas train` writes it (random O(1) weights: the candidates' outputs differ)."""
    root = tmp_path_factory.mktemp("hrnet-search")
    synthpose.generate(root / "data", images=12, seed=5, workers=1, progress=False)
    values = {"data.root": f"'{root / 'data'}'", "data.synthpose_images": 12, "data.synthpose_seed": 5,
              "data.val_limit": 2, "data.num_workers": 0, "data.val_batch_size": 4, "model.input_size": SIZE,
              "supernet.calibration_images": 4}  # fmt: skip
    config = load_config("synthpose_hrnet_supernet", [f"{key}={value}" for key, value in values.items()])
    supernet = randomized(HRNetSupernet(SPACE, input_size=SIZE), seed=4)
    payload = {**checkpoint_payload(supernet), "config": config_to_dict(config)}
    return atomic_save(payload, root / "supernet.pth")


def test_the_evaluator_and_extraction_take_an_hrnet_supernet_checkpoint(hrnet_checkpoint) -> None:
    evaluator = SupernetEvaluator.from_checkpoint(hrnet_checkpoint, calibration_images=4, val_limit=2)
    assert isinstance(evaluator.supernet, HRNetSupernet) and evaluator.provenance()["val_crops"] > 0
    arch = SPACE.sample(random.Random(7))
    metrics = evaluator(arch)
    assert {"AP", "AR"} <= set(metrics) and 0.0 <= metrics["AP"] <= 1.0 and all(map(math.isfinite, metrics.values()))
    with pytest.raises(TypeError, match="needs a PoseSupernet or HRNetSupernet"):
        SupernetEvaluator(evaluator.supernet.extract_subnet(arch), calibration_batches=[], val_batches=[],
                          ground_truth=None)  # fmt: skip

    images = torch.randn(2, 3, *SIZE, generator=torch.Generator().manual_seed(0))
    plain, provenance = extract_from_checkpoint(hrnet_checkpoint, arch, recalibrate=False)
    supernet = load_model(hrnet_checkpoint).eval()
    with torch.no_grad(), supernet.using(arch):
        expected = supernet(images)
        assert isinstance(plain, HRNetNetwork) and not provenance["bn_recalibrated"]
        torch.testing.assert_close(plain(images), expected, rtol=1e-5, atol=1e-5)
    subnet, provenance = extract_from_checkpoint(hrnet_checkpoint, arch, calibration_images=4)
    assert provenance["bn_recalibrated"] and provenance["calibration_images"] == 4 and subnet.arch == arch
    before, after = plain.state_dict(), subnet.state_dict()
    assert any(not torch.equal(v, before[k]) for k, v in after.items() if k.endswith("running_mean"))  # its own BN
    assert all(torch.equal(v, before[k]) for k, v in after.items() if k.endswith("weight"))  # the supernet's weights
    with pytest.raises(InvalidArchError, match="expected an HRNetArch for search space hrnet_w32_tiny"):
        extract_from_checkpoint(hrnet_checkpoint, S_VIPNAS_MBV3_ARCH, recalibrate=False)


def test_search_and_extract_commands_run_on_an_hrnet_checkpoint(hrnet_checkpoint, tmp_path, capsys) -> None:
    b = budget(0.5)
    out = tmp_path / "search"
    options = ["--candidates", "3", "--budget-macs", str(int(b.max_macs)), "--val-limit", "2",
               "--calibration-images", "4", "--no-flip", "--out", str(out)]  # fmt: skip
    assert main(["search", str(hrnet_checkpoint), *options]) == 0
    printed = capsys.readouterr().out
    assert "random search under MACs" in printed and "stage4" in printed
    candidates = json.loads((out / "candidates.json").read_text())["candidates"]
    assert len(candidates) == 3 and all(c["arch"]["family"] == "hrnet" and c["macs"] <= b.max_macs for c in candidates)
    for name in ("best_arch.png", "pareto_macs.png", "store.json", "arch.json"):
        assert (out / name).is_file()
    extract = ["extract", str(hrnet_checkpoint), "--arch", str(out / "arch.json"), "--out", str(tmp_path / "s.pth")]
    assert main(extract) == 0
    assert "BatchNorm recalibrated" in capsys.readouterr().out
    extracted = load_model(tmp_path / "s.pth")
    assert isinstance(extracted, HRNetNetwork)
    assert extracted.arch == HRNetArch.from_dict(json.loads((out / "arch.json").read_text())["arch"])
