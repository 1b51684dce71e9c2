"""Every command that writes checks its output path before the work: one line naming the folder, exit 1."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from vipnas.cli import main
from vipnas.commands import writable_file, writable_folder


def _commands(bad):
    """(argv, option) of every writing command with its output under ``bad``; the other inputs need not exist:
    the output is checked first."""
    return [
        (["synth", "--out", str(bad), "--images", "4", "--workers", "1", "--quiet"], "--out"),
        (["contact-sheet", "missing.json", "--out", str(bad / "sheet.png")], "--out"),
        (["train", "synthpose_s_vipnas_mbv3", "--work-dir", str(bad)], "--work-dir"),
        (
            ["eval", "s_vipnas_mbv3", "--data", "COCO", "--ann", "missing.json", "--images", ".", "--out", str(bad)],
            "--out",
        ),
        (["search", "missing.pth", "--out", str(bad)], "--out"),
        (["extract", "missing.pth", "--arch", "missing.json", "--out", str(bad / "net.pth")], "--out"),
        (["extract", "missing.pth", "--arch", "a.json", "--out", "net.pth", "--onnx", str(bad / "n.onnx")], "--onnx"),
        (["latency-table", "--out", str(bad / "table.json"), "--validate", "0"], "--out"),
        (["convert-mmpose", "missing.pth", "--model", "s_vipnas_mbv3", "--out", str(bad / "m.pth")], "--out"),
    ]


@pytest.mark.parametrize("index", range(9), ids=lambda i: _commands(Path("x"))[i][0][0] + f"-{i}")
def test_output_under_a_file_fails_first_naming_the_path(tmp_path, capsys, monkeypatch, index) -> None:
    monkeypatch.chdir(tmp_path)  # whatever a command might write by mistake lands here
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    argv, option = _commands(tmp_path / "notes.txt" / "out")[index]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"error: {option} " in err[0], err
    assert "notes.txt is a file, so no folder can be created under it" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_synth_out_naming_an_existing_file(tmp_path, capsys) -> None:
    (tmp_path / "data.txt").write_text("x")
    assert main(["synth", "--out", str(tmp_path / "data.txt"), "--images", "4", "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith("data.txt is a file, expected a folder") and "\n" not in err


def test_file_outputs_that_name_a_folder(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"--out .*: is a folder, expected a file name"):
        writable_file(tmp_path)
    assert writable_file(tmp_path / "new" / "deeper" / "x.pth") == tmp_path / "new" / "deeper" / "x.pth"
    assert not (tmp_path / "new").exists()  # checking creates nothing
    assert writable_folder(tmp_path / "a" / "b") == tmp_path / "a" / "b" and not (tmp_path / "a").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders: permissions are not enforced")
def test_read_only_folder_is_named(tmp_path, capsys) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)  # 0555
    try:
        with pytest.raises(ValueError, match=r"folder .*locked is not writable"):
            writable_folder(locked / "run")
        assert main(["synth", "--out", str(locked / "data"), "--images", "4", "--quiet"]) == 1
        assert "locked is not writable" in capsys.readouterr().err
    finally:
        locked.chmod(0o755)


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert not any("Traceback" in line for line in err), err
    return err[-1]


def test_malformed_yaml_config_names_file_and_line(tmp_path, capsys) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text("model:\n  name: x\n   width: [1,\n")
    assert main(["train", str(config), "--print-config"]) == 1
    assert _one_line(capsys).endswith(
        "broken.yaml: line 3, column 9: not valid YAML (mapping values are not allowed here)"
    )
    config.write_bytes(b"model: \xff\xfe\n")
    assert main(["train", str(config), "--print-config"]) == 1
    assert "broken.yaml: not UTF-8 text" in _one_line(capsys)


@pytest.mark.parametrize(
    ("value", "message"),
    [("foo", "expected cpu, cuda or cuda:N, got 'foo'"), ("cuda:x", "expected cpu, cuda or cuda:N, got 'cuda:x'")],
)
def test_eval_device_is_checked_when_parsing(capsys, value, message) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "s_vipnas_mbv3", "--data", "COCO", "--ann", "a.json", "--images", ".", "--device", value])
    assert exit_info.value.code == 2
    assert _one_line(capsys) == f"vipnas eval: error: argument --device: {message}"


def test_eval_device_cuda_without_cuda_says_so(capsys, monkeypatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "s_vipnas_mbv3", "--data", "COCO", "--ann", "a.json", "--images", ".", "--device", "cuda"])
    assert exit_info.value.code == 2
    line = _one_line(capsys)
    assert line.startswith("vipnas eval: error: argument --device: 'cuda': ") and line.endswith("; use --device cpu")
    assert "without CUDA" in line or "no CUDA GPU is visible" in line


@pytest.mark.parametrize("option", ["--threads", "--repeats"])
def test_latency_table_counts_must_be_positive(capsys, option) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["latency-table", option, "-1"])
    assert exit_info.value.code == 2
    assert _one_line(capsys) == f"vipnas latency-table: error: argument {option}: expected a positive integer, got '-1'"


def test_building_the_command_line_loads_no_torch_nor_supernet_code() -> None:
    """`vipnas --help` and every command's parser stay light: building them imports neither torch nor the
    supernets, the search or the demos (the ablation command once imported them for its choices)."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from vipnas.cli import build_parser\n"
        "build_parser()\n"
        "banned = ('torch', 'cv2', 'vipnas.elastic', 'vipnas.nas', 'vipnas.engine', 'vipnas.demo')\n"
        "prefixes = tuple(b + '.' for b in banned)\n"
        "print('LOADED', sorted(n for n in sys.modules if n in banned or n.startswith(prefixes)))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "LOADED []" in result.stdout, result.stdout
