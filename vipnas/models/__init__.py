"""Static pose networks, supernets, the model registry, checkpoints and complexity counting.

Layers, one way: :mod:`vipnas.space` (archs as data) < :mod:`vipnas.nn` (plain blocks) < :mod:`vipnas.elastic`
(the supernets' operators) < :mod:`vipnas.models`. Names are imported lazily so that ``import vipnas`` stays
light (torch loads on first use).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MODELS": "registry",
    "build_network": "registry",
    "create_model": "registry",
    "list_models": "registry",
    "load_model": "checkpoint",
    "read_checkpoint": "checkpoint",
    "save_model": "checkpoint",
    "Complexity": "complexity",
    "arch_complexity": "complexity",
    "complexity_of": "complexity",
    "measure_complexity": "complexity",
    "hrnet_complexity": "hrnet_complexity",
    "HRNetNetwork": "hrnet_network",
    "build_hrnet_network": "hrnet_network",
    "HRNetSupernet": "hrnet_supernet",
    "ModelMetadata": "metadata",
    "PoseNetwork": "pose",
    "build_static": "pose",
    "PoseSupernet": "supernet",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"vipnas.models.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'vipnas.models' has no attribute {name!r}")
