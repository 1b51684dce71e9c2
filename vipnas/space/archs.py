"""Reading an arch of any family: :func:`arch_from_dict` and :func:`load_any_arch` dispatch on the ``family`` field
(``hrnet``: an :class:`~vipnas.space.hrnet.HRNetArch`; ``resnet``, ``mobilenetv3``, ``cpu_efficient``: an
:class:`~vipnas.space.arch.Arch`), so that search stores, arch files and checkpoints hold either. Torch-free."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vipnas.space.arch import Arch, load_arch
from vipnas.space.hrnet import HRNetArch

__all__ = ["AnyArch", "arch_from_dict", "load_any_arch"]

AnyArch = Arch | HRNetArch  # a spatial arch of any family


def arch_from_dict(data: Any, *, source: str = "arch") -> AnyArch:
    """Parse what ``arch.to_dict()`` wrote, for an arch of any family.

    Raises:
        ValueError: not an arch; the message names ``source`` and the bad field.
    """
    if isinstance(data, dict) and data.get("family") == HRNetArch.family:
        return HRNetArch.from_dict(data, source=source)
    return Arch.from_dict(data, source=source)


def load_any_arch(path: str | Path) -> AnyArch:
    """Read an arch JSON file of any family (a bare arch, or an object with an ``arch`` field, as
    ``best_arch.json`` and ``arch.json`` of ``vipnas search``).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not valid JSON, or not an arch (the message names the file and the bad field).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"arch file {path} does not exist")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError:
        return load_arch(path)  # its error names the file and the JSON problem
    if isinstance(data, dict) and "arch" in data and "family" not in data:
        data = data["arch"]
    if isinstance(data, dict) and data.get("family") == HRNetArch.family:
        return HRNetArch.from_dict(data, source=str(path))
    return load_arch(path)
