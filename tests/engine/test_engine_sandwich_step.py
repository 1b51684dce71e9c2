"""The supernet step: sandwich archs from a shared seed, summed losses with in-place distillation, skipped blocks
untouched, BN running statistics from the largest sub-network only."""

from __future__ import annotations

import copy

import pytest
import torch

from vipnas.config import load_config
from vipnas.engine.distributed import DistributedInfo
from vipnas.engine.losses import keypoint_mse_loss
from vipnas.engine.sandwich import arch_digest, sandwich_archs
from vipnas.engine.trainer import Trainer
from vipnas.space import MOBILENETV3_SPACE, RESNET50_SPACE

SINGLE = DistributedInfo(rank=0, local_rank=0, world_size=1, device=torch.device("cpu"))


def test_sandwich_archs_are_a_function_of_seed_and_step() -> None:
    first = sandwich_archs(RESNET50_SPACE, seed=3, step=10)
    assert [name for name, _ in first] == ["largest", "smallest", "random1", "random2"]
    assert first[0][1] == RESNET50_SPACE.largest() and first[1][1] == RESNET50_SPACE.smallest()
    assert first == sandwich_archs(RESNET50_SPACE, seed=3, step=10)  # what every rank draws
    randoms = {
        arch_digest(arch) for step in range(20) for _, arch in sandwich_archs(RESNET50_SPACE, seed=3, step=step)[2:]
    }
    assert len(randoms) == 40  # fresh archs every step
    assert sandwich_archs(RESNET50_SPACE, seed=4, step=10) != first
    assert len(sandwich_archs(MOBILENETV3_SPACE, seed=0, step=0, num_random=5)) == 7
    for _, arch in first:
        RESNET50_SPACE.validate(arch)


def _trainer(tmp_path, overrides, **extra) -> Trainer:
    config = load_config("synthpose_mbv3_supernet", overrides(**extra))
    return Trainer(config, SINGLE, work_dir=tmp_path)


def _bn_buffers(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if "running" in k}


def test_sandwich_step_sums_the_four_losses_and_distils_from_the_largest(tmp_path, overrides) -> None:
    trainer = _trainer(tmp_path, overrides)
    batch = next(iter(trainer.loader))
    before = copy.deepcopy(trainer.model)
    losses = trainer.run_step(batch)
    archs = trainer.current_archs
    assert list(losses) == ["largest", "smallest", "random1", "random2"]

    # the same objective by hand: sum over sub-networks, soft labels = the largest's detached heatmaps
    reference = copy.deepcopy(before)
    total, teacher = 0.0, None
    for name, arch in archs:
        reference.activate(arch)
        heatmaps = reference(batch.image)
        loss = keypoint_mse_loss(heatmaps, batch.heatmaps, batch.target_weight)
        if teacher is not None:
            loss = loss + keypoint_mse_loss(heatmaps, teacher)
        else:
            teacher = heatmaps.detach()
        assert loss.item() == pytest.approx(losses[name], rel=1e-5)
        total = total + loss
    total.backward()
    for (name, trained), (_, expected), (_, start) in zip(
        trainer.model.named_parameters(), reference.named_parameters(), before.named_parameters(), strict=True
    ):
        if expected.grad is None:  # no sub-network of this step used it: no gradient, and Adam leaves it alone
            assert trained.grad is None and torch.equal(trained, start), name
        else:
            torch.testing.assert_close(trained.grad, expected.grad, rtol=1e-4, atol=1e-9)
            assert not torch.equal(trained, start), name
    assert trainer.model.arch == trainer.model.space.largest()


def test_running_statistics_come_from_the_largest_subnetwork_only(tmp_path, overrides) -> None:
    trainer = _trainer(tmp_path / "largest", overrides)
    batch = next(iter(trainer.loader))
    largest_only = copy.deepcopy(trainer.model).train()
    with torch.no_grad():
        largest_only(batch.image)  # the largest arch is active: this is its momentum update
    trainer.run_step(batch)
    expected, got = _bn_buffers(largest_only), _bn_buffers(trainer.model)
    assert all(torch.equal(expected[k], got[k]) for k in expected)

    every = _trainer(tmp_path / "all", overrides, **{"supernet.bn_stats": "all"})
    every.run_step(batch)
    got = _bn_buffers(every.model)
    assert any(not torch.equal(expected[k], got[k]) for k in expected)


def test_static_network_step_and_validation_metrics(tmp_path, overrides) -> None:
    config = load_config("synthpose_s_vipnas_mbv3", [*overrides(), "runtime.validate=True"])
    trainer = Trainer(config, SINGLE, work_dir=tmp_path)
    start = copy.deepcopy(trainer.model)
    losses = trainer.run_step(next(iter(trainer.loader)))
    assert list(losses) == ["network"] and trainer.step_archs() == [("network", None)]
    assert any(not torch.equal(a, b) for a, b in zip(trainer.model.parameters(), start.parameters(), strict=True))
    metrics = trainer.validate()
    assert {"loss", "AP", "AR"} <= set(metrics) and 0.0 <= metrics["AP"] <= 1.0 and metrics["loss"] > 0
    assert trainer.model.training  # validation restores the mode


def test_bf16_autocast_gradient_clipping_and_autoscaled_lr(tmp_path, overrides) -> None:
    config = load_config(
        "synthpose_mbv3_supernet",
        overrides(**{"runtime.precision": "bf16", "optimizer.grad_clip": 1e-6, "optimizer.base_batch_size": 4,
                     "schedule.warmup_iters": 0}),
    )  # fmt: skip
    trainer = Trainer(config, SINGLE, work_dir=tmp_path, autoscale_lr=True)
    assert trainer.schedule.base_lrs == [pytest.approx(1e-3 * 2 / 4)]  # lr x batch 2 x 1 process / 4
    start = [p.detach().clone() for p in trainer.parameters]
    losses = trainer.run_step(next(iter(trainer.loader)))
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    norm = torch.norm(torch.stack([p.grad.norm() for p in trainer.parameters if p.grad is not None]))
    assert norm.item() == pytest.approx(1e-6, rel=1e-3)  # clipped to the configured norm
    assert any(not torch.equal(p, s) for p, s in zip(trainer.parameters, start, strict=True))
    with pytest.raises(ValueError, match=r"fp16.*CUDA"):
        Trainer(load_config("synthpose_mbv3_supernet", overrides(**{"runtime.precision": "fp16"})), SINGLE,
                work_dir=tmp_path / "fp16")  # fmt: skip


def test_validation_on_detector_boxes_uses_the_evaluator(tmp_path, overrides) -> None:
    from vipnas.engine.build import prepare_data
    from vipnas.engine.validation import Validator

    config = load_config("synthpose_s_vipnas_mbv3", [*overrides(), "data.val_detections=simulated", "data.val_limit=0"])
    model = Trainer(config, SINGLE, work_dir=tmp_path).model
    validator = Validator(config, model.metadata, prepare_data(config), torch.device("cpu"))
    boxes = validator.ap_loader.dataset.annotations.instances
    assert boxes and all(box.box_score < 1 for box in boxes)  # scored detector boxes, not ground truth
    metrics = validator.evaluate(model)
    assert {"loss", "AP", "AP50", "AR"} <= set(metrics) and model.training
