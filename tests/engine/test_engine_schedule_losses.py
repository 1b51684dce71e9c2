"""The learning-rate schedule (MMPose's LinearLR warm-up x MultiStepLR) and the heatmap losses."""

from __future__ import annotations

import math

import pytest
import torch

from vipnas.engine.losses import distillation_loss, keypoint_mse_loss
from vipnas.engine.schedule import LRSchedule


def _schedule(**options) -> LRSchedule:
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=5e-4)
    return LRSchedule(optimizer, **options)


def test_warmup_then_steps_at_epoch_milestones() -> None:
    schedule = _schedule(iters_per_epoch=10, epochs=21, milestones=(17, 20), warmup_iters=50, warmup_ratio=0.001)
    lrs = []
    for _ in range(210):
        lrs.append(schedule.get_last_lr()[0])
        schedule.step()
    assert lrs[0] == pytest.approx(5e-4 * 0.001)
    assert lrs[25] == pytest.approx(5e-4 * (0.001 + 0.999 * 25 / 50))
    assert lrs[50] == lrs[169] == pytest.approx(5e-4)
    assert lrs[170] == pytest.approx(5e-5) and lrs[199] == pytest.approx(5e-5)  # x0.1 from the first iteration of 17
    assert lrs[200] == pytest.approx(5e-6)


def test_cosine_and_state_round_trip() -> None:
    schedule = _schedule(iters_per_epoch=4, epochs=10, policy="cosine", min_lr_ratio=0.1)
    assert schedule.factor(0) == pytest.approx(1.0)
    assert schedule.factor(20) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 2)))
    assert schedule.factor(40) == pytest.approx(0.1)
    for _ in range(13):
        schedule.step()
    fresh = _schedule(iters_per_epoch=4, epochs=10, policy="cosine", min_lr_ratio=0.1)
    fresh.load_state_dict(schedule.state_dict())
    assert fresh.get_last_lr() == schedule.get_last_lr() and fresh.iteration == 13


def test_cosine_follows_max_iters_after_the_warmup_and_resumes_at_the_same_rates() -> None:
    options = {"iters_per_epoch": 10, "epochs": 100, "policy": "cosine", "min_lr_ratio": 0.05, "warmup_iters": 20}
    schedule = _schedule(**options, max_iters=60)  # the run stops at 60 of 1,000 iterations
    assert schedule.total_iters == 60
    lrs = []
    for _ in range(61):
        lrs.append(schedule.get_last_lr()[0])
        schedule.step()
    assert lrs[60] == pytest.approx(5e-4 * 0.05) and lrs[59] > lrs[60]  # min_lr_ratio exactly at max_iters
    assert lrs[30] == pytest.approx(5e-4 * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * 30 / 60))))
    warmup = 0.001 + 0.999 * 10 / 20  # inside the warm-up the two factors multiply
    assert lrs[10] == pytest.approx(5e-4 * warmup * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * 10 / 60))))
    assert _schedule(**options).factor(60) > 0.95  # without max_iters: 1,000 iterations long, barely decayed
    assert _schedule(**options, max_iters=5000).total_iters == 1000  # a longer max_iters changes nothing
    interrupted = _schedule(**options, max_iters=60)
    for _ in range(37):
        interrupted.step()
    resumed = _schedule(**options, max_iters=60)
    resumed.load_state_dict(interrupted.state_dict())
    for _ in range(23):
        assert resumed.get_last_lr() == interrupted.get_last_lr()
        resumed.step(), interrupted.step()
    assert resumed.get_last_lr()[0] == pytest.approx(lrs[60])


def test_max_iters_keeps_step_milestones_in_epochs() -> None:
    short = _schedule(iters_per_epoch=10, epochs=21, milestones=(3,), warmup_iters=0, max_iters=25)
    assert [short.factor(i) for i in (29, 30)] == [1.0, pytest.approx(0.1)]


def test_trainer_passes_max_iters_to_the_schedule(tmp_path, overrides) -> None:
    from vipnas.config import load_config
    from vipnas.engine.distributed import DistributedInfo
    from vipnas.engine.trainer import Trainer

    single = DistributedInfo(rank=0, local_rank=0, world_size=1, device=torch.device("cpu"))
    config = load_config("synthpose_mbv3_supernet", overrides(**{"schedule.policy": "cosine", "schedule.max_iters": 3}))
    trainer = Trainer(config, single, work_dir=tmp_path)
    assert trainer.schedule.total_iters == trainer.total_iters == 3


def test_keypoint_mse_loss_weights_joints_like_mmpose_1x() -> None:
    generator = torch.Generator().manual_seed(0)
    pred, target = torch.rand(2, 3, 4, 5, generator=generator), torch.rand(2, 3, 4, 5, generator=generator)
    weight = torch.tensor([[1.0, 0.0, 0.5], [1.0, 1.0, 0.0]])
    expected = ((pred - target) ** 2 * weight[:, :, None, None]).mean()  # mean over N*K*H*W, weight not squared
    assert keypoint_mse_loss(pred, target, weight).item() == pytest.approx(expected.item())
    changed = pred.clone()
    changed[0, 1] += 10.0  # a zero-weight joint does not count
    assert keypoint_mse_loss(changed, target, weight).item() == pytest.approx(expected.item())
    assert keypoint_mse_loss(pred, target).item() == pytest.approx(((pred - target) ** 2).mean().item())
    with pytest.raises(ValueError, match="target_weight"):
        keypoint_mse_loss(pred, target, weight[:, :2])


def test_distillation_loss_counts_every_joint_and_does_not_train_the_teacher() -> None:
    student = torch.rand(1, 2, 3, 3, requires_grad=True)
    teacher = torch.rand(1, 2, 3, 3, requires_grad=True)
    loss = distillation_loss(student, teacher)
    loss.backward()
    assert loss.item() == pytest.approx(((student - teacher) ** 2).mean().item())
    assert teacher.grad is None and student.grad is not None
