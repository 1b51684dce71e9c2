"""Training steps as strategies, driven directly: each returns the losses of a hand-computed forward of the same
networks and leaves their gradients (no optimizer step); the sandwich runs exactly largest, smallest and N random
archs and leaves the running BN statistics to the largest; the loop applies any strategy's gradients, refuses its
non-finite losses and checkpoints its state."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import pytest
import torch

import vipnas
from vipnas.config import load_config
from vipnas.engine.batchnorm import BATCH_NORMS
from vipnas.engine.checkpoint import read_training_checkpoint
from vipnas.engine.distributed import DistributedInfo
from vipnas.engine.losses import keypoint_mse_loss
from vipnas.engine.sandwich import sandwich_archs
from vipnas.engine.steps import MixedPrecision, SandwichStep, StaticStep, TrainStep
from vipnas.engine.trainer import NonFiniteLossError, Trainer
from vipnas.space import MOBILENETV3_SPACE

CPU = torch.device("cpu")
FP32 = MixedPrecision("fp32", CPU)
INPUT = (64, 64)


def _batch(seed: int = 0, size: int = 2) -> SimpleNamespace:
    generator = torch.Generator().manual_seed(seed)
    return SimpleNamespace(
        image=torch.randn(size, 3, *INPUT, generator=generator),
        heatmaps=torch.rand(size, 17, INPUT[0] // 4, INPUT[1] // 4, generator=generator) * 0.1,
        target_weight=(torch.rand(size, 17, generator=generator) > 0.2).float(),  # some joints unlabelled
    )


def _supernet() -> Any:
    return vipnas.create_model("mobilenetv3_supernet", input_size=INPUT).train()


def _bn_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if "running" in k or "num_batches_tracked" in k}


def _assert_same_gradients(model: torch.nn.Module, reference: torch.nn.Module) -> int:
    """Gradients equal parameter by parameter (``None`` where the reference has none); returns how many exist."""
    present = 0
    for (name, got), (_, expected) in zip(model.named_parameters(), reference.named_parameters(), strict=True):
        if expected.grad is None:
            assert got.grad is None, name
        else:
            torch.testing.assert_close(got.grad, expected.grad, rtol=1e-4, atol=1e-9, msg=name)
            present += 1
    return present


def test_static_step_returns_the_loss_and_gradients_of_one_forward_and_does_not_update() -> None:
    model = vipnas.create_model(MOBILENETV3_SPACE.smallest(), input_size=INPUT).train()
    reference, start = copy.deepcopy(model), copy.deepcopy(model)
    batch = _batch()
    step = StaticStep(model, FP32, CPU)
    losses = step.run(batch, 5)

    expected = keypoint_mse_loss(reference(batch.image), batch.heatmaps, batch.target_weight)
    expected.backward()
    assert list(losses) == ["network"] and losses["network"] == pytest.approx(expected.item(), rel=1e-6)
    assert expected.item() > 0
    assert step.archs == step.plan(5) == [("network", None)]
    assert _assert_same_gradients(model, reference) == len(list(model.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), start.parameters(), strict=True))

    weighted = StaticStep(copy.deepcopy(start), FP32, CPU, criterion=lambda h, t, w: 3 * keypoint_mse_loss(h, t, w))
    assert weighted.run(batch, 0)["network"] == pytest.approx(3 * expected.item(), rel=1e-6)


def test_sandwich_step_runs_exactly_largest_smallest_and_n_random_archs() -> None:
    supernet = _supernet()
    space = supernet.space
    step = SandwichStep(supernet, FP32, CPU, seed=7, num_random=3)
    ran: list[Any] = []
    supernet.register_forward_pre_hook(lambda module, inputs: ran.append(module.arch))
    losses = step.run(_batch(), 11)

    drawn = sandwich_archs(space, seed=7, step=11, num_random=3)
    assert list(losses) == [name for name, _ in drawn] == ["largest", "smallest", "random1", "random2", "random3"]
    assert ran == [arch for _, arch in drawn] and step.archs == drawn == step.plan(11)
    assert ran[0] == space.largest() and ran[1] == space.smallest() and len({a.to_json() for a in ran}) == 5
    assert step.plan(12)[2:] != drawn[2:]  # new random archs every iteration
    assert supernet.arch == space.largest()  # left as validation expects it
    assert all(value > 0 for value in losses.values())


def test_sandwich_losses_and_gradients_equal_a_hand_computed_sandwich_with_distillation() -> None:
    supernet = _supernet()
    reference, start = copy.deepcopy(supernet), copy.deepcopy(supernet)
    batch = _batch(seed=1)
    step = SandwichStep(supernet, FP32, CPU, seed=3, num_random=2)
    losses = step.run(batch, 4)

    total, teacher, plain = 0.0, None, {}
    for name, arch in step.archs:
        with reference.using(arch):
            heatmaps = reference(batch.image)
        loss = keypoint_mse_loss(heatmaps, batch.heatmaps, batch.target_weight)
        plain[name] = loss.item()
        if teacher is None:
            teacher = heatmaps.detach()
        else:
            loss = loss + keypoint_mse_loss(heatmaps, teacher)
        assert losses[name] == pytest.approx(loss.item(), rel=1e-6), name
        total = total + loss
    total.backward()  # the step's objective is the sum of the four losses
    assert all(losses[name] > plain[name] for name in ("smallest", "random1", "random2"))  # soft labels count
    present = _assert_same_gradients(supernet, reference)
    assert present > 0
    assert all(torch.equal(a, b) for a, b in zip(supernet.parameters(), start.parameters(), strict=True))

    undistilled = SandwichStep(copy.deepcopy(start), FP32, CPU, seed=3, num_random=2, distill=False).run(batch, 4)
    assert undistilled == pytest.approx(plain, rel=1e-6)


def test_sandwich_step_leaves_the_running_statistics_to_the_largest() -> None:
    supernet = _supernet()
    batch = _batch(seed=2)
    largest_only, every = copy.deepcopy(supernet), copy.deepcopy(supernet)
    momenta = [m.momentum for m in supernet.modules() if isinstance(m, BATCH_NORMS)]
    with torch.no_grad():
        largest_only(batch.image)  # the largest arch is active: its one momentum update
    SandwichStep(supernet, FP32, CPU, seed=0).run(batch, 0)
    expected, got = _bn_state(largest_only), _bn_state(supernet)
    assert expected.keys() == got.keys() and all(torch.equal(expected[k], got[k]) for k in expected)
    assert any(not torch.equal(v, _bn_state(every)[k]) for k, v in got.items())  # the largest did update them
    assert [m.momentum for m in supernet.modules() if isinstance(m, BATCH_NORMS)] == momenta

    SandwichStep(every, FP32, CPU, seed=0, freeze_bn_stats=False).run(batch, 0)
    assert any(not torch.equal(v, _bn_state(every)[k]) for k, v in expected.items())


def test_mixed_precision_autocasts_forwards_and_clips_before_the_optimizer_step() -> None:
    model = vipnas.create_model(MOBILENETV3_SPACE.smallest(), input_size=INPUT).train()
    dtypes: list[torch.dtype] = []
    model.register_forward_hook(lambda module, inputs, output: dtypes.append(output.dtype))
    loss = StaticStep(model, MixedPrecision("bf16", CPU), CPU).run(_batch(), 0)["network"]
    assert dtypes == [torch.bfloat16] and 0 < loss < float("inf")
    with pytest.raises(ValueError, match=r"fp16.*CUDA"):
        MixedPrecision("fp16", CPU)

    linear = torch.nn.Linear(4, 1, bias=False)
    start = linear.weight.detach().clone()
    optimizer = torch.optim.SGD(linear.parameters(), lr=1.0)
    FP32.backward(linear(torch.ones(1, 4)).sum())  # gradient (1, 1, 1, 1), norm 2
    FP32.step(optimizer, list(linear.parameters()), grad_clip=0.5)
    torch.testing.assert_close(linear.weight.grad, torch.full((1, 4), 0.25))
    torch.testing.assert_close(linear.weight.detach(), start - 0.25)


class _ScaledStep(TrainStep):
    """A third strategy for the loop: the static network's loss times ``factor``, which it keeps as state."""

    def __init__(self, model: torch.nn.Module, factor: float) -> None:
        self.model, self.factor, self.archs = model, factor, []

    def plan(self, iteration: int) -> list[tuple[str, Any]]:
        return [("scaled", None)]

    def run(self, batch: Any, iteration: int) -> dict[str, float]:
        self.archs = self.plan(iteration)
        loss = self.factor * keypoint_mse_loss(self.model(batch.image), batch.heatmaps, batch.target_weight)
        loss.backward()
        return {"scaled": loss.item()}

    def state_dict(self) -> dict[str, Any]:
        return {"factor": self.factor}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.factor = state["factor"]


