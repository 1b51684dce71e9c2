"""An arch with the wrong number of stages is a named error wherever it enters, never "zip() argument 2 is
longer than argument 1"."""

from __future__ import annotations

import dataclasses
import json

import pytest

import vipnas
from vipnas.cli import main
from vipnas.models.complexity import arch_complexity
from vipnas.space.arch import load_arch
from vipnas.space.spaces import S_VIPNAS_MBV3_ARCH


@pytest.mark.parametrize("change", [-1, 1])
def test_arch_file_with_wrong_stage_count_names_the_file(tmp_path, capsys, change) -> None:
    data = S_VIPNAS_MBV3_ARCH.to_dict()
    data["stages"] = data["stages"][:-1] if change < 0 else data["stages"] + data["stages"][-1:]
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(data))
    count = len(S_VIPNAS_MBV3_ARCH.stages)
    message = rf"arch\.json: arch has {count + change} stages; a mobilenetv3 network has {count} \(the 'stages' list"
    with pytest.raises(ValueError, match=message):
        load_arch(path)
    with pytest.raises(ValueError, match=message):
        vipnas.create_model(str(path))
    assert main(["info", str(path)]) == 1
    assert "zip()" not in capsys.readouterr().err


def test_arch_built_in_code_with_wrong_stage_count() -> None:
    arch = dataclasses.replace(S_VIPNAS_MBV3_ARCH, stages=S_VIPNAS_MBV3_ARCH.stages[:-1])
    message = r"arch has 5 stages; a mobilenetv3 network has 6"
    with pytest.raises(ValueError, match=message):
        vipnas.create_model(arch)
    with pytest.raises(ValueError, match=message):
        arch_complexity(arch)
