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


def test_train_refuses_a_work_dir_that_holds_a_run(tmp_path, overrides, capsys) -> None:
    sets = [arg for item in overrides(**{"schedule.max_iters": 1}) for arg in ("--set", item)]
    work_dir = tmp_path / "run"
    command = ["train", "synthpose_mbv3_supernet", "--work-dir", str(work_dir), *sets]
    assert main(command) == 0
    last, metrics = work_dir / "checkpoints" / "last.pth", work_dir / "metrics.jsonl"
    before = (last.read_bytes(), metrics.read_text())
    capsys.readouterr()
    assert main([*command, "--set", "schedule.max_iters=2"]) == 1  # used to replace last.pth, append to metrics
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and error.startswith(f"vipnas train: error: work dir {work_dir} already holds")
    assert all(way in error for way in ("--resume-from auto", "another --work-dir", f"delete {work_dir}")), error
    assert (last.read_bytes(), metrics.read_text()) == before
    assert main([*command, "--set", "schedule.max_iters=2", "--resume-from", "auto"]) == 0  # the way out
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [row["iteration"] for row in rows] == [1, 2]


def test_non_finite_config_values_are_refused(capsys) -> None:
    for value in ("1e400", "-1e400"):  # 1e400 reads as inf, and inf > 0 passed the lr check
        assert main(["train", "synthpose_mbv3_supernet", "--set", f"optimizer.lr={value}", "--print-config"]) == 1
        error = capsys.readouterr().err.strip()
        assert "'optimizer.lr' expects a finite number, got" in error and "inf" in error and "\n" not in error
