"""Shared fixtures of the engine tests: one tiny SynthPose dataset per session and fast-run overrides."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from vipnas.data import synthpose


@pytest.fixture(autouse=True)
def single_thread():
    """Engine tests run torch on one thread (restored afterwards): on a busy 2-core machine, two OpenMP threads that
    spin-wait for each other made some training steps 50x slower; one thread is steady."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_synthpose(tmp_path_factory):
    """12 SynthPose images (10 train, 2 val): about 25 training persons."""
    root = tmp_path_factory.mktemp("engine-synthpose")
    synthpose.generate(root, images=12, seed=5, workers=1, progress=False)
    return root


def tiny_overrides(root, **extra) -> list[str]:
    """``--set`` overrides that make the SynthPose supernet preset run in about a second per step at 64x64."""
    values = {
        "data.root": f"'{root}'",
        "data.synthpose_images": 12,
        "data.synthpose_seed": 5,
        "data.batch_size": 2,
        "data.val_batch_size": 4,
        "data.num_workers": 0,
        "data.train_limit": 8,
        "data.val_limit": 1,
        "model.input_size": (64, 64),
        "supernet.calibration_images": 4,
        "schedule.warmup_iters": 3,
        "schedule.epochs": 20,
        "schedule.milestones": (3,),
        "runtime.validate": False,
        "runtime.progress": False,
        "runtime.log_interval": 1,
        "runtime.threads": 1,
    }
    values.update(extra)
    return [f"{key}={value}" for key, value in values.items()]


@pytest.fixture
def overrides(tiny_synthpose):
    return lambda **extra: tiny_overrides(tiny_synthpose, **extra)


def _kill_at_first_checkpoint(command: list[str], last: Path, env: dict[str, str], *, timeout: float = 300) -> None:
    """Start a training subprocess and SIGKILL it as soon as ``last`` (its ``last.pth``) exists."""
    victim = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + timeout
    while not last.exists():
        assert victim.poll() is None, "the run ended before its first checkpoint"
        assert time.monotonic() < deadline, f"no checkpoint within {timeout:.0f} s"
        time.sleep(0.01)
    os.kill(victim.pid, signal.SIGKILL)
    assert victim.wait(timeout=60) == -signal.SIGKILL


@pytest.fixture
def kill_at_first_checkpoint():
    """``kill_at_first_checkpoint(command, last_pth, env, timeout=300)``: run a training subprocess and SIGKILL it
    at its first checkpoint."""
    return _kill_at_first_checkpoint
