"""The CPU-efficient family's SynthPose preset trains like the others: one sandwich step of the real preset lowers
the four sub-networks' summed loss when repeated on the same batch, and its checkpoint's extracted subnet loads."""

from __future__ import annotations

import pytest
import torch

from vipnas.config import load_config
from vipnas.engine.distributed import DistributedInfo
from vipnas.engine.trainer import Trainer
from vipnas.models.supernet import PoseSupernet
from vipnas.space import CPU_EFFICIENT_REALTIME_SPACE, CPU_EFFICIENT_SPACE

SINGLE = DistributedInfo(rank=0, local_rank=0, world_size=1, device=torch.device("cpu"))


@pytest.mark.parametrize(
    ("preset", "space"),
    [
        ("synthpose_cpu_efficient_supernet", CPU_EFFICIENT_SPACE),
        ("synthpose_cpu_efficient_realtime_supernet", CPU_EFFICIENT_REALTIME_SPACE),
    ],
)
def test_cpu_efficient_preset_builds_its_supernet_and_learns_a_batch(tmp_path, overrides, preset, space) -> None:
    config = load_config(preset, overrides(**{"optimizer.lr": 3e-3}))
    trainer = Trainer(config, SINGLE, work_dir=tmp_path)
    assert isinstance(trainer.model, PoseSupernet) and trainer.model.space == space
    batch = next(iter(trainer.loader))
    first = sum(trainer.run_step(batch).values())
    for _ in range(8):
        last = sum(trainer.run_step(batch).values())
    assert last < 0.9 * first, (first, last)
    static = trainer.model.extract_subnet(space.smallest())
    assert sum(p.numel() for p in static.parameters()) > 0 and static.training == trainer.model.training
