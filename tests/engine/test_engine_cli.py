"""``vipnas train``: help with examples, presets, --print-config, unknown options, resume without a config."""

from __future__ import annotations

import json

import pytest
import yaml

from vipnas.cli import main
from vipnas.commands import train as train_command
from vipnas.config import load_config


def test_help_lists_runnable_examples(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for option in ("--set", "--work-dir", "--resume-from", "--load-from", "--seed", "--deterministic", "--validate",
                   "--autoscale-lr"):  # fmt: skip
        assert option in text
    assert "torchrun --nproc-per-node" in text and len(train_command.EXAMPLES) >= 5


def test_list_print_config_and_flag_overrides(capsys) -> None:
    assert main(["train", "--list"]) == 0
    assert "synthpose_mbv3_supernet" in capsys.readouterr().out
    argv = [
        "train",
        "synthpose_mbv3_supernet",
        "--print-config",
        "--seed",
        "7",
        "--deterministic",
        "--set",
        "optimizer.lr=3e-3",
    ]
    assert main(argv) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["runtime"]["seed"] == 7 and printed["runtime"]["deterministic"] is True
    assert printed["optimizer"]["lr"] == 3e-3 and printed["model"]["name"] == "mobilenetv3_supernet"


def test_unknown_option_and_bad_set_fail_with_suggestions(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["train", "synthpose_mbv3_supernet", "--resume-form", "x.pth"])
    assert "did you mean '--resume-from'" in capsys.readouterr().err
    assert main(["train", "synthpose_mbv3_supernet", "--set", "runtime.sed=1"]) == 1
    assert "Did you mean 'runtime.seed'" in capsys.readouterr().err
    assert main(["train"]) == 1
    assert "give a CONFIG" in capsys.readouterr().err


def test_train_then_resume_from_auto_and_without_a_config(tmp_path, overrides, capsys) -> None:
    sets = [arg for item in overrides(**{"schedule.max_iters": 2}) for arg in ("--set", item)]
    work_dir = tmp_path / "run"
    assert main(["train", "synthpose_mbv3_supernet", "--work-dir", str(work_dir), *sets]) == 0
    saved = load_config(work_dir / "config.yaml")
    assert saved.schedule.max_iters == 2 and saved.data.batch_size == 2  # the resolved config is in the work dir
    # continue to 3 iterations: the config comes from the checkpoint, one field overridden
    checkpoint = work_dir / "checkpoints" / "last.pth"
    assert (
        main(["train", "--resume-from", str(checkpoint), "--work-dir", str(work_dir), "--set", "schedule.max_iters=3"])
        == 0
    )
    assert json.loads((work_dir / "summary.json").read_text())["iteration"] == 3
    # auto: nothing more to do once the run is complete
    assert main(["train", "synthpose_mbv3_supernet", "--work-dir", str(work_dir), "--resume-from", "auto", *sets,
                 "--set", "schedule.max_iters=3"]) == 0  # fmt: skip
    assert "resumed from" in (work_dir / "train.log").read_text()
