"""Multi-frame propagation step: the temporal sandwich, losses equal to a hand-written propagation through the clip,
a frozen key network, detached propagated heatmaps, running BN statistics from the largest path only."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from vipnas.engine.batchnorm import frozen_bn_stats
from vipnas.engine.losses import keypoint_mse_loss
from vipnas.engine.propagation import PropagationStep, temporal_sandwich
from vipnas.engine.steps import MixedPrecision
from vipnas.models.pose import build_static
from vipnas.models.temporal_supernet import TemporalSupernet
from vipnas.nn.warp import warp_heatmaps
from vipnas.space import MOBILENETV3_TINY_SPACE
from vipnas.space.temporal import TemporalSpace

INPUT = (64, 64)
CPU = torch.device("cpu")


@pytest.fixture
def models(randomized):
    key = randomized(build_static(MOBILENETV3_TINY_SPACE.largest(), input_size=INPUT), seed=1)
    space = TemporalSpace(MOBILENETV3_TINY_SPACE, key.arch, length=3)
    supernet = randomized(TemporalSupernet.from_key_network(key, space), seed=2).train()
    return key, supernet


def _batch(seed: int = 0) -> SimpleNamespace:
    generator = torch.Generator().manual_seed(seed)
    affines = np.zeros((2, 4, 2, 3))
    affines[..., 0, 0] = affines[..., 1, 1] = 1.0
    affines[:, :, 0, 2] = np.arange(4) * 3.0  # the crop moves 3 pixels right per frame
    return SimpleNamespace(
        image=torch.randn(2, 4, 3, *INPUT, generator=generator),
        heatmaps=torch.rand(2, 4, 17, 16, 16, generator=generator),
        target_weight=(torch.rand(2, 4, 17, generator=generator) > 0.2).float(),
        inverse_affine=affines,
    )


def test_temporal_sandwich_is_seeded_and_follows_the_paper() -> None:
    space = TemporalSpace(MOBILENETV3_TINY_SPACE, MOBILENETV3_TINY_SPACE.largest(), length=3)
    plan = temporal_sandwich(space, seed=0, step=5, num_random=2)
    assert plan == temporal_sandwich(space, seed=0, step=5, num_random=2) != temporal_sandwich(space, seed=0, step=6)
    names = [name for name, _ in plan]
    assert names == ["largest", "smallest", "random1", "random2"]
    assert all(frame.arch == space.key for frame in plan[0][1].frames)
    assert all(frame.arch == space.frame_space.smallest() for frame in plan[1][1].frames)
    assert all(space.contains(arch) for _, arch in plan)


def test_losses_and_gradients_equal_a_hand_written_propagation(models) -> None:
    key, supernet = models
    batch = _batch()
    step = PropagationStep(supernet, key, MixedPrecision("fp32", CPU), CPU, seed=3, num_random=1, distill=False)
    key_before = {k: v.clone() for k, v in key.state_dict().items()}
    losses = step.run(batch, iteration=0)
    got = {name: p.grad.clone() for name, p in supernet.named_parameters() if p.grad is not None}
    assert set(losses) == {"largest", "smallest", "random1"} and all(v > 0 for v in losses.values())

    supernet.zero_grad(set_to_none=True)
    expected = {}
    for name, arch in step.plan(0):
        with torch.no_grad():
            previous = key.eval()(batch.image[:, 0])
        total = 0.0
        for t, frame in enumerate(arch.frames, start=1):
            supernet.activate(frame)
            warped = warp_heatmaps(
                previous, batch.inverse_affine[:, t - 1], batch.inverse_affine[:, t], INPUT
            )  # fmt: skip
            with frozen_bn_stats(supernet.network, name != "largest"):
                heatmaps = supernet(batch.image[:, t], warped)
            loss = keypoint_mse_loss(heatmaps, batch.heatmaps[:, t], batch.target_weight[:, t])
            loss.backward()
            previous, total = heatmaps.detach(), total + loss.item()
        expected[name] = total
    assert losses == pytest.approx(expected, rel=1e-6)
    for name, parameter in supernet.named_parameters():
        if parameter.grad is not None:
            torch.testing.assert_close(got[name], parameter.grad, rtol=1e-5, atol=1e-8)
    assert any(name.startswith("fusions.") for name in got)  # the fusion modules are trained
    assert all(p.grad is None for p in key.parameters())
    assert all(torch.equal(key.state_dict()[k], v) for k, v in key_before.items())  # the key network is frozen


def test_only_the_largest_path_updates_running_statistics(models) -> None:
    key, supernet = models
    bn = supernet.network.backbone.stem.bn
    step = PropagationStep(supernet, key, MixedPrecision("fp32", CPU), CPU, seed=3, num_random=1)
    only_largest = PropagationStep(supernet, key, MixedPrecision("fp32", CPU), CPU, seed=3, num_random=1)
    only_largest.plan = lambda iteration: step.plan(iteration)[:1]  # type: ignore[method-assign]
    state = {k: v.clone() for k, v in supernet.state_dict().items()}
    step.run(_batch(), 0)
    after_all = bn.running_mean.clone()
    supernet.load_state_dict(state)
    only_largest.run(_batch(), 0)
    torch.testing.assert_close(bn.running_mean, after_all)
    assert not torch.equal(after_all, state["network.backbone.stem.bn.running_mean"])


def test_a_clip_of_the_wrong_length_is_a_named_error(models) -> None:
    key, supernet = models
    batch = _batch()
    batch.image = batch.image[:, :3]
    step = PropagationStep(supernet, key, MixedPrecision("fp32", CPU), CPU, seed=0)
    with pytest.raises(ValueError, match="T=3"):
        step.run(batch, 0)
