"""Training checkpoints: loadable as models, resumable to the same weights, last + best kept, clear errors for
corrupt, foreign and mismatched files."""

from __future__ import annotations

import json

import pytest
import torch

import vipnas
from vipnas.cli import main
from vipnas.config import config_to_dict, load_config
from vipnas.engine.checkpoint import load_weights, read_training_checkpoint
from vipnas.engine.distributed import DistributedInfo
from vipnas.engine.trainer import NonFiniteLossError, Trainer, state_digest
from vipnas.space import RESNET50_SPACE

SINGLE = DistributedInfo(rank=0, local_rank=0, world_size=1, device=torch.device("cpu"))


def _run(work_dir, overrides, *, resume=None, **extra) -> Trainer:
    config = load_config("synthpose_mbv3_supernet", overrides(**extra))
    trainer = Trainer(config, SINGLE, work_dir=work_dir, resume_from=resume)
    trainer.fit()
    return trainer


def test_checkpoint_is_a_model_checkpoint_plus_training_state(tmp_path, overrides) -> None:
    trainer = _run(tmp_path, overrides, **{"schedule.max_iters": 2, "runtime.checkpoint_interval": 0})
    path = tmp_path / "checkpoints" / "last.pth"
    payload = read_training_checkpoint(path)
    assert payload["config"] == config_to_dict(trainer.config) and payload["vipnas_version"] == vipnas.__version__
    training = payload["training"]
    assert (training["iteration"], training["epoch"], training["iter_in_epoch"]) == (2, 0, 2)
    assert {"optimizer", "scheduler", "rng", "grad_scaler"} <= set(training) and len(training["rng"]) == 1
    model = vipnas.load_model(path)  # the model loader reads training checkpoints as they are
    assert model.space == trainer.model.space and model.metadata == trainer.model.metadata
    assert state_digest(model) == state_digest(trainer.model)
    assert (tmp_path / "config.yaml").is_file() and not (tmp_path / "checkpoints" / "best.pth").exists()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [row["iteration"] for row in rows] == [1, 2] and all(row["type"] == "train" for row in rows)
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["last.pth"]  # no temporary files left


def test_resume_in_process_reproduces_an_uninterrupted_run(tmp_path, overrides) -> None:
    common = {"runtime.deterministic": True, "runtime.checkpoint_interval": 3, "runtime.checkpoint_by_epoch": False}
    straight = _run(tmp_path / "straight", overrides, **common, **{"schedule.max_iters": 6})
    _run(tmp_path / "cut", overrides, **common, **{"schedule.max_iters": 3})
    resumed = _run(
        tmp_path / "cut", overrides, resume=tmp_path / "cut" / "checkpoints" / "last.pth", **common,
        **{"schedule.max_iters": 6},
    )  # fmt: skip
    assert resumed.iteration == 6 and resumed.epoch == 1 and resumed.iter_in_epoch == 2  # 4 iterations per epoch
    assert state_digest(resumed.model) == state_digest(straight.model)
    assert resumed.optimizer.state_dict()["state"][0]["step"] == straight.optimizer.state_dict()["state"][0]["step"]
    assert resumed.schedule.get_last_lr() == straight.schedule.get_last_lr()


def test_best_checkpoint_follows_validation(tmp_path, overrides) -> None:
    trainer = _run(
        tmp_path, overrides,
        **{"schedule.max_iters": 2, "runtime.validate": True, "runtime.val_interval": 1, "runtime.val_by_epoch": False,
           "runtime.best_metric": "loss", "supernet.val_archs": ("smallest",)},
    )  # fmt: skip
    best = read_training_checkpoint(tmp_path / "checkpoints" / "best.pth")["training"]["best"]
    assert best == trainer.best and best["metric"] == "loss" and best["iteration"] in (1, 2)
    vals = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    vals = [row for row in vals if row["type"] == "val"]
    assert [row["iteration"] for row in vals] == [1, 2] and {"smallest/loss", "smallest/AP"} <= set(vals[0])
    assert best["value"] == min(row["smallest/loss"] for row in vals)


