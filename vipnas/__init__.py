"""vipnas: fast video human-pose estimation with networks found by neural architecture search (ViPNAS).

Glossary:
    arch: a complete, frozen description of one network of a family (per-stage depth, width, kernel size,
        group number, attention, expansion ratio; stem; deconvolution head). JSON round-trippable and hashable.
    search space: the set of archs a family allows (paper Tables A1-A2) with validation, uniform sampling,
        mutation and crossover.
    supernet: one weight-sharing network that can run any arch of its search space by slicing its weights
        (elastic depth, width, kernel size, group number, attention, expansion ratio).
    subnet: the plain static network of one arch, extracted from a supernet with copied weights.

Public API:
    create_model(name_or_arch): build a named model, a supernet, or the static network of an arch.
    load_model(path): load any model checkpoint vipnas writes, in eval mode, with ``.metadata`` and ``.arch``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vipnas.version import __version__

__all__ = ["__version__", "create_model", "list_models", "load_model", "save_model"]

if TYPE_CHECKING:
    from vipnas.models.checkpoint import load_model, save_model
    from vipnas.models.registry import create_model, list_models


def __getattr__(name: str) -> Any:
    # imported lazily so that `import vipnas` (and the CLI's --help) does not pay for torch
    if name in ("create_model", "list_models"):
        from vipnas.models import registry

        return getattr(registry, name)
    if name in ("load_model", "save_model"):
        from vipnas.models import checkpoint

        return getattr(checkpoint, name)
    raise AttributeError(f"module 'vipnas' has no attribute {name!r}")