def test_the_loop_steps_any_strategy_refuses_its_non_finite_losses_and_checkpoints_its_state(
    tmp_path, overrides
) -> None:
    single = DistributedInfo(rank=0, local_rank=0, world_size=1, device=CPU)
    config = load_config("synthpose_s_vipnas_mbv3", overrides())
    trainer = Trainer(config, single, work_dir=tmp_path / "run")
    batch = next(iter(trainer.loader))
    start = copy.deepcopy(trainer.model)

    trainer.train_step = _ScaledStep(trainer.model, float("nan"))
    with pytest.raises(NonFiniteLossError, match=r"iteration 1: the training loss is not finite \(scaled nan\)"):
        trainer.run_step(batch)
    assert all(torch.equal(a, b) for a, b in zip(trainer.model.parameters(), start.parameters(), strict=True))

    trainer.train_step = _ScaledStep(trainer.model, 2.0)
    reference = copy.deepcopy(start)
    expected = 2.0 * keypoint_mse_loss(reference(batch.image), batch.heatmaps, batch.target_weight)
    assert trainer.run_step(batch) == {"scaled": pytest.approx(expected.item(), rel=1e-6)}
    assert trainer.current_archs == [("scaled", None)] and trainer.schedule.iteration == 1
    assert any(not torch.equal(a, b) for a, b in zip(trainer.model.parameters(), start.parameters(), strict=True))

    trainer.iteration = 1
    trainer.save_checkpoint()
    training = read_training_checkpoint(trainer.checkpoints.last)["training"]
    assert training["step"] == {"factor": 2.0} and training["iteration"] == 1
    trainer.train_step = _ScaledStep(trainer.model, 5.0)
    trainer.resume(trainer.checkpoints.last)
    assert trainer.train_step.factor == 2.0 and trainer.iteration == 1

    plain = Trainer(config, single, work_dir=tmp_path / "plain")  # a stateless step: the original layout
    plain.save_checkpoint()
    assert "step" not in read_training_checkpoint(plain.checkpoints.last)["training"]
    with pytest.raises(ValueError, match=r"StaticStep keeps no state.*factor"):
        plain.resume(trainer.checkpoints.last)