def test_corrupt_foreign_and_model_only_files_are_clear_errors(tmp_path) -> None:
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match="cannot be read"):
        read_training_checkpoint(corrupt)
    foreign = tmp_path / "foreign.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "meta": {}}, foreign)
    with pytest.raises(ValueError, match="not a vipnas checkpoint"):
        read_training_checkpoint(foreign)
    model_only = vipnas.save_model(
        vipnas.create_model(RESNET50_SPACE.smallest(), input_size=(64, 64)), tmp_path / "m.pth"
    )
    with pytest.raises(ValueError, match=r"without training state.*--load-from"):
        read_training_checkpoint(model_only)
    with pytest.raises(FileNotFoundError):
        read_training_checkpoint(tmp_path / "missing.pth")


def test_resuming_or_loading_another_models_checkpoint_fails_clearly(tmp_path, overrides, capsys) -> None:
    _run(tmp_path / "mbv3", overrides, **{"schedule.max_iters": 1})
    checkpoint = tmp_path / "mbv3" / "checkpoints" / "last.pth"
    base = ["train", "synthpose_mbv3_supernet", "--work-dir", str(tmp_path / "other")]
    sets = [arg for item in overrides() for arg in ("--set", item)]
    assert main([*base, *sets, "--set", "model.name=resnet50_supernet", "--resume-from", str(checkpoint)]) == 1
    assert "search space 'mobilenetv3' differs from the config's 'resnet50'" in capsys.readouterr().err
    assert main([*base, *sets, "--set", "model.name=s_vipnas_mbv3", "--resume-from", str(checkpoint)]) == 1
    assert "holds a supernet" in capsys.readouterr().err
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(checkpoint.read_bytes()[:5000])
    assert main([*base, *sets, "--resume-from", str(truncated)]) == 1
    assert "corrupt, truncated" in capsys.readouterr().err


def test_load_from_a_supernet_extracts_the_subnetwork(tmp_path, overrides) -> None:
    trainer = _run(tmp_path, overrides, **{"schedule.max_iters": 1})
    checkpoint = tmp_path / "checkpoints" / "last.pth"
    arch = trainer.model.space.smallest()
    static = vipnas.create_model(arch, input_size=(64, 64))
    assert "extracted" in load_weights(static, checkpoint)
    expected = trainer.model.extract_subnet(arch).state_dict()
    assert all(torch.equal(value, expected[key]) for key, value in static.state_dict().items())
    with pytest.raises(ValueError, match="does not contain the model's arch"):
        load_weights(vipnas.create_model(RESNET50_SPACE.smallest(), input_size=(64, 64)), checkpoint)


def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, overrides, monkeypatch) -> None:
    import vipnas.engine.trainer as trainer_module

    calls: list[int] = []
    real_loss = trainer_module.keypoint_mse_loss

    def poisoned(heatmaps, target, weight):  # NaN from step 3 on (4 sub-networks per sandwich step)
        calls.append(1)
        loss = real_loss(heatmaps, target, weight)
        return loss * float("nan") if len(calls) > 8 else loss

    monkeypatch.setattr(trainer_module, "keypoint_mse_loss", poisoned)
    config = load_config(
        "synthpose_mbv3_supernet",
        overrides(**{"schedule.max_iters": 5, "runtime.checkpoint_interval": 1, "runtime.checkpoint_by_epoch": False}),
    )
    trainer = Trainer(config, SINGLE, work_dir=tmp_path)
    last = tmp_path / "checkpoints" / "last.pth"
    with pytest.raises(NonFiniteLossError) as error:
        trainer.fit()
    message = str(error.value)
    assert message.startswith("iteration 3: the training loss is not finite (largest nan")
    assert f"the last good checkpoint {last} (iteration 2) is kept" in message and "optimizer.lr" in message
    payload = read_training_checkpoint(last)
    assert payload["training"]["iteration"] == 2  # the old loop went on and saved NaN weights at 3, 4 and 5
    weights = [t for t in payload["state_dict"].values() if t.is_floating_point()]
    assert all(bool(torch.isfinite(t).all()) for t in weights)
    assert all(bool(torch.isfinite(p).all()) for p in trainer.model.parameters())  # stopped before the step
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [row["iteration"] for row in rows] == [1, 2]
