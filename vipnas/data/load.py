"""One entry point for every supported annotation source, recognised from what it contains."""

from __future__ import annotations

from pathlib import Path

from vipnas.data.coco import load_coco
from vipnas.data.files import read_json
from vipnas.data.metadata import COCO, CROWDPOSE, MPII, POSETRACK18, DatasetInfo, get_dataset_info
from vipnas.data.mpii import load_mpii
from vipnas.data.posetrack import load_posetrack_videos
from vipnas.data.records import PoseAnnotations

__all__ = ["guess_dataset", "load_annotations"]


def guess_dataset(categories: list) -> DatasetInfo:
    """Joint convention of a COCO-style file from its person category's keypoint names (COCO if absent)."""
    names = []
    for category in categories or []:
        if isinstance(category, dict) and category.get("keypoints"):
            names = list(category["keypoints"])
            break
    if "head_bottom" in names:
        return POSETRACK18
    if len(names) == CROWDPOSE.num_joints:
        return CROWDPOSE
    if len(names) == MPII.num_joints:
        return MPII
    return COCO


def load_annotations(
    source: str | Path,
    image_root: str | Path | None = None,
    *,
    dataset: str | DatasetInfo | None = None,
    split: str = "val",
    videos: bool = False,
) -> PoseAnnotations:
    """Load any supported source.

    Args:
        source: a SynthPose root (has ``manifest.json``), a folder of PoseTrack18 per-video files, an MPII JSON
            list, or a COCO-style file (COCO, CrowdPose, merged PoseTrack18, SynthPose).
        image_root: folder image paths are relative to; default: the file's folder (PoseTrack18 per-video
            folders: the dataset root two levels up, i.e. the folder holding ``annotations/``).
        dataset: joint convention; guessed from the file when omitted.
        split: for SynthPose roots, ``train`` or ``val``.
        videos: for SynthPose roots, load the videos instead of the still images.

    Raises:
        FileNotFoundError: the source does not exist.
        ValueError: the source is malformed (the message names the file and record).
    """
    path = Path(source)
    info = None if dataset is None else dataset if isinstance(dataset, DatasetInfo) else get_dataset_info(dataset)
    if path.is_dir() and (path / "manifest.json").is_file():
        from vipnas.data import synthpose

        return synthpose.load(path, split, videos=videos)
    if path.is_dir():
        root = Path(image_root) if image_root is not None else path.parent.parent
        return load_posetrack_videos(path, root, info=info or POSETRACK18)
    if not path.exists():
        raise FileNotFoundError(f"annotation source {path} does not exist")
    root = Path(image_root) if image_root is not None else path.parent
    data = read_json(path)
    if isinstance(data, list):
        return load_mpii(path, root)
    if isinstance(data, dict) and "images" in data and "annotations" in data:
        return load_coco(path, root, info or guess_dataset(data.get("categories", [])), data=data)
    raise ValueError(f"{path}: not a recognised annotation file (expected COCO-style images/annotations or MPII list)")
