"""The SynthPose clips the video page offers: rendered at server start by vipnas's own SynthPose generator
(:func:`vipnas.data.synthpose.generate`, the easy level, a fixed seed) into the server's temporary folder, each a
folder of frames with its PoseTrack18 ground truth, whose boxes the ``gt:`` detector reads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Clip", "render_clips"]


@dataclass(frozen=True)
class Clip:
    """One rendered clip: ``id``, a ``label`` for the page, its ``frames`` folder, ``truth`` (its PoseTrack18
    per-video file), ``frame_count`` and ``size`` (width, height)."""

    id: str
    label: str
    frames: Path
    truth: Path
    frame_count: int
    size: tuple[int, int]

    def to_dict(self) -> dict[str, Any]:
        width, height = self.size
        return {"id": self.id, "label": self.label, "frames": self.frame_count, "width": width, "height": height}


def render_clips(folder: Path, count: int, frames: int, *, seed: int = 0) -> list[Clip]:
    """Render ``count`` SynthPose videos of ``frames`` frames into ``folder``; returns them, train split first.

    Raises:
        ValueError: ``count`` < 1 or ``frames`` outside 1..9999 (the generator's own check).
    """
    from vipnas.data import synthpose
    from vipnas.data.files import read_image_size
    from vipnas.data.synthpose.generate import SynthPoseLayout

    if count < 1:
        raise ValueError(f"clips: count must be >= 1, got {count}")
    fraction = 0.5 if count > 1 else 0.0  # two clips: one of each split, so both kinds of scene appear
    synthpose.generate(
        folder, images=0, videos=count, frames=frames, seed=seed, val_fraction=fraction, workers=1, progress=False
    )
    layout = SynthPoseLayout(folder)
    clips: list[Clip] = []
    for split in ("train", "val"):
        for truth in sorted(layout.video_annotations(split).glob("*.json")):
            images = layout.posetrack_root / "images" / split / truth.stem
            first = next(iter(sorted(images.glob("*.jpg"))))
            width, height = read_image_size(first) or (0, 0)
            number = len(clips) + 1
            label = f"SynthPose clip {number} ({frames} frames, {width}x{height}, seed {seed})"
            clips.append(Clip(f"synthpose-{number}", label, images, truth, frames, (width, height)))
    return clips
