"""kill -9 during training, resume from the last checkpoint: the final weights equal those of an uninterrupted run
(deterministic mode, single process, bitwise)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import torch

from vipnas.engine.checkpoint import read_training_checkpoint

TOTAL = 9  # iterations of the compared runs; 4 per epoch, so the resume crosses epoch boundaries


def _command(work_dir, overrides, max_iters: int) -> list[str]:
    settings = overrides(**{"schedule.max_iters": max_iters, "runtime.checkpoint_interval": 2,
                            "runtime.checkpoint_by_epoch": False})  # fmt: skip
    return [sys.executable, "-m", "vipnas", "train", "synthpose_mbv3_supernet", "--work-dir", str(work_dir),
            "--deterministic", *[arg for item in settings for arg in ("--set", item)]]  # fmt: skip


def test_kill_9_then_resume_gives_the_weights_of_an_uninterrupted_run(
    tmp_path, overrides, kill_at_first_checkpoint
) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    straight = subprocess.run(_command(tmp_path / "straight", overrides, TOTAL), capture_output=True, text=True,
                              timeout=600, env=env)  # fmt: skip
    assert straight.returncode == 0, straight.stderr[-3000:]

    # the victim asks for far more iterations than it will live for; the schedule follows epochs, not max_iters
    last = tmp_path / "killed" / "checkpoints" / "last.pth"
    kill_at_first_checkpoint(_command(tmp_path / "killed", overrides, 1000), last, env)
    killed_at = read_training_checkpoint(last)["training"]["iteration"]
    assert 2 <= killed_at < TOTAL and killed_at % 2 == 0

    resumed = subprocess.run([*_command(tmp_path / "killed", overrides, TOTAL), "--resume-from", str(last)],
                             capture_output=True, text=True, timeout=600, env=env)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resumed from {last} at epoch" in (tmp_path / "killed" / "train.log").read_text()

    final = [read_training_checkpoint(tmp_path / run / "checkpoints" / "last.pth") for run in ("straight", "killed")]
    assert final[0]["training"]["iteration"] == final[1]["training"]["iteration"] == TOTAL
    weights = [payload["state_dict"] for payload in final]
    assert weights[0].keys() == weights[1].keys()
    different = [key for key in weights[0] if not torch.equal(weights[0][key], weights[1][key])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"
    optimizers = [payload["training"]["optimizer"]["state"] for payload in final]
    assert all(torch.equal(optimizers[0][i]["exp_avg_sq"], optimizers[1][i]["exp_avg_sq"]) for i in optimizers[0])
    # the metrics file reads as one run: rows after the checkpoint that the killed process wrote are dropped
    rows = [json.loads(line) for line in (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()]
    assert [row["iteration"] for row in rows] == list(range(1, TOTAL + 1))
