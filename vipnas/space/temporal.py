"""The temporal search space of ViPNAS (§3.1, §3.3): T-ViPNets for the T non-key frames after a key frame.

The key frame runs the S-ViPNet (the key arch). Non-key frame t = 1..T runs its own T-ViPNet: a spatial arch
**inside** the key arch (every dimension at most the key's, so one supernet initialised from the S-ViPNet's
weights holds them all), a fusion point F1..F4 where the heatmaps propagated from frame t-1 enter, and a fusion
op (``add``, ``mul``, ``cat``). A :class:`TemporalArch` is the key arch plus the T frame choices: frozen, hashable,
JSON round-trippable. :class:`TemporalSpace` samples, mutates, crosses over and validates them.

"At most the key's" for group numbers means at most the key's channels per group (what the shared weight
stores): in spaces given by absolute group numbers (ResNet) a frame may use the key's group number or more; in
spaces given by channels per group (MobileNetV3) at most the key's channels per group.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from vipnas.space.arch import Arch
from vipnas.space.search_space import HeadSpace, InvalidArchError, SearchSpace, StageSpace, StemSpace

__all__ = ["FUSION_OPS", "FUSION_POINTS", "FrameChoice", "TemporalArch", "TemporalSpace", "load_temporal_arch"]

FUSION_POINTS = (1, 2, 3, 4)  # F1..F4 (vipnas.space.blocks.feature_info)
FUSION_OPS = ("add", "mul", "cat")


@dataclass(frozen=True)
class FrameChoice:
    """One non-key frame's T-ViPNet: its spatial ``arch``, the fusion point ``fusion`` (1..4 for F1..F4) and the
    fusion ``op``."""

    arch: Arch
    fusion: int
    op: str

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.arch.to_dict(), "fusion": self.fusion, "op": self.op}

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "frame") -> FrameChoice:
        if not isinstance(data, dict) or set(data) != {"arch", "fusion", "op"}:
            found = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"{source}: expected an object with 'arch', 'fusion', 'op', got {found}")
        fusion, op = data["fusion"], data["op"]
        if isinstance(fusion, bool) or fusion not in FUSION_POINTS:
            raise ValueError(f"{source}.fusion: {fusion!r} is not a fusion point; expected one of {FUSION_POINTS}")
        if op not in FUSION_OPS:
            raise ValueError(f"{source}.op: {op!r} is not a fusion op; expected one of {list(FUSION_OPS)}")
        return cls(Arch.from_dict(data["arch"], source=f"{source}.arch"), fusion, op)


@dataclass(frozen=True)
class TemporalArch:
    """The key frame's arch and the T non-key frames' choices."""

    key: Arch
    frames: tuple[FrameChoice, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.frames, tuple):
            object.__setattr__(self, "frames", tuple(self.frames))

    @property
    def length(self) -> int:
        """T, the non-key frames per key frame."""
        return len(self.frames)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key.to_dict(), "frames": [frame.to_dict() for frame in self.frames]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "temporal arch") -> TemporalArch:
        if not isinstance(data, dict) or set(data) != {"key", "frames"}:
            found = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"{source}: expected an object with 'key' and 'frames', got {found}")
        if not isinstance(data["frames"], list | tuple) or not data["frames"]:
            raise ValueError(f"{source}.frames: expected a non-empty list of frame choices, got {data['frames']!r}")
        frames = tuple(FrameChoice.from_dict(f, source=f"{source}.frames[{i}]") for i, f in enumerate(data["frames"]))
        return cls(Arch.from_dict(data["key"], source=f"{source}.key"), frames)

    @classmethod
    def from_json(cls, text: str, *, source: str = "temporal arch") -> TemporalArch:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{source}: not valid JSON ({error})") from None
        return cls.from_dict(data, source=source)

    def describe(self) -> str:
        lines = [f"key frame: {self.key.family}, {len(self.key.stages)} stages"]
        for index, frame in enumerate(self.frames, start=1):
            depths = "-".join(str(stage.depth) for stage in frame.arch.stages)
            widths = "-".join(str(stage.width) for stage in frame.arch.stages)
            lines.append(f"  frame {index}: fusion F{frame.fusion} {frame.op:3s}  depths {depths}  widths {widths}")
        return "\n".join(lines)


def load_temporal_arch(path: str | Path) -> TemporalArch:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"temporal arch file {path} does not exist")
    return TemporalArch.from_json(path.read_text(), source=str(path))


def _at_most(values: tuple[int, ...], limit: int) -> tuple[int, ...]:
    return tuple(v for v in values if v <= limit)


def _below_stage(choice: StageSpace, key: Any, middle: int) -> StageSpace:
    """The choices of a stage that are at most the key stage's (see the module docstring for groups)."""
    attentions = choice.attentions if key.attention else tuple(a for a in choice.attentions if not a)
    common = dict(
        depths=_at_most(choice.depths, key.depth),
        widths=_at_most(choice.widths, key.width),
        kernel_sizes=_at_most(choice.kernel_sizes, key.kernel_size),
        attentions=attentions,
        expand_ratios=_at_most(choice.expand_ratios, key.expand_ratio),
    )
    if choice.groups:
        return StageSpace(**common, groups=tuple(g for g in choice.groups if g >= key.groups))
    return StageSpace(**common, channels_per_group=_at_most(choice.channels_per_group, middle // key.groups))


class TemporalSpace:
    """T-ViPNets of ``length`` frames under the key arch ``key`` of the spatial space ``space``.

    ``shared=True`` is the paper's Fig. 6b baseline: one choice (spatial arch, fusion point, op) shared by every
    non-key frame; sampling, mutation and crossover keep the frames equal and :meth:`validate` refuses others.

    Raises:
        InvalidArchError: ``key`` is not in ``space``.
        ValueError: ``length`` < 1.
    """

    def __init__(self, space: SearchSpace, key: Arch, length: int = 3, *, shared: bool = False) -> None:
        space.validate(key)
        if length < 1:
            raise ValueError(f"a temporal space needs at least one non-key frame (T >= 1), got {length}")
        self.space, self.key, self.length, self.shared = space, key, length, shared
        self.name = f"{space.name}_temporal_t{length}" + ("_shared" if shared else "")

    def size(self) -> int:
        """Number of distinct temporal archs: (frame archs x fusion points x ops) ** T (without the power when
        shared)."""
        choices = self.frame_space.size() * len(FUSION_POINTS) * len(FUSION_OPS)
        return choices if self.shared else choices**self.length

    @cached_property
    def frame_space(self) -> SearchSpace:
        """The spatial archs a non-key frame may run: the space restricted to at most the key arch (whose largest
        is the key arch itself)."""
        spec, key, space = self.space.spec, self.key, self.space
        stages = tuple(
            _below_stage(choice, stage, spec.middle_channels(stage))
            for choice, stage in zip(space.stages, key.stages, strict=True)
        )
        head = space.head
        head_key = key.head
        below_head = HeadSpace(
            widths=_at_most(head.widths, head_key.width),
            kernel_sizes=_at_most(head.kernel_sizes, head_key.kernel_size),
            groups=tuple(g for g in head.groups if g >= head_key.groups),
            channels_per_group=_at_most(head.channels_per_group, head_key.width // head_key.groups),
        )
        stem = StemSpace(
            _at_most(space.stem.widths, key.stem.width), _at_most(space.stem.kernel_sizes, key.stem.kernel_size)
        )
        restricted = SearchSpace(f"{space.name}_below_key", space.family, stem, stages, below_head)
        restricted.validate(key)
        return restricted

    # ------------------------------------------------------------------------------------------ validate
    def validate(self, arch: TemporalArch) -> TemporalArch:
        """Return ``arch`` if it belongs to this space.

        Raises:
            InvalidArchError: naming the frame and what is wrong (other key arch, frame count, fusion point or op,
                a spatial arch outside the key's bounds).
        """
        if arch.key != self.key:
            raise InvalidArchError("the temporal arch's key arch is not this space's key arch (the S-ViPNet)")
        if arch.length != self.length:
            raise InvalidArchError(f"the temporal arch has {arch.length} non-key frames; the space has T={self.length}")
        if self.shared and len(set(arch.frames)) > 1:
            raise InvalidArchError("the frames' choices differ; this space shares one choice across every frame")
        for index, frame in enumerate(arch.frames, start=1):
            if frame.fusion not in FUSION_POINTS:
                raise InvalidArchError(f"frame {index}: fusion point {frame.fusion!r}; allowed: {list(FUSION_POINTS)}")
            if frame.op not in FUSION_OPS:
                raise InvalidArchError(f"frame {index}: fusion op {frame.op!r}; allowed: {list(FUSION_OPS)}")
            try:
                self.frame_space.validate(frame.arch)
            except InvalidArchError as error:
                raise InvalidArchError(f"frame {index}: {error} (at most the key arch)") from None
        return arch

    def contains(self, arch: TemporalArch) -> bool:
        try:
            self.validate(arch)
        except InvalidArchError:
            return False
        return True

    # ------------------------------------------------------------------------------------------ choices
    def sample_frame(self, rng: random.Random) -> FrameChoice:
        return FrameChoice(self.frame_space.sample(rng), rng.choice(FUSION_POINTS), rng.choice(FUSION_OPS))

    def sample(self, rng: random.Random) -> TemporalArch:
        """Every frame its own uniformly random spatial arch, fusion point and op (shared: one for all)."""
        if self.shared:
            return self.uniform(self.sample_frame(rng))
        return TemporalArch(self.key, tuple(self.sample_frame(rng) for _ in range(self.length)))

    def uniform(self, frame: FrameChoice) -> TemporalArch:
        """The same choice on every frame (the paper's Fig. 6b baseline)."""
        return TemporalArch(self.key, (frame,) * self.length)

    def extreme(self, which: str, rng: random.Random) -> TemporalArch:
        """``largest`` or ``smallest`` spatial arch on every frame, with random fusion choices (the sandwich)."""
        arch = self.frame_space.largest() if which == "largest" else self.frame_space.smallest()
        if self.shared:
            return self.uniform(FrameChoice(arch, rng.choice(FUSION_POINTS), rng.choice(FUSION_OPS)))
        return TemporalArch(
            self.key,
            tuple(FrameChoice(arch, rng.choice(FUSION_POINTS), rng.choice(FUSION_OPS)) for _ in range(self.length)),
        )

    def mutate(self, arch: TemporalArch, rng: random.Random, probability: float = 0.1) -> TemporalArch:
        """Mutate each frame's spatial arch (as the spatial space does) and resample its fusion point and op with
        ``probability``."""
        self.validate(arch)
        frames = []
        for frame in arch.frames[:1] if self.shared else arch.frames:
            spatial = self.frame_space.mutate(frame.arch, rng, probability)
            fusion = rng.choice(FUSION_POINTS) if rng.random() < probability else frame.fusion
            op = rng.choice(FUSION_OPS) if rng.random() < probability else frame.op
            frames.append(FrameChoice(spatial, fusion, op))
        return self.uniform(frames[0]) if self.shared else TemporalArch(self.key, tuple(frames))

    def crossover(self, first: TemporalArch, second: TemporalArch, rng: random.Random) -> TemporalArch:
        """Frame-wise uniform crossover: each frame's whole choice comes from one parent (shared: the whole arch)."""
        self.validate(first)
        self.validate(second)
        if self.shared:
            return first if rng.random() < 0.5 else second
        frames = tuple(a if rng.random() < 0.5 else b for a, b in zip(first.frames, second.frames, strict=True))
        return replace(first, frames=frames)
