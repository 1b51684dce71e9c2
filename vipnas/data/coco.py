"""COCO-style keypoint files (COCO, CrowdPose, merged PoseTrack18, SynthPose) and detector-box result files.

Instance filtering follows MMPose: crowd regions, instances without labelled keypoints and boxes of zero size
after clipping to the image are skipped; visibility becomes ``min(v, 1)``.
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vipnas.data.files import read_image_size, read_json
from vipnas.data.metadata import DatasetInfo, get_dataset_info
from vipnas.data.records import ImageRecord, PoseAnnotations, PoseInstance

__all__ = [
    "integer_id",
    "load_coco",
    "load_detections",
    "parse_ignore_regions",
    "parse_keypoints",
    "parse_posetrack_image",
    "real_numbers",
]

logger = logging.getLogger("vipnas.data")


def require(record: Any, keys: Iterable[str], where: str) -> None:
    """Raise ``ValueError`` naming ``where`` unless ``record`` is a dict holding every key."""
    if not isinstance(record, Mapping):
        raise ValueError(f"{where}: expected a JSON object, got {type(record).__name__}")
    missing = [key for key in keys if key not in record]
    if missing:
        raise ValueError(f"{where}: missing key(s) {missing}; it has {sorted(record)}")


def integer_id(value: Any, where: str, key: str = "id") -> int:
    """An id as the file must give it: a JSON integer. A string id (``"785"``) would load here but never match in
    pycocotools, which compares ids as they are, so it is refused rather than converted."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{where}: {key} must be an integer, got {value!r} ({type(value).__name__})")
    return int(value)


def real_numbers(value: Any, where: str, key: str, *, scalar: bool = False) -> np.ndarray:
    """A flat list of JSON numbers (or, with ``scalar``, one number) as float64; ``true`` and ``"0.9"`` are
    refused, not converted.

    Raises:
        ValueError: naming ``where``, ``key``, the first offending entry and what was expected.
    """
    if scalar and isinstance(value, list | tuple):
        raise ValueError(f"{where}: {key} is a list {value!r}, expected a number")
    items = value if isinstance(value, list | tuple) else [value]
    for index, item in enumerate(items):
        if isinstance(item, bool) or not isinstance(item, numbers.Real):
            at = f"[{index}]" if isinstance(value, list | tuple) else ""
            raise ValueError(f"{where}: {key}{at} is {item!r} ({type(item).__name__}), expected a number")
    return np.asarray(value, dtype=np.float64)


def check_unique_ids(records: Iterable[Any], where: str, kind: str) -> None:
    """Raise naming both positions when two records of a list share an ``id`` (pycocotools keeps only the last)."""
    first: dict[Any, int] = {}
    for index, record in enumerate(records):
        if not isinstance(record, Mapping) or "id" not in record:
            continue
        key = record["id"]
        if not isinstance(key, str | numbers.Number):
            continue  # not an id at all: reported when the record is parsed
        if key in first:
            raise ValueError(
                f"{where}: {kind}[{first[key]}] and {kind}[{index}] have the same id {key!r}; ids must be unique"
            )
        first[key] = index


def parse_keypoints(values: Any, info: DatasetInfo, where: str) -> tuple[np.ndarray, np.ndarray]:
    """A flat ``[x1, y1, v1, x2, ...]`` list → (K, 2) float64 positions and (K,) visibility ``min(v, 1)``."""
    try:
        flat = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: keypoints must be a list of numbers") from None
    expected = 3 * info.num_joints
    if flat.ndim != 1 or flat.size != expected:
        raise ValueError(
            f"{where}: expected {expected} keypoint values ({info.num_joints} {info.name} joints × (x, y, v)), "
            f"got {flat.size}"
        )
    if not np.isfinite(flat).all():
        raise ValueError(f"{where}: keypoints contain NaN or infinity")
    triples = flat.reshape(info.num_joints, 3)
    return triples[:, :2].copy(), np.minimum(triples[:, 2], 1.0).clip(min=0.0)


