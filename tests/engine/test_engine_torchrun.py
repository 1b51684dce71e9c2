"""Distributed training on CPU (gloo): a real 2-process torchrun job, and the gradient all-reduce on its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import vipnas
from vipnas.engine.distributed import all_reduce_gradients, average_buffers
from vipnas.engine.trainer import state_digest

pytestmark = pytest.mark.dist


def _rows(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_two_process_torchrun_samples_the_same_archs_and_ends_with_identical_weights(tmp_path, overrides) -> None:
    work_dir = tmp_path / "run"
    settings = overrides(**{"schedule.max_iters": 3, "runtime.trace": True, "runtime.validate": True,
                            "runtime.val_by_epoch": False, "runtime.val_interval": 3})  # fmt: skip
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--standalone",
               "-m", "vipnas", "train", "synthpose_mbv3_supernet", "--work-dir", str(work_dir), "--deterministic",
               *[arg for item in settings for arg in ("--set", item)]]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]

    ranks = [_rows(work_dir / "trace" / f"rank{rank}.jsonl") for rank in (0, 1)]
    steps = [[row for row in rows if "archs" in row] for rows in ranks]
    assert [len(s) for s in steps] == [3, 3]
    assert [row["archs"] for row in steps[0]] == [row["archs"] for row in steps[1]]  # same sub-networks per step
    assert len({row["archs"]["random1"] for row in steps[0]}) == 3  # and new ones every step
    assert steps[0][0]["losses"] != steps[1][0]["losses"]  # the ranks trained on different crops...
    digests = [rows[-1]["final_digest"] for rows in ranks]
    assert digests[0] == digests[1]  # ...and still hold bitwise the same model
    checkpoint = vipnas.load_model(work_dir / "checkpoints" / "last.pth")  # written by rank 0 only
    assert state_digest(checkpoint) == digests[0]
    summary = json.loads((work_dir / "summary.json").read_text())
    assert summary["iteration"] == 3 and "largest/loss" in summary["metrics"] and "smallest/AP" in summary["metrics"]
    assert "2 process(es)" in (work_dir / "train.log").read_text()


def _worker(rank: int, store: str, results: dict) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        parameters = [
            torch.nn.Parameter(torch.zeros(3)),
            torch.nn.Parameter(torch.zeros(2)),
            torch.nn.Parameter(torch.zeros(1)),
        ]
        parameters[0].grad = torch.full((3,), float(rank + 1))  # 1 and 2 -> 1.5
        parameters[1].grad = torch.tensor([rank * 4.0, 2.0])  # (0, 2) and (4, 2) -> (2, 2)
        count = all_reduce_gradients(parameters)  # parameters[2] has no gradient on either rank
        module = torch.nn.BatchNorm1d(2)
        module.running_mean.fill_(float(rank))
        average_buffers(module)
        outcome = [count, parameters[0].grad.tolist(), parameters[1].grad.tolist(), parameters[2].grad,
                   module.running_mean.tolist()]  # fmt: skip
        if rank == 1:  # rank 1 now "skips" a block that rank 0 used
            parameters[1].grad = None
        try:
            all_reduce_gradients(parameters)
            outcome.append("no error")
        except RuntimeError as error:
            outcome.append(str(error))
        results[rank] = outcome
    finally:
        dist.destroy_process_group()


def test_gradient_all_reduce_averages_present_gradients_and_detects_diverging_archs(tmp_path) -> None:
    manager = mp.Manager()
    results = manager.dict()
    mp.spawn(_worker, args=(str(tmp_path / "store"), results), nprocs=2, join=True)
    for rank in (0, 1):
        count, first, second, third, running_mean, error = results[rank]
        assert count == 2 and first == [1.5, 1.5, 1.5] and second == [2.0, 2.0] and third is None
        assert running_mean == [0.5, 0.5]
        assert "ranks ran different sub-networks" in error
