"""Bad checkpoint files and bad arguments give one named error; torch's unsafe advice never reaches the user;
checkpoints written through a temporary file get the permissions the umask allows."""

from __future__ import annotations

import os
import stat

import pytest
import torch

import vipnas
from vipnas.cli import main
from vipnas.models.checkpoint import atomic_save, read_checkpoint, read_foreign_checkpoint


class Opaque:  # a class a safe loader refuses to unpickle
    pass


def test_random_bytes_are_not_a_torch_file(tmp_path) -> None:
    path = tmp_path / "random.pth"
    path.write_bytes(bytes(range(7, 250)) * 10)
    for read in (read_checkpoint, read_foreign_checkpoint):
        with pytest.raises(ValueError, match=r"random\.pth is not a torch file: it starts with 07 08 09 0a") as info:
            read(path)
        assert "weights_only" not in str(info.value) and "\n" not in str(info.value)
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.pth is not a torch file: it starts with an empty file"):
        vipnas.load_model(tmp_path / "empty.pth")


def test_pickled_objects_are_refused_without_the_unsafe_advice(tmp_path, capsys) -> None:
    torch.save({"model": Opaque()}, tmp_path / "objects.pth")
    with pytest.raises(ValueError, match=r"objects\.pth holds a Python object of type .*Opaque") as info:
        read_checkpoint(tmp_path / "objects.pth")
    assert "weights_only" not in str(info.value) and "\n" not in str(info.value)
    assert main(["info", str(tmp_path / "objects.pth")]) == 1
    err = capsys.readouterr().err
    assert "weights_only" not in err and "Opaque" in err and len(err.strip().splitlines()) == 1


def test_damaged_archive_error_is_one_line_without_torch_advice(tmp_path) -> None:
    good = vipnas.save_model(vipnas.create_model("s_vipnas_mbv3", input_size=(64, 64)), tmp_path / "good.pth")
    (tmp_path / "cut.pth").write_bytes(good.read_bytes()[:5000])
    message = r"cut\.pth cannot be read \(corrupt, truncated or not a torch file\): \S"
    with pytest.raises(ValueError, match=message) as info:
        read_checkpoint(tmp_path / "cut.pth")
    assert "weights_only" not in str(info.value) and "\n" not in str(info.value)


def test_load_model_of_a_folder_names_the_folder(tmp_path) -> None:
    vipnas.save_model(vipnas.create_model("s_vipnas_mbv3", input_size=(64, 64)), tmp_path / "best.pth")
    with pytest.raises(ValueError, match=r"checkpoint .* is a folder \(it holds best\.pth\); expected a \.pth file"):
        vipnas.load_model(tmp_path)


def test_save_model_of_a_foreign_object_or_into_a_folder(tmp_path) -> None:
    with pytest.raises(TypeError, match=r"cannot checkpoint a builtins\.object; expected a PoseNetwork"):
        vipnas.save_model(object(), tmp_path / "x.pth")
    with pytest.raises(TypeError, match=r"cannot checkpoint a .*Linear"):
        vipnas.save_model(torch.nn.Linear(2, 2), tmp_path / "x.pth")
    model = vipnas.create_model("s_vipnas_mbv3", input_size=(64, 64))
    with pytest.raises(ValueError, match=r"it is a folder; expected a file name"):
        vipnas.save_model(model, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_convert_mmpose_without_a_state_dict(tmp_path, capsys) -> None:
    torch.save({"meta": {"epoch": 3}, "optimizer": {"lr": 0.1}}, tmp_path / "nostate.pth")
    out = tmp_path / "out.pth"
    assert main(["convert-mmpose", str(tmp_path / "nostate.pth"), "--model", "s_vipnas_mbv3", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "nostate.pth: no state dict found" in err and "['meta', 'optimizer']" in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()
    torch.save({"state_dict": {}, "meta": {}}, tmp_path / "empty.pth")
    assert main(["convert-mmpose", str(tmp_path / "empty.pth"), "--model", "s_vipnas_mbv3", "--out", str(out)]) == 1
    assert "empty.pth: its 'state_dict' holds no tensors" in capsys.readouterr().err


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_atomic_save_honours_the_umask(tmp_path, umask) -> None:
    previous = os.umask(umask)
    try:
        path = atomic_save({"a": torch.zeros(1)}, tmp_path / "file.pth")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
