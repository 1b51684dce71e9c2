"""Temporal training through ``vipnas train`` (ViPNAS §3.4.2): a T-ViPNet supernet trained by multi-frame
propagation from a frozen S-ViPNet, on SynthPose videos as a PoseTrack18 root; resumable bitwise after SIGKILL,
``torchrun``-distributed, and the named errors of its config and builders."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

import vipnas
from vipnas.config import CLIP_JITTER_SCALE_LIMIT, dump_config, load_config
from vipnas.data import synthpose
from vipnas.data.clips import JITTER_LIMIT, ClipDataset
from vipnas.data.synthpose.generate import SynthPoseLayout
from vipnas.engine.build import build_model, build_train_dataset, prepare_data
from vipnas.engine.checkpoint import read_training_checkpoint
from vipnas.engine.distributed import DistributedInfo
from vipnas.engine.propagation import PropagationStep
from vipnas.engine.sandwich import arch_digest
from vipnas.engine.trainer import Trainer, state_digest
from vipnas.models.pose import build_static
from vipnas.models.supernet import PoseSupernet
from vipnas.models.temporal_supernet import TemporalSupernet
from vipnas.space import MOBILENETV3_TINY_SPACE
from vipnas.space.search_space import InvalidArchError

PRESET = "synthpose_temporal_mbv3_tiny"
INPUT = (64, 64)
SINGLE = DistributedInfo(rank=0, local_rank=0, world_size=1, device=torch.device("cpu"))
TOTAL = 9  # iterations of the kill/resume runs; 4 per epoch, so the resume crosses epoch boundaries
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def videos(tmp_path_factory, randomized):
    """SynthPose with 4 videos of 6 frames (3 train, 1 val; 6 train tracks) as a PoseTrack18 root, and a tiny key
    network (the largest mobilenetv3_tiny arch, random weights, PoseTrack18 joints, DARK codec as the preset)."""
    root = tmp_path_factory.mktemp("temporal-videos")
    synthpose.generate(root, images=2, videos=4, frames=6, seed=3, workers=1, progress=False)
    key = build_static(MOBILENETV3_TINY_SPACE.largest(), input_size=INPUT, name="tiny_key", dataset="POSETRACK18")
    key = randomized(key, seed=1)
    key.metadata = dataclasses.replace(key.metadata, codec="dark")
    vipnas.save_model(key, root / "key.pth")
    return SimpleNamespace(layout=SynthPoseLayout(root), key=root / "key.pth", root=root)


def _values(videos, **extra) -> dict:
    values = {
        "temporal.key": f"'{videos.key}'",
        "temporal.length": 2,
        "data.root": f"'{videos.layout.posetrack_root}'",
        "data.batch_size": 2,
        "data.val_batch_size": 4,
        "data.num_workers": 0,
        "data.train_limit": 8,  # clips: 4 iterations per epoch at 2 clips per step
        "model.input_size": INPUT,
        "supernet.num_random": 1,
        "schedule.epochs": 20,
        "schedule.milestones": (3,),
        "schedule.warmup_iters": 3,
        "runtime.validate": False,
        "runtime.progress": False,
        "runtime.log_interval": 1,
        "runtime.threads": 1,
    }
    values.update(extra)
    return values


def _config(videos, **extra):
    return load_config(PRESET, [f"{key}={value}" for key, value in _values(videos, **extra).items()])


def _command(videos, work_dir, launcher=(), **extra) -> list[str]:
    sets = [arg for key, value in _values(videos, **extra).items() for arg in ("--set", f"{key}={value}")]
    return [sys.executable, *launcher, "-m", "vipnas", "train", PRESET, "--work-dir", str(work_dir), *sets]


def _rows(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_steps_train_the_t_supernet_and_its_fusions_and_leave_the_key_network_alone(tmp_path, videos) -> None:
    config = _config(videos, **{"schedule.max_iters": 3, "runtime.trace": True, "runtime.validate": True,
                                "runtime.val_interval": 3, "runtime.val_by_epoch": False})  # fmt: skip
    trainer = Trainer(config, SINGLE, work_dir=tmp_path)
    assert isinstance(trainer.model, TemporalSupernet) and isinstance(trainer.dataset, ClipDataset)
    assert isinstance(trainer.train_step, PropagationStep) and trainer.dataset.frames == 3
    key = trainer.train_step.key
    on_disk = vipnas.load_model(videos.key).state_dict()
    assert all(torch.equal(trainer.model.network.state_dict()[name], value) for name, value in on_disk.items())
    optimized = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert not optimized & {id(p) for p in key.parameters()} and not any(p.requires_grad for p in key.parameters())
    before = {name: value.clone() for name, value in trainer.model.state_dict().items()}

    result = trainer.fit()
    after = trainer.model.state_dict()
    moved = {name for name in after if not torch.equal(after[name], before[name])}
    assert any(name.startswith("fusions.") and "project" in name for name in moved)  # zero-initialised, now trained
    assert any(name.startswith("network.backbone.") for name in moved)
    assert all(torch.equal(key.state_dict()[name], value) for name, value in on_disk.items())  # frozen
    assert not key.training

    steps = [row for row in _rows(tmp_path / "trace" / "rank0.jsonl") if "archs" in row]
    assert [row["archs"] for row in steps] == [
        {name: arch_digest(arch) for name, arch in trainer.train_step.plan(i)} for i in range(3)
    ]
    assert set(steps[0]["archs"]) == {"largest", "smallest", "random1"}
    assert set(result.metrics) == {"largest/loss", "largest/loss_t1", "largest/loss_t2"}
    assert trainer.best["metric"] == "loss" and trainer.best["value"] == result.metrics["largest/loss"]
    saved = vipnas.load_model(result.last_checkpoint)  # a temporal_supernet checkpoint
    assert isinstance(saved, TemporalSupernet) and saved.space.length == 2
    assert state_digest(saved) == state_digest(trainer.model)

    # --load-from: the weights of a temporal supernet checkpoint, for any T (they do not depend on it)
    loaded = Trainer(_config(videos, **{"temporal.length": 3}), SINGLE, work_dir=tmp_path / "load",
                     load_from=result.last_checkpoint)  # fmt: skip
    assert loaded.model.space.length == 3 and state_digest(loaded.model) == state_digest(saved)
    # --resume-from needs the same T
    with pytest.raises(ValueError, match=r"its T=2 differs from the config's temporal.length 3"):
        Trainer(_config(videos, **{"temporal.length": 3}), SINGLE, work_dir=tmp_path, resume_from="auto")


def test_kill_9_then_resume_auto_gives_the_weights_of_an_uninterrupted_run(
    tmp_path, videos, kill_at_first_checkpoint
) -> None:
    every = {"runtime.checkpoint_interval": 2, "runtime.checkpoint_by_epoch": False}
    straight = subprocess.run([*_command(videos, tmp_path / "straight", **{"schedule.max_iters": TOTAL, **every}),
                               "--deterministic"], capture_output=True, text=True, timeout=300, env=ENV)  # fmt: skip
    assert straight.returncode == 0, straight.stderr[-3000:]

    # the victim asks for more iterations than it lives for; the step schedule follows epochs, not max_iters
    victim_command = [*_command(videos, tmp_path / "killed", **{"schedule.max_iters": 80, **every}), "--deterministic"]
    last = tmp_path / "killed" / "checkpoints" / "last.pth"
    kill_at_first_checkpoint(victim_command, last, ENV, timeout=200)
    killed_at = read_training_checkpoint(last)["training"]["iteration"]
    assert 2 <= killed_at < TOTAL and killed_at % 2 == 0

    resumed = subprocess.run([*_command(videos, tmp_path / "killed", **{"schedule.max_iters": TOTAL, **every}),
                              "--deterministic", "--resume-from", "auto"],
                             capture_output=True, text=True, timeout=300, env=ENV)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resumed from {last} at epoch" in (tmp_path / "killed" / "train.log").read_text()

    final = [read_training_checkpoint(tmp_path / run / "checkpoints" / "last.pth") for run in ("straight", "killed")]
    assert final[0]["kind"] == "temporal_supernet"
    assert final[0]["training"]["iteration"] == final[1]["training"]["iteration"] == TOTAL
    weights = [payload["state_dict"] for payload in final]
    assert weights[0].keys() == weights[1].keys()
    different = [key for key in weights[0] if not torch.equal(weights[0][key], weights[1][key])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"
    optimizers = [payload["training"]["optimizer"]["state"] for payload in final]
    assert all(torch.equal(optimizers[0][i]["exp_avg_sq"], optimizers[1][i]["exp_avg_sq"]) for i in optimizers[0])
    rows = _rows(tmp_path / "killed" / "metrics.jsonl")
    assert [row["iteration"] for row in rows] == list(range(1, TOTAL + 1))


def _half(batch, rank: int):
    """Rank ``rank``'s part of a 2-rank step's total batch: the sampler gives rank r the indices r, r+2, ..."""
    return dataclasses.replace(
        batch, **{f.name: getattr(batch, f.name)[rank::2] for f in dataclasses.fields(batch)}
    )  # fmt: skip


def _as_two_ranks(trainer: Trainer) -> None:
    """Make one process step as two ranks would: each half of the batch from the same BatchNorm buffers, the
    gradients and the running statistics of the halves averaged (per-rank BatchNorm batch statistics cannot be
    had from one pass over the whole batch, so one process with the same total batch needs this to be comparable)."""
    model, run = trainer.model, trainer.train_step.run

    def run_two(batch, iteration):
        start = {name: b.clone() for name, b in model.named_buffers()}
        grads, buffers, losses = [], [], []
        for rank in (0, 1):
            model.load_state_dict({**model.state_dict(), **start})
            for parameter in trainer.parameters:
                parameter.grad = None
            losses.append(run(_half(batch, rank), iteration))
            grads.append([p.grad for p in trainer.parameters])
            buffers.append({name: b.clone() for name, b in model.named_buffers()})
        for parameter, first, second in zip(trainer.parameters, *grads, strict=True):
            parameter.grad = None if first is None else (first + second) / 2
        for name, buffer in model.named_buffers():
            buffer.copy_((buffers[0][name] + buffers[1][name]) / 2 if buffer.is_floating_point() else buffers[0][name])
        return {name: (losses[0][name] + losses[1][name]) / 2 for name in losses[0]}

    trainer.train_step.run = run_two  # type: ignore[method-assign]


@pytest.mark.dist
def test_two_process_torchrun_equals_one_process_with_the_same_total_batch(tmp_path, videos) -> None:
    settings = {"schedule.max_iters": 3, "runtime.trace": True, "runtime.validate": True,
                "runtime.val_by_epoch": False, "runtime.val_interval": 3}  # fmt: skip
    launcher = ("-m", "torch.distributed.run", "--nproc-per-node", "2", "--standalone")
    work_dir = tmp_path / "two"
    result = subprocess.run(_command(videos, work_dir, launcher, **settings), capture_output=True, text=True,
                            timeout=300, env=ENV)  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    ranks = [_rows(work_dir / "trace" / f"rank{rank}.jsonl") for rank in (0, 1)]
    steps = [[row for row in rows if "archs" in row] for rows in ranks]
    assert [row["archs"] for row in steps[0]] == [row["archs"] for row in steps[1]] and len(steps[0]) == 3
    assert steps[0][0]["losses"] != steps[1][0]["losses"]  # the ranks propagated different clips...
    digests = [rows[-1]["final_digest"] for rows in ranks]
    assert digests[0] == digests[1]  # ...and hold bitwise the same model
    assert "2 process(es)" in (work_dir / "train.log").read_text()

    # one process, the same 4 clips per step (2 x 2), each half with its own BatchNorm statistics as on a rank
    flush = torch.set_flush_denormal(True)  # as every vipnas command runs
    try:
        one = Trainer(_config(videos, **settings, **{"data.batch_size": 4}), SINGLE, work_dir=tmp_path / "one")
        _as_two_ranks(one)
        metrics = one.fit().metrics
    finally:
        torch.set_flush_denormal(flush)
    two = read_training_checkpoint(work_dir / "checkpoints" / "last.pth")
    different = [k for k, v in one.model.state_dict().items() if not torch.equal(v, two["state_dict"][k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"
    assert state_digest(one.model) == digests[0]
    summary = json.loads((work_dir / "summary.json").read_text())
    assert summary["metrics"] == pytest.approx(metrics, rel=1e-5)  # validation sharded over the ranks


def test_the_temporal_config_section_round_trips_and_checks_its_values(tmp_path) -> None:
    config = load_config(PRESET, ["temporal.key=2024", "temporal.length=4", "temporal.jitter_scale=0.1"])
    assert config.temporal.key == "2024" and config.temporal.length == 4 and config.temporal.jitter_scale == 0.1
    (tmp_path / "run.yaml").write_text(dump_config(config))
    assert load_config(tmp_path / "run.yaml") == config  # the dump names the run
    assert CLIP_JITTER_SCALE_LIMIT == 0.5 / JITTER_LIMIT  # the bound ClipDataset enforces
    for override, match in [
        ("temporal.length=0", r"temporal.length must be >= 1"),
        ("temporal.clip_step=0", r"temporal.clip_step and temporal.clip_stride must be >= 1"),
        ("temporal.clip_stride=-1", r"temporal.clip_step and temporal.clip_stride must be >= 1"),
        ("temporal.jitter_shift=-0.1", r"temporal.jitter_shift must be >= 0"),
        ("temporal.jitter_scale=0.25", r"temporal.jitter_scale must be in \[0, 0.25\)"),
        ("temporal.lenght=2", r"Did you mean 'temporal.length'"),
    ]:
        with pytest.raises(ValueError, match=match):
            load_config(PRESET, [override])
    with pytest.raises(TypeError, match=r"temporal.length.*expects int"):
        load_config(PRESET, ["temporal.length=2.5"])


def test_named_errors_of_the_model_and_the_data(tmp_path, videos) -> None:
    with pytest.raises(FileNotFoundError, match=r"temporal.key .*missing.pth does not exist"):
        build_model(_config(videos, **{"temporal.key": f"'{tmp_path / 'missing.pth'}'"}))
    vipnas.save_model(PoseSupernet(MOBILENETV3_TINY_SPACE, input_size=INPUT), tmp_path / "supernet.pth")
    with pytest.raises(ValueError, match=r"temporal.key .*supernet.pth holds a supernet checkpoint"):
        build_model(_config(videos, **{"temporal.key": f"'{tmp_path / 'supernet.pth'}'"}))
    with pytest.raises(ValueError, match=r"model.name 's_vipnas_mbv3': a temporal run .* needs the spatial search"):
        build_model(_config(videos, **{"model.name": "s_vipnas_mbv3"}))
    with pytest.raises(InvalidArchError, match=r"the key network's arch is not in the 'resnet50' search space"):
        build_model(_config(videos, **{"model.name": "resnet50_supernet"}))
    contradictions = [
        ({"model.input_size": (128, 96)}, r"model.input_size=\[128, 96\] \(the key network's: \[64, 64\]\)"),
        ({"data.codec": "msra"}, r"data.codec=msra \(the key network's: dark\)"),
        ({"data.sigma": 3.0}, r"data.sigma=3.0 \(the key network's: 2.0\)"),
        ({"data.dataset": "COCO"}, r"data.dataset=COCO .*the 17 joints of POSETRACK18"),
    ]
    for extra, match in contradictions:
        with pytest.raises(ValueError, match=r"temporal.key .*the config contradicts the key network.*" + match):
            build_model(_config(videos, **extra))

    # still images (SynthPose's, here in a PoseTrack18-jointed COCO file) hold no tracks
    stills = _config(videos, **{"data.train_annotations": "../annotations/synth_train.json",
                                "data.train_images": "../images/train"})  # fmt: skip
    model = build_model(stills)
    with pytest.raises(ValueError, match=r"temporal training needs videos: the train annotations .*synth_train"):
        build_train_dataset(stills, model.metadata, prepare_data(stills))
    long = _config(videos, **{"temporal.length": 6})  # the videos have 6 frames: no clip of 7
    with pytest.raises(ValueError, match=r"no track of the train videos .* is annotated on 7 frames 1 apart"):
        build_train_dataset(long, model.metadata, prepare_data(long))
    with pytest.raises(ValueError, match=r"runtime.best_metric 'AP': temporal validation measures the propagation"):
        Trainer(_config(videos, **{"runtime.validate": True, "runtime.best_metric": "AP"}), SINGLE, work_dir=tmp_path)
