"""PoseTrack18 in its official per-video format (``annotations/{train,val}/<video>.json``, what poseval reads).

Each file holds one video: ``images`` are its frames (``frame_id``/``id`` are 11-digit ids ``1VVVVVVFFFF``, kept
as they are), ``annotations`` the persons of labelled frames with ``track_id`` and ``bbox_head``. The merged
COCO-style file loads with :func:`vipnas.data.coco.load_coco` into the same structure.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vipnas.data.coco import (
    check_image_sizes,
    check_unique_ids,
    group_videos,
    instance_from_annotation,
    integer_id,
    parse_posetrack_image,
    require,
)
from vipnas.data.files import read_json
from vipnas.data.metadata import POSETRACK18, DatasetInfo
from vipnas.data.records import ImageRecord, PoseAnnotations, PoseInstance

__all__ = ["load_posetrack_videos"]


def _video_files(source: str | Path | Sequence[str | Path]) -> list[Path]:
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            files = sorted(path.glob("*.json"))
            if not files:
                raise FileNotFoundError(f"no PoseTrack18 video files (*.json) in {path}")
            return files
        return [path]
    return [Path(item) for item in source]


def load_posetrack_videos(
    source: str | Path | Sequence[str | Path],
    image_root: str | Path,
    *,
    info: DatasetInfo = POSETRACK18,
    skip_empty: bool = True,
) -> PoseAnnotations:
    """Load official PoseTrack18 per-video annotation files.

    Args:
        source: a folder of ``<video>.json`` files, one such file, or a list of them.
        image_root: the PoseTrack18 root that ``file_name`` (``images/val/<video>/000000.jpg``) is relative to.
        info: joint convention (PoseTrack18's 17 joints).
        skip_empty: drop persons without a labelled joint.

    Returns:
        All videos' frames and persons; ``videos`` maps each video to its frames in temporal order and
        :meth:`PoseAnnotations.tracks` gives the per-track sequences.

    Raises:
        FileNotFoundError: a file is missing.
        ValueError: a record lacks a key, has the wrong keypoint count or a non-integer id, two records share an
            id, a frame or a person (track id) is listed twice in a video, or two files share a frame id.
    """
    files = _video_files(source)
    images: dict[int, ImageRecord] = {}
    instances: list[PoseInstance] = []
    for path in files:
        data = read_json(path)
        require(data, ("images", "annotations"), f"{path}")
        check_unique_ids(data["images"], f"{path}", "images")
        check_unique_ids(data["annotations"], f"{path}", "annotations")
        frames: dict[int, ImageRecord] = {}
        listed: dict[Path, int] = {}  # frame file -> its images index
        for index, entry in enumerate(data["images"]):
            image = parse_posetrack_image(entry, Path(image_root), f"{path}: images[{index}]")
            if image.path in listed:
                raise ValueError(
                    f"{path}: images[{listed[image.path]}] and images[{index}] are the same frame "
                    f"{entry['file_name']!r}; a frame is listed once per video"
                )
            listed[image.path] = index
            if not image.video:  # a per-video file names its video even if the frame lacks video fields
                image = ImageRecord(**{**image.__dict__, "video": path.stem, "frame_index": index})
            if image.image_id in images:
                raise ValueError(f"{path}: frame id {image.image_id} also appears in another video file")
            frames[image.image_id] = image
        check_image_sizes(frames, data["annotations"], f"{path}")
        images.update(frames)
        persons: dict[tuple[int, int], int] = {}  # (frame id, track id) -> annotation index
        for index, annotation in enumerate(data["annotations"]):
            where = f"{path}: annotation id {annotation.get('id', '?')} (annotations[{index}])"
            require(annotation, ("image_id", "keypoints"), where)
            frame = frames.get(integer_id(annotation["image_id"], where, "image_id"))
            if frame is None:
                raise ValueError(f"{where}: image_id {annotation['image_id']} is not a frame of this video file")
            if "track_id" in annotation:
                person = (frame.image_id, integer_id(annotation["track_id"], where, "track_id"))
                if person in persons:
                    raise ValueError(
                        f"{where}: track_id {person[1]} is already listed in frame {person[0]} by "
                        f"annotations[{persons[person]}]; a person appears once per frame"
                    )
                persons[person] = index
            instance = instance_from_annotation(annotation, frame, info, where, skip_empty=skip_empty)
            if instance is not None:
                instances.append(instance)
    source_path = Path(source) if isinstance(source, (str, Path)) else files[0].parent
    return PoseAnnotations(info, source_path, images, instances, group_videos(images.values()))
