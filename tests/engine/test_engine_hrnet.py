"""The HRNet-W32 supernet's SynthPose preset trains like the other families: the trainer builds the supernet and
runs the sandwich (largest, smallest, two random sub-networks) on it, and its checkpoint resumes into the same run."""

from __future__ import annotations

import math

import torch

from vipnas.config import load_config
from vipnas.engine.checkpoint import check_same_model
from vipnas.engine.distributed import DistributedInfo
from vipnas.engine.steps import SandwichStep
from vipnas.engine.trainer import Trainer
from vipnas.models.checkpoint import read_checkpoint
from vipnas.models.hrnet_supernet import HRNetSupernet
from vipnas.space import HRNET_W32_SPACE

SINGLE = DistributedInfo(rank=0, local_rank=0, world_size=1, device=torch.device("cpu"))


def test_hrnet_preset_runs_a_sandwich_step(tmp_path, overrides) -> None:
    config = load_config("synthpose_hrnet_supernet", overrides())
    trainer = Trainer(config, SINGLE, work_dir=tmp_path)
    model = trainer.model
    assert isinstance(model, HRNetSupernet) and model.space == HRNET_W32_SPACE
    assert trainer.supernet and isinstance(trainer.train_step, SandwichStep)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    losses = trainer.run_step(next(iter(trainer.loader)))
    assert set(losses) == {"largest", "smallest", "random1", "random2"}
    assert all(math.isfinite(value) and value > 0 for value in losses.values())
    assert model.arch == HRNET_W32_SPACE.largest()  # the step leaves the supernet at its largest arch
    moved = [name for name, p in model.named_parameters() if not torch.equal(p, before[name])]
    assert "head.final_layer.weight" in moved and any(".attention." in name for name in moved)
    trainer.save_checkpoint()
    payload = read_checkpoint(tmp_path / "checkpoints" / "last.pth")
    assert payload["kind"] == "supernet" and payload["space"]["family"] == "hrnet"
    check_same_model(payload, model, "last.pth")  # what resuming checks: same kind, space and metadata
