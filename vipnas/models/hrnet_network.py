"""The static HRNet with the metadata every vipnas model carries, and the search space as checkpoint data.

:class:`HRNetNetwork` is :class:`vipnas.nn.hrnet.HRNetPose` (same modules, same state-dict keys) plus
``metadata`` (a :class:`~vipnas.models.metadata.ModelMetadata` whose ``arch`` is the HRNet arch's dict), so that
``vipnas.save_model`` / ``vipnas.load_model`` and ``vipnas.models.export.export_onnx`` take it like any other
static network. :func:`hrnet_space_to_dict` / :func:`hrnet_space_from_dict` write and read an
:class:`~vipnas.space.hrnet.HRNetSearchSpace` (family ``hrnet``) in a supernet checkpoint.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from vipnas.models.metadata import ModelMetadata
from vipnas.models.pose import check_input_size, init_weights
from vipnas.nn.hrnet import HRNetPose
from vipnas.space.hrnet import BranchSpace, HRNetArch, HRNetSearchSpace, HRStageSpace

__all__ = ["HRNetNetwork", "build_hrnet_network", "hrnet_space_from_dict", "hrnet_space_to_dict"]


class HRNetNetwork(HRNetPose):
    """A static HRNet pose network with ``metadata``: (N, 3, H, W) normalised RGB -> (N, K, H/4, W/4) heatmaps.

    Args:
        arch: the architecture.
        metadata: preprocessing and output metadata (``num_joints`` sets K).
    """

    def __init__(self, arch: HRNetArch, *, metadata: ModelMetadata) -> None:
        super().__init__(arch, num_joints=metadata.num_joints)
        self.metadata = metadata


def build_hrnet_network(
    arch: HRNetArch,
    *,
    num_joints: int = 17,
    input_size: tuple[int, int] = (256, 192),
    name: str = "subnet",
    dataset: str = "COCO",
) -> HRNetNetwork:
    """The static network of an HRNet arch with metadata, initialised like every vipnas network (N(0, 0.001)).

    Raises:
        TypeError: ``arch`` is not an :class:`HRNetArch`.
        ValueError: ``num_joints`` is not a positive integer, or ``input_size`` is not multiples of 32.
    """
    if not isinstance(arch, HRNetArch):
        raise TypeError(f"build_hrnet_network needs an HRNetArch, got {type(arch).__name__}")
    if isinstance(num_joints, bool) or not isinstance(num_joints, int) or num_joints < 1:
        raise ValueError(f"num_joints must be a positive integer, got {num_joints!r}")
    metadata = ModelMetadata(
        name=name,
        num_joints=num_joints,
        input_size=check_input_size(input_size),
        dataset=dataset,
        arch=arch.to_dict(),
    )
    model = HRNetNetwork(arch, metadata=metadata)
    init_weights(model)
    return model


def hrnet_space_to_dict(space: HRNetSearchSpace) -> dict[str, Any]:
    """JSON-ready description of ``space``: ``{"family": "hrnet", "name", "stem_widths", "stages": [...]}``."""
    return {"family": "hrnet", **asdict(space)}


def hrnet_space_from_dict(data: Any, *, source: str = "space") -> HRNetSearchSpace:
    """Read what :func:`hrnet_space_to_dict` wrote.

    Raises:
        ValueError: a field is missing, unknown or of the wrong kind (naming it), or the space admits no arch.
    """
    _keys(data, source, {"family", "name", "stem_widths", "stages"})
    if data["family"] != "hrnet":
        raise ValueError(f"{source}.family: expected 'hrnet', got {data['family']!r}")
    stages = []
    for index, stage in enumerate(_sequence(data["stages"], f"{source}.stages")):
        where = f"{source}.stages[{index}]"
        _keys(stage, where, {"depths", "blocks", "branches"})
        branches = []
        for number, branch in enumerate(_sequence(stage["branches"], f"{where}.branches")):
            place = f"{where}.branches[{number}]"
            _keys(branch, place, {"widths", "groups", "kernel_sizes", "attentions"})
            branches.append(BranchSpace(**{key: _values(value, f"{place}.{key}") for key, value in branch.items()}))
        stages.append(
            HRStageSpace(
                depths=_values(stage["depths"], f"{where}.depths"),
                branches=tuple(branches),
                blocks=_values(stage["blocks"], f"{where}.blocks"),
            )
        )
    space = HRNetSearchSpace(
        name=str(data["name"]), stem_widths=_values(data["stem_widths"], f"{source}.stem_widths"), stages=tuple(stages)
    )
    space.validate(space.largest())  # builds every stage's (width, groups) pairs and checks the structure
    return space


def _keys(data: Any, source: str, expected: set[str]) -> None:
    if not isinstance(data, dict) or set(data) != expected:
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{source}: expected the fields {sorted(expected)}, got {found}")


def _sequence(value: Any, source: str) -> list[Any]:
    if not isinstance(value, list | tuple) or not value:
        raise ValueError(f"{source}: expected a non-empty list, got {value!r}")
    return list(value)


def _values(value: Any, source: str) -> tuple[Any, ...]:
    items = _sequence(value, source)
    if not all(isinstance(item, int) for item in items):  # bools are ints: the attention choices
        raise ValueError(f"{source}: expected a list of integers or booleans, got {value!r}")
    return tuple(items)
