"""How hard a SynthPose dataset is: the generator's knobs as one typed value, and the three named levels.

``hard`` is SynthPose as it was first written (crowded, small, occluded people on cluttered backgrounds with
limb-like distractors): the same seed at this level gives byte-identical files to that version. ``medium`` and
``easy`` turn the same knobs down so that a small network learns measurably in minutes of CPU. Every knob is
recorded in the dataset's manifest. Videos add *occlusion events*: an occluder that passes in front of a chosen
person for a few frames, so that temporal context has something to recover.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["DEFAULT_LEVEL", "LEVELS", "Difficulty", "difficulty"]


def _probabilities(values: tuple[float, ...], name: str) -> None:
    if not values or any(not math.isfinite(v) or v < 0 for v in values) or abs(sum(values) - 1.0) > 1e-6:
        raise ValueError(f"difficulty.{name} must be non-negative probabilities summing to 1, got {values}")


def _range(values: tuple[float, float], name: str, low: float, high: float) -> None:
    if len(values) != 2 or not (low <= values[0] <= values[1] <= high):
        raise ValueError(f"difficulty.{name} must be (low, high) with {low} <= low <= high <= {high}, got {values}")


@dataclass(frozen=True)
class Difficulty:
    """The knobs of the SynthPose generator.

    Attributes:
        name: the level's name (``custom`` for a hand-made value).
        people: probabilities of 1, 2, ... people in a still image.
        person_size: (low, high) body height as a fraction of the image height (drawn log-uniformly).
        near: probability that a person stands next to an earlier one (overlapping people).
        occluders: probabilities of 0, 1, ... foreground occluders in a still image.
        distractors: (low, high) number of limb-like distractors in the background, an integer in [low, high).
        clutter: (low, high) number of background objects (furniture, poles, blotches), an integer in [low, high).
        background_noise: amplitude of the low-frequency background colour noise (0-255 scale).
        textures: probabilities of clothing patterns: solid, bands, stripes, checks, speckle.
        roll: probability that a still person is strongly rolled (up to ±90°; otherwise about ±5°).
        video_people: probabilities of 1, 2, ... tracks in a video.
        video_size: (low, high) track height as a fraction of the frame height (log-uniform).
        video_occluders: probabilities of 0, 1, ... occluders crossing the whole video.
        occlusion_events: expected number of occlusion events per 30 frames (Poisson): an occluder that passes in
            front of one person, hiding at least half of the body for a few frames.
    """

    name: str = "custom"
    people: tuple[float, ...] = (0.25, 0.3, 0.25, 0.12, 0.08)
    person_size: tuple[float, float] = (0.16, 1.25)
    near: float = 0.55
    occluders: tuple[float, ...] = (0.6, 0.3, 0.1)
    distractors: tuple[int, int] = (1, 6)
    clutter: tuple[int, int] = (3, 12)
    background_noise: float = 18.0
    textures: tuple[float, ...] = (0.35, 0.2, 0.15, 0.15, 0.15)
    roll: float = 0.07
    video_people: tuple[float, ...] = (0.25, 0.35, 0.25, 0.15)
    video_size: tuple[float, float] = (0.3, 1.0)
    video_occluders: tuple[float, ...] = (0.2, 0.4, 0.3, 0.1)
    occlusion_events: float = 0.0

    def __post_init__(self) -> None:
        for name in ("people", "occluders", "textures", "video_people", "video_occluders"):
            _probabilities(getattr(self, name), name)
        if len(self.textures) != 5:
            raise ValueError(f"difficulty.textures needs 5 probabilities, got {len(self.textures)}")
        _range(self.person_size, "person_size", 0.05, 3.0)
        _range(self.video_size, "video_size", 0.05, 3.0)
        for name in ("distractors", "clutter"):
            low, high = getattr(self, name)
            if not (isinstance(low, int) and isinstance(high, int) and 0 <= low < high):
                raise ValueError(
                    f"difficulty.{name} must be integers (low, high) with 0 <= low < high, got {(low, high)}"
                )
        for name in ("near", "roll"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"difficulty.{name} must be a probability in [0, 1], got {getattr(self, name)}")
        if not (math.isfinite(self.background_noise) and self.background_noise >= 0):
            raise ValueError(f"difficulty.background_noise must be >= 0, got {self.background_noise}")
        if not (math.isfinite(self.occlusion_events) and self.occlusion_events >= 0):
            raise ValueError(f"difficulty.occlusion_events must be >= 0, got {self.occlusion_events}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready knobs (tuples as lists), as written to the manifest."""
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Difficulty:
        """Inverse of :meth:`to_dict`; unknown keys are a named error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown SynthPose difficulty field(s) {unknown}; expected some of {sorted(known)}")
        values = {}
        for key, value in data.items():
            if key in ("distractors", "clutter"):
                value = tuple(int(v) for v in value)
            elif isinstance(value, list):
                value = tuple(float(v) for v in value)
            values[key] = value
        return cls(**values)


LEVELS: dict[str, Difficulty] = {
    # 1-2 large people, no occluders or distractors, a plain background, plain clothes: learnable in minutes
    "easy": Difficulty(
        name="easy",
        people=(0.6, 0.4),
        person_size=(0.45, 0.95),
        near=0.2,
        occluders=(1.0,),
        distractors=(0, 1),
        clutter=(0, 1),
        background_noise=6.0,
        textures=(0.7, 0.3, 0.0, 0.0, 0.0),
        roll=0.0,
        video_people=(0.6, 0.4),
        video_size=(0.45, 0.95),
        video_occluders=(1.0,),
        occlusion_events=1.0,
    ),
    # 1-3 people of most sizes, an occasional occluder and distractor, some clutter; videos with occlusion events
    "medium": Difficulty(
        name="medium",
        people=(0.4, 0.4, 0.2),
        person_size=(0.35, 1.1),
        near=0.35,
        occluders=(0.8, 0.2),
        distractors=(0, 3),
        clutter=(1, 6),
        background_noise=12.0,
        textures=(0.5, 0.2, 0.1, 0.1, 0.1),
        roll=0.03,
        video_people=(0.4, 0.4, 0.2),
        video_size=(0.35, 1.0),
        video_occluders=(0.6, 0.4),
        occlusion_events=1.5,
    ),
    # SynthPose as first written (byte-identical for a seed): crowds, small people, occluders, distractors
    "hard": Difficulty(name="hard"),
}

DEFAULT_LEVEL = "easy"


def difficulty(level: str | Difficulty) -> Difficulty:
    """A level by name (``easy``, ``medium``, ``hard``) or a :class:`Difficulty` as it is."""
    if isinstance(level, Difficulty):
        return level
    if level not in LEVELS:
        raise ValueError(f"unknown SynthPose level {level!r}; expected one of {', '.join(LEVELS)}")
    return LEVELS[level]
