"""What every weight-sharing supernet does with its active arch, written once: the ``with supernet.using(arch)``
context, the space's extreme and random archs, and extraction of the static network with copied weights.

:class:`vipnas.models.supernet.PoseSupernet` (ResNet, MobileNetV3 and CPU-efficient spaces) and
:class:`vipnas.models.hrnet_supernet.HRNetSupernet` differ only in how they configure their elastic modules
(:meth:`activate`) and which static network an arch builds (:meth:`build_static`).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import torch

__all__ = ["SupernetArchState"]


class SupernetArchState:
    """Mixin for an ``nn.Module`` supernet with ``space``, ``metadata``, ``_arch`` and these two methods:

    * ``activate(arch)``: validate ``arch`` against the space and configure every elastic module for it;
    * ``build_static(arch, name=...)``: a freshly built static network of ``arch`` with the supernet's metadata.
    """

    space: Any
    metadata: Any
    _arch: Any

    def activate(self, arch: Any) -> None:  # pragma: no cover - every supernet defines it
        raise NotImplementedError

    def build_static(self, arch: Any, *, name: str) -> torch.nn.Module:  # pragma: no cover
        raise NotImplementedError

    @property
    def arch(self) -> Any:
        """The active arch."""
        return self._arch

    @contextmanager
    def using(self, arch: Any) -> Iterator[Any]:
        """``with supernet.using(arch): ...`` runs the block at ``arch`` and restores the previous arch."""
        previous = self._arch
        self.activate(arch)
        try:
            yield self
        finally:
            self.activate(previous)

    def largest_arch(self) -> Any:
        return self.space.largest()

    def smallest_arch(self) -> Any:
        return self.space.smallest()

    def sample_arch(self, rng: random.Random) -> Any:
        return self.space.sample(rng)

    def subnet_state_dict(self, arch: Any = None) -> dict[str, torch.Tensor]:
        """The active slice of every weight and buffer, keyed like the static network's ``state_dict``."""
        from vipnas.elastic.blocks import subnet_state_dict

        with self.using(arch or self._arch):
            return subnet_state_dict(self)  # type: ignore[arg-type]

    def extract_subnet(self, arch: Any = None, *, name: str = "subnet") -> Any:
        """The static network of ``arch`` (default: the active arch) with the supernet's weights copied.

        The result contains only ``torch.nn`` layers (loaded with ``strict=True``: every key and shape checked), is
        in the supernet's train/eval mode, computes what the supernet computes at that arch, and keeps the
        supernet's codec in its metadata.
        """
        arch = arch or self._arch
        static = self.build_static(arch, name=name)
        static.load_state_dict(self.subnet_state_dict(arch), strict=True)
        static.metadata = replace(static.metadata, codec=self.metadata.codec, sigma=self.metadata.sigma)
        static.train(self.training)  # type: ignore[attr-defined]
        return static