def _frame_index(image: Mapping[str, Any]) -> int:
    stem = Path(str(image["file_name"])).stem
    if stem.isdigit():
        return int(stem)
    if "frame_id" in image:
        return int(image["frame_id"]) % 10000  # PoseTrack18 frame ids end in the 4-digit frame number
    return -1


def parse_ignore_regions(image: Mapping[str, Any], where: str) -> list[np.ndarray]:
    """The polygons of a frame's ``ignore_regions_x`` / ``ignore_regions_y``: (P, 2) float64 each.

    Raises:
        ValueError: the two lists, or the x and y of one region, differ in length, or hold non-numbers.
    """
    xs_all, ys_all = image.get("ignore_regions_x", []) or [], image.get("ignore_regions_y", []) or []
    if not isinstance(xs_all, list) or not isinstance(ys_all, list):
        raise ValueError(f"{where}: ignore_regions_x and ignore_regions_y must be lists of coordinate lists")
    if len(xs_all) != len(ys_all):
        raise ValueError(
            f"{where}: ignore_regions_x has {len(xs_all)} regions and ignore_regions_y {len(ys_all)}; "
            "expected one y list per x list"
        )
    regions = []
    for number, (xs, ys) in enumerate(zip(xs_all, ys_all, strict=True)):
        x = real_numbers(xs, where, f"ignore_regions_x[{number}]")
        y = real_numbers(ys, where, f"ignore_regions_y[{number}]")
        if x.shape != y.shape or x.ndim != 1:
            raise ValueError(
                f"{where}: ignore region {number} has {x.size} x and {y.size} y coordinates; expected equal lists"
            )
        regions.append(np.c_[x, y])
    return regions


def parse_posetrack_image(image: Mapping[str, Any], image_root: Path, where: str) -> ImageRecord:
    """One ``images`` entry (COCO or PoseTrack18) → :class:`ImageRecord`; video fields filled when present."""
    require(image, ("id", "file_name"), where)
    file_name = str(image["file_name"])
    video = ""
    if "vid_id" in image or "frame_id" in image or "is_labeled" in image:
        video = Path(file_name).parent.name or str(image.get("vid_id", ""))
    regions = [region for region in parse_ignore_regions(image, where) if len(region) >= 3]  # polygons only
    return ImageRecord(
        image_id=integer_id(image["id"], where),
        path=image_root / file_name,
        width=int(image.get("width", 0)),
        height=int(image.get("height", 0)),
        video=video,
        frame_index=_frame_index(image) if video else -1,
        is_labeled=bool(image.get("is_labeled", True)),
        ignore_regions=tuple(regions),
    )


def check_image_sizes(images: dict[int, ImageRecord], annotations: Iterable[Any], where: str) -> None:
    """Trust but verify the ``width``/``height`` an annotation file states, where it matters: for every image with
    a person box reaching past the stated size (clipping would shrink or drop the person), read the size from the
    image file's header. When the file is larger, warn naming both and use the file's size (in place in
    ``images``). Images whose boxes fit are not opened, so clean files cost nothing."""
    checked: set[int] = set()
    for annotation in annotations:
        if not isinstance(annotation, Mapping) or "bbox" not in annotation:
            continue
        owner = annotation.get("image_id")
        image = images.get(int(owner)) if isinstance(owner, numbers.Integral) else None
        if image is None or image.image_id in checked or image.width <= 0 or image.height <= 0:
            continue
        try:
            x, y, w, h = (float(value) for value in annotation["bbox"])
        except (TypeError, ValueError):
            continue  # reported with its record when the instance is parsed
        if x + w <= image.width and y + h <= image.height:
            continue
        checked.add(image.image_id)
        size = read_image_size(image.path)
        if size is None or size == (image.width, image.height):
            continue
        logger.warning(
            "%s: image id %d states %dx%d but %s is %dx%d; using the file's size %dx%d to clip the boxes",
            where, image.image_id, image.width, image.height, image.path, *size, *size,
        )  # fmt: skip
        images[image.image_id] = ImageRecord(**{**image.__dict__, "width": size[0], "height": size[1]})


