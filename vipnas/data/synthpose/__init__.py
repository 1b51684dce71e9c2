"""SynthPose: a procedural, seeded human-pose benchmark of images (COCO format) and videos (PoseTrack18 format).

Articulated 2-D bodies with human proportions and joint limits, limbs drawn as shaded textured tapered shapes
in depth order (so they occlude each other), faces with eyes, ears and nose, cluttered backgrounds with
limb-like distractors, several overlapping people at many scales, lighting changes and JPEG noise; videos add
smooth activities, camera motion, passing occluders and motion blur. Ground truth is exact.

    >>> from vipnas.data import synthpose
    >>> layout = synthpose.generate("data/synthpose", images=1000, videos=10, frames=30, seed=0, level="medium")
    >>> train = synthpose.load(layout.root, "train")            # COCO images, 17 joints
    >>> clips = synthpose.load(layout.root, "val", videos=True)  # PoseTrack18 videos
"""

from __future__ import annotations

from pathlib import Path

from vipnas.data.synthpose.difficulty import DEFAULT_LEVEL, LEVELS, Difficulty, difficulty
from vipnas.data.synthpose.generate import SPLITS, SynthPoseLayout, generate

__all__ = ["DEFAULT_LEVEL", "LEVELS", "SPLITS", "Difficulty", "SynthPoseLayout", "difficulty", "generate", "load"]


def load(root: str | Path, split: str = "train", *, videos: bool = False, skip_empty: bool = True):
    """Load a generated split: still images as COCO, or videos from their official PoseTrack18 files.

    Returns:
        :class:`vipnas.data.records.PoseAnnotations`.
    """
    from vipnas.data.coco import load_coco
    from vipnas.data.posetrack import load_posetrack_videos

    layout = SynthPoseLayout(Path(root))
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    if videos:
        return load_posetrack_videos(layout.video_annotations(split), layout.posetrack_root, skip_empty=skip_empty)
    return load_coco(layout.annotations(split), layout.images(split), "COCO", skip_empty=skip_empty)
