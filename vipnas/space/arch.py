"""Architectures as data: frozen, hashable, JSON round-trippable descriptions of one network.

An *arch* fixes every searched choice of a network family (paper §3.2, Tables A1-A2): per stage the depth,
width, kernel size, group number, attention and expansion ratio (all blocks of a stage share them, §A.2),
plus the stem and the deconvolution head. ``width`` and ``expand_ratio`` mean exactly what MMPose's ``wid``
and ``expan`` mean for the family:

* ``resnet``: ``width`` is the Bottleneck's middle width; its output has ``width * expand_ratio`` channels.
* ``mobilenetv3`` and ``cpu_efficient``: ``width`` is the mobile block's output width; its middle (expanded) width
  is ``width * expand_ratio``.

``groups`` is the absolute group number of the block's middle convolution (or of the head's deconvolutions; of the
KxK convolution after each upsampling in the ``cpu_efficient`` head).
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

from vipnas.space.family import FAMILY_SPECS

__all__ = ["FAMILIES", "Arch", "HeadArch", "StageArch", "StemArch", "load_arch", "save_arch"]

FAMILIES = ("resnet", "mobilenetv3", "cpu_efficient", "cpu_efficient_deconv")


@dataclass(frozen=True)
class StemArch:
    """The first convolution: ``width`` output channels, ``kernel_size`` square kernel."""

    width: int
    kernel_size: int


@dataclass(frozen=True)
class StageArch:
    """One stage: ``depth`` identical blocks (the first may change resolution and width)."""

    depth: int
    width: int
    kernel_size: int
    groups: int
    attention: bool
    expand_ratio: int = 1


@dataclass(frozen=True)
class HeadArch:
    """The head: three stride-2 layers of ``width`` channels (deconvolutions, or for the ``cpu_efficient`` family
    1x1 conv + x2 upsampling + KxK conv in ``groups`` groups), then a 1x1 convolution to the heatmaps."""

    width: int
    kernel_size: int = 4
    groups: int = 1


@dataclass(frozen=True)
class Arch:
    """A complete architecture of one family."""

    family: str
    stem: StemArch
    stages: tuple[StageArch, ...]
    head: HeadArch

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"arch family {self.family!r} is unknown; expected one of {FAMILIES}")
        if not isinstance(self.stages, tuple):
            object.__setattr__(self, "stages", tuple(self.stages))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: ``{"family", "stem", "stages": [...], "head"}``."""
        return {
            "family": self.family,
            "stem": asdict(self.stem),
            "stages": [asdict(stage) for stage in self.stages],
            "head": asdict(self.head),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "arch") -> Arch:
        """Parse a dict written by :meth:`to_dict`, with errors that name the bad field.

        Raises:
            ValueError: a field is missing, unknown or of the wrong type.
        """
        if not isinstance(data, dict):
            raise ValueError(f"{source}: expected a JSON object, got {type(data).__name__}")
        missing = {"family", "stem", "stages", "head"} - set(data)
        if missing:
            raise ValueError(f"{source}: missing field(s) {sorted(missing)}")
        unknown = set(data) - {"family", "stem", "stages", "head"}
        if unknown:
            raise ValueError(f"{source}: unknown field(s) {sorted(unknown)}")
        if not isinstance(data["stages"], list | tuple) or not data["stages"]:
            raise ValueError(f"{source}: 'stages' must be a non-empty list, got {data['stages']!r}")
        spec = FAMILY_SPECS.get(data["family"]) if isinstance(data["family"], str) else None
        if spec is not None and len(data["stages"]) != len(spec.stage_strides):
            raise ValueError(
                f"{source}: arch has {len(data['stages'])} stages; a {spec.name} network has "
                f"{len(spec.stage_strides)} (the 'stages' list; stem and head are separate fields)"
            )
        return cls(
            family=data["family"],
            stem=_parse(StemArch, data["stem"], f"{source}.stem"),
            stages=tuple(_parse(StageArch, stage, f"{source}.stages[{i}]") for i, stage in enumerate(data["stages"])),
            head=_parse(HeadArch, data["head"], f"{source}.head"),
        )

    @classmethod
    def from_json(cls, text: str, *, source: str = "arch") -> Arch:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{source}: not valid JSON ({error})") from None
        if isinstance(data, dict) and "arch" in data and "family" not in data:
            data = data["arch"]  # files that wrap the arch, e.g. search results
        return cls.from_dict(data, source=source)

    def describe(self) -> str:
        """Multi-line human-readable table of the arch."""
        lines = [f"family {self.family}", f"  stem   width {self.stem.width:4d}  kernel {self.stem.kernel_size}"]
        for i, s in enumerate(self.stages):
            lines.append(
                f"  stage{i + 1} depth {s.depth}  width {s.width:4d}  kernel {s.kernel_size}  groups {s.groups:4d}"
                f"  attention {'yes' if s.attention else 'no '}  expand {s.expand_ratio}"
            )
        h = self.head
        lines.append(f"  head   width {h.width:4d}  kernel {h.kernel_size}  groups {h.groups:4d}")
        return "\n".join(lines)


def _parse(cls: type, data: Any, source: str) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected an object, got {data!r}")
    names = {f.name: f for f in fields(cls)}
    unknown = set(data) - set(names)
    if unknown:
        raise ValueError(f"{source}: unknown field(s) {sorted(unknown)}; expected {sorted(names)}")
    values = {}
    for name, field in names.items():
        if name not in data:
            if field.default is not MISSING:
                continue
            raise ValueError(f"{source}: missing field {name!r}")
        value = data[name]
        wants_bool = field.type in ("bool", bool)
        if wants_bool:
            if value not in (True, False, 0, 1):
                raise ValueError(f"{source}.{name}: expected true/false, got {value!r}")
            value = bool(value)
        elif isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{source}.{name}: expected an integer, got {value!r}")
        values[name] = value
    return cls(**values)


def load_arch(path: str | Path) -> Arch:
    """Read an arch from a JSON file (a bare arch, or an object with an ``arch`` field)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"arch file {path} does not exist")
    return Arch.from_json(path.read_text(), source=str(path))


def save_arch(arch: Arch, path: str | Path) -> None:
    """Write an arch as indented JSON, atomically."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(arch.to_dict(), indent=2) + "\n")
    tmp.replace(path)