def clip_box(box: Any, image: ImageRecord, where: str) -> np.ndarray | None:
    """Clip an ``(x, y, w, h)`` box to the image (MMPose); ``None`` when nothing of positive size remains."""
    try:
        x, y, w, h = (float(value) for value in box)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: bbox must be 4 numbers (x, y, w, h), got {box!r}") from None
    if not np.isfinite([x, y, w, h]).all():
        raise ValueError(f"{where}: bbox {list(box)!r} has non-finite values; expected finite (x, y, w, h)")
    x1, y1, x2, y2 = x, y, x + max(w, 0.0), y + max(h, 0.0)
    if image.width > 0 and image.height > 0:
        x1, x2 = np.clip([x1, x2], 0, image.width - 1)
        y1, y2 = np.clip([y1, y2], 0, image.height - 1)
    if x2 <= x1 or y2 <= y1:
        return None
    return np.array([x1, y1, x2 - x1, y2 - y1], dtype=np.float64)


def box_from_keypoints(keypoints: np.ndarray, visible: np.ndarray, margin: float = 0.1) -> np.ndarray | None:
    """Tight box around the labelled joints, enlarged by ``margin`` of its size on each side."""
    points = keypoints[visible > 0]
    if len(points) < 2:
        return None
    low, high = points.min(axis=0), points.max(axis=0)
    size = np.maximum(high - low, 1.0)
    return np.concatenate([low - margin * size, size * (1 + 2 * margin)])


def instance_from_annotation(
    annotation: Mapping[str, Any], image: ImageRecord, info: DatasetInfo, where: str, *, skip_empty: bool
) -> PoseInstance | None:
    """Parse one annotation; ``None`` when MMPose would skip it (crowd, no keypoints, empty box)."""
    require(annotation, ("keypoints",), where)
    if annotation.get("iscrowd", 0):
        return None
    keypoints, visible = parse_keypoints(annotation["keypoints"], info, where)
    if skip_empty and int(annotation.get("num_keypoints", np.count_nonzero(visible))) == 0:
        return None
    if "area" in annotation:
        area = annotation["area"]
        if isinstance(area, bool) or not isinstance(area, numbers.Real) or not np.isfinite(area):
            raise ValueError(f"{where}: area {area!r} is non-finite or not a number; expected a finite number")
        if area <= 0:
            return None
    if "bbox" in annotation:
        box = clip_box(annotation["bbox"], image, where)
    elif image.video:  # PoseTrack18 files before v0.45 carry no person boxes
        box = box_from_keypoints(keypoints, visible)
    else:
        raise ValueError(f"{where}: missing key 'bbox'; it has {sorted(annotation)}")
    if box is None:
        return None
    head_box = annotation.get("bbox_head")
    return PoseInstance(
        image=image,
        annotation_id=int(annotation.get("id", -1)),
        box=box,
        keypoints=keypoints,
        visible=visible,
        box_score=1.0,
        area=float(annotation.get("area", box[2] * box[3])),
        track_id=int(annotation.get("track_id", -1)),
        head_box=None if head_box is None else np.asarray(head_box, dtype=np.float64),
    )


def group_videos(images: Iterable[ImageRecord]) -> dict[str, list[ImageRecord]]:
    """Video name → its frames sorted by frame index (image datasets give an empty dict)."""
    videos: dict[str, list[ImageRecord]] = {}
    for image in images:
        if image.video:
            videos.setdefault(image.video, []).append(image)
    return {name: sorted(frames, key=lambda image: image.frame_index) for name, frames in videos.items()}


