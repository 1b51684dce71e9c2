"""Deployment: an exported S-ViPNet or T-ViPNet for one runtime and precision, checked before it is written.

``vipnas export MODEL --backend B --precision P --out DIR`` (:func:`vipnas.deploy.build.export_deployment`) folds
BatchNorm, exports ONNX, converts and quantises it for the runtime (ONNX Runtime fp32 / int8 static QDQ; OpenVINO
fp32 / bf16 / int8 by NNCF post-training quantisation), checks the deployed outputs against the torch network and,
given validation data, measures the AP of both and refuses a precision whose drop exceeds a threshold unless
forced. ``DIR/deployment.json`` records what produced it (the checkpoint's digest, runtime, precision, calibration,
check data and tool versions) and what was measured; :func:`vipnas.deploy.network.load_deployment` opens it for
``vipnas eval`` and ``vipnas video``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PRECISIONS": "manifest",
    "Deployment": "manifest",
    "read_deployment": "manifest",
    "export_deployment": "build",
    "DeploymentRefusedError": "build",
    "DeployedNetwork": "network",
    "load_deployment": "network",
    "is_deployment": "manifest",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"vipnas.deploy.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'vipnas.deploy' has no attribute {name!r}")