def load_coco(
    annotation_file: str | Path,
    image_root: str | Path,
    dataset: str | DatasetInfo = "COCO",
    *,
    skip_empty: bool = True,
    data: dict[str, Any] | None = None,
) -> PoseAnnotations:
    """Load a COCO-style keypoint file: COCO, CrowdPose, the merged PoseTrack18 file, or SynthPose.

    Args:
        annotation_file: the JSON file with ``images``, ``annotations`` (and ``categories``).
        image_root: folder that ``file_name`` entries are relative to.
        dataset: joint convention, by name or as metadata.
        skip_empty: drop instances without a labelled keypoint (MMPose's default, for training and GT-box tests).
        data: the file's already parsed contents, to avoid reading it twice.

    Returns:
        The annotation set; ``videos`` is filled when the images carry PoseTrack18 video fields.

    Raises:
        FileNotFoundError: the annotation file is missing.
        ValueError: a record lacks a key, has the wrong keypoint count, or refers to an unknown image.
    """
    path = Path(annotation_file)
    info = dataset if isinstance(dataset, DatasetInfo) else get_dataset_info(dataset)
    data = read_json(path) if data is None else data
    require(data, ("images", "annotations"), f"{path}")
    check_unique_ids(data["images"], f"{path}", "images")
    check_unique_ids(data["annotations"], f"{path}", "annotations")
    images: dict[int, ImageRecord] = {}
    for index, entry in enumerate(data["images"]):
        image = parse_posetrack_image(entry, Path(image_root), f"{path}: images[{index}]")
        images[image.image_id] = image
    check_image_sizes(images, data["annotations"], f"{path}")
    instances = []
    for index, annotation in enumerate(data["annotations"]):
        where = f"{path}: annotation id {annotation.get('id', '?')} (annotations[{index}])"
        require(annotation, ("image_id",), where)
        if "id" in annotation:
            integer_id(annotation["id"], where)
        owner = images.get(integer_id(annotation["image_id"], where, "image_id"))
        if owner is None:
            raise ValueError(f"{where}: image_id {annotation['image_id']} is not in the file's images")
        instance = instance_from_annotation(annotation, owner, info, where, skip_empty=skip_empty)
        if instance is not None:
            instances.append(instance)
    return PoseAnnotations(info, path, images, instances, group_videos(images.values()))


def load_detections(
    results_file: str | Path,
    annotations: PoseAnnotations,
    *,
    score_threshold: float = 0.0,
    category_id: int = 1,
) -> PoseAnnotations:
    """Detector boxes ``[{image_id, category_id, bbox, score}]`` as test-time instances of an annotated image set.

    Boxes of other categories and those scoring below ``score_threshold`` are dropped; keypoints are zeros.

    Raises:
        ValueError: an entry lacks a key or names an image the annotation set does not have.
    """
    path = Path(results_file)
    data = read_json(path)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of detections [{{image_id, bbox, score}}]")
    joints = annotations.info.num_joints
    instances = []
    for index, entry in enumerate(data):
        where = f"{path}: detection [{index}]"
        require(entry, ("image_id", "bbox", "score"), where)
        if int(entry.get("category_id", category_id)) != category_id or float(entry["score"]) < score_threshold:
            continue
        image = annotations.images.get(int(entry["image_id"]))
        if image is None:
            raise ValueError(f"{where}: image_id {entry['image_id']} is not in {annotations.source}")
        try:
            box = np.asarray(entry["bbox"], dtype=np.float64)
        except (TypeError, ValueError):
            box = np.zeros(0)
        if box.shape != (4,):
            raise ValueError(f"{where}: bbox must be 4 numbers (x, y, w, h), got {entry['bbox']!r}")
        if not (np.isfinite(box).all() and box[2] > 0 and box[3] > 0):
            raise ValueError(f"{where}: bbox {entry['bbox']!r} must be finite with positive width and height")
        if not np.isfinite(float(entry["score"])):
            raise ValueError(f"{where}: score {entry['score']!r} is not finite")
        instances.append(
            PoseInstance(
                image=image,
                annotation_id=index,
                box=box,
                keypoints=np.zeros((joints, 2)),
                visible=np.zeros(joints),
                box_score=float(entry["score"]),
                area=float(box[2] * box[3]),
            )
        )
    return PoseAnnotations(annotations.info, path, annotations.images, instances, annotations.videos)
