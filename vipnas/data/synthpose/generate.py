"""Write a SynthPose dataset: COCO-format images and PoseTrack18-format videos, deterministic for a seed.

Every image and video draws from its own generator ``default_rng((seed, kind, split, index))``, so output does
not depend on the number of worker processes; JSON is written with a fixed key order and rounded numbers, so
the same seed gives byte-identical files. See ``docs/data.md`` for the layout.
"""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from vipnas.data.files import encode_jpeg, write_bytes_atomic, write_json_atomic
from vipnas.data.metadata import COCO, POSETRACK18, DatasetInfo
from vipnas.data.synthpose.difficulty import DEFAULT_LEVEL, Difficulty, difficulty
from vipnas.data.synthpose.scene import PersonTruth, render_image, render_video

__all__ = ["MIN_ANNOTATED_HEIGHT", "SPLITS", "SynthPoseLayout", "generate", "split_counts"]

VERSION = "synthpose-1"
MIN_ANNOTATED_HEIGHT = 24.0  # people shorter than this (pixels) get no keypoints (images) or an ignore region (videos)
_VIDEO_SIZES = ((384, 288), (416, 320), (352, 288), (448, 336), (320, 256))
_UNLABELLED_POSETRACK = ("left_ear", "right_ear")  # as in PoseTrack18, whose ears are never annotated
SPLITS = ("train", "val", "test")  # the index of a split seeds its generators: train and val as first written


@dataclass(frozen=True)
class SynthPoseLayout:
    """Where a SynthPose dataset's files are, relative to its root (see ``docs/data.md``)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))  # a str root works too

    def images(self, split: str) -> Path:
        """Folder of the still images of a split (COCO ``file_name`` is relative to it)."""
        return self.root / "images" / split

    def annotations(self, split: str) -> Path:
        """COCO keypoint file of a split's still images."""
        return self.root / "annotations" / f"synth_{split}.json"

    def detections(self, split: str) -> Path:
        """Simulated person-detector boxes for a split's still images (COCO results format)."""
        return self.root / "annotations" / f"synth_{split}_detections.json"

    @property
    def posetrack_root(self) -> Path:
        """PoseTrack18 root: ``file_name`` of video frames is relative to it."""
        return self.root / "posetrack"

    def video_annotations(self, split: str) -> Path:
        """Folder of official-format per-video files of a split."""
        return self.posetrack_root / "annotations" / split

    def video_merged(self, split: str) -> Path:
        """The split's videos merged into one COCO-style file."""
        return self.posetrack_root / "annotations" / f"posetrack_{split}.json"

    def video_detections(self, split: str) -> Path:
        """Simulated detector boxes for a split's video frames."""
        return self.posetrack_root / "annotations" / f"posetrack_{split}_detections.json"

    @property
    def manifest(self) -> Path:
        """Generation parameters and counts, written last."""
        return self.root / "manifest.json"


def _round(values: Any) -> list[float]:
    return [round(float(value), 2) for value in np.ravel(values)]


def _keypoints(person: PersonTruth, info: DatasetInfo, small: bool) -> tuple[list[float], int]:
    """Flat ``[x, y, v] * K`` list (zeros for unlabelled joints) and the count of labelled joints."""
    flat: list[float] = []
    count = 0
    for name in info.joint_names:
        visibility = person.visibility[name]
        if small or visibility == 0 or (info is POSETRACK18 and name in _UNLABELLED_POSETRACK):
            flat += [0, 0, 0]
        else:
            flat += [*_round(person.points[name]), visibility]
            count += 1
    return flat, count


def _image_task(task: tuple[Path, str, int, int, Difficulty]) -> dict[str, Any]:
    root, split, index, seed, level = task
    rng = np.random.default_rng((seed, 0, SPLITS.index(split), index))
    width, height = int(rng.integers(320, 481)), int(rng.integers(256, 417))
    image, _, people = render_image(rng, width, height, COCO.joint_names, level)
    file_name = f"{index + 1:012d}.jpg"
    write_bytes_atomic(SynthPoseLayout(root).images(split) / file_name, encode_jpeg(image, int(rng.integers(40, 96))))
    annotations = []
    for person in people:
        if person.area == 0:  # hidden entirely: nothing to annotate
            continue
        small = person.height < MIN_ANNOTATED_HEIGHT
        keypoints, count = _keypoints(person, COCO, small)
        annotations.append(
            {"keypoints": keypoints, "num_keypoints": count, "area": person.area, "bbox": _round(person.box)}
        )
    return {"file_name": file_name, "width": width, "height": height, "annotations": annotations}


def _video_task(task: tuple[Path, str, int, int, int, int, int, Difficulty]) -> list[dict[str, Any]]:
    root, split, index, number, frames, seed, label_every, level = task
    rng = np.random.default_rng((seed, 1, SPLITS.index(split), index))
    events = np.random.default_rng((seed, 4, SPLITS.index(split), index))  # occlusion events: their own stream
    width, height = _VIDEO_SIZES[int(rng.integers(len(_VIDEO_SIZES)))]
    video = f"{number:06d}_synth_{split}"
    out = []
    scenes = render_video(rng, width, height, frames, POSETRACK18.joint_names, level, events)
    for frame, (image, _, people) in enumerate(scenes):
        file_name = f"images/{split}/{video}/{frame:06d}.jpg"
        write_bytes_atomic(
            SynthPoseLayout(root).posetrack_root / file_name, encode_jpeg(image, int(rng.integers(60, 96)))
        )
        labelled = frame % label_every == 0
        annotations, ignore = [], []
        for person in people:
            keypoints, count = _keypoints(person, POSETRACK18, False)
            if person.height < MIN_ANNOTATED_HEIGHT:
                x, y, w, h = person.box
                ignore.append(([x, x + w, x + w, x], [y, y, y + h, y + h]))
            elif labelled and count > 0 and person.area > 0:
                annotations.append(
                    {
                        "bbox_head": [round(float(value)) for value in person.head_box],
                        "keypoints": keypoints,
                        "track_id": person.track_id,
                        "bbox": _round(person.box),
                        "num_keypoints": count,
                        "area": person.area,
                    }
                )
        out.append({"file_name": file_name, "width": width, "height": height, "labelled": labelled,
                    "annotations": annotations, "ignore": ignore})  # fmt: skip
    return out


def _categories(info: DatasetInfo) -> list[dict[str, Any]]:
    return [
        {
            "supercategory": "person",
            "id": 1,
            "name": "person",
            "keypoints": list(info.joint_names),
            "skeleton": [[a + 1, b + 1] for a, b in info.skeleton],
        }
    ]


def _detections(rng: np.random.Generator, image_id: int, width: int, height: int, boxes: list[list[float]]) -> list:
    """A simulated person detector: jittered true boxes with scores, some misses, a few false positives."""
    results = []
    for box in boxes:
        w, h = box[2], box[3]
        if w * h < 64 and rng.random() < 0.5:
            continue
        jitter = rng.normal(0, 0.06, 4) * [w, h, w, h]
        score = float(np.clip(rng.uniform(0.55, 1.0) - (0.2 if w * h < 1500 else 0.0), 0.05, 1.0))
        results.append(
            {"image_id": image_id, "category_id": 1, "bbox": _round(np.add(box, jitter)), "score": round(score, 4)}
        )
    for _ in range(int(rng.choice([0, 1, 2], p=[0.6, 0.3, 0.1]))):
        w, h = rng.uniform(0.05, 0.3) * width, rng.uniform(0.1, 0.6) * height
        box = [rng.uniform(0, width - w), rng.uniform(0, height - h), w, h]
        results.append(
            {
                "image_id": image_id,
                "category_id": 1,
                "bbox": _round(box),
                "score": round(float(rng.uniform(0.05, 0.5)), 4),
            }
        )
    return results


def split_counts(total: int, val_fraction: float, test_fraction: float = 0.0) -> dict[str, int]:
    """Items per split (``test`` only when ``test_fraction`` > 0), as :func:`generate` makes them."""
    val = 0 if total < 2 else max(1, round(total * val_fraction))
    test = 0 if total < 3 or test_fraction == 0 else max(1, round(total * test_fraction))
    counts = {"train": total - val - test, "val": val}
    if test_fraction:
        counts["test"] = test
    return counts


class _Workers:
    """Runs render tasks in order, in one pool of worker processes shared by all splits (or inline)."""

    def __init__(self, workers: int, progress: tqdm) -> None:
        self.workers = workers
        self.progress = progress
        self.pool: Any = None

    def map(self, function, tasks: list, per_task: int) -> list[Any]:
        results = []
        if self.workers <= 1 or len(tasks) < 8:
            for task in tasks:
                results.append(function(task))
                self.progress.update(per_task)
            return results
        if self.pool is None:  # spawn: never fork a parent that may hold OpenMP/torch threads
            context = multiprocessing.get_context("spawn")
            self.pool = context.Pool(self.workers, initializer=cv2.setNumThreads, initargs=(1,))
        chunk = max(1, min(8, len(tasks) // (4 * self.workers)))
        for result in self.pool.imap(function, tasks, chunksize=chunk):
            results.append(result)
            self.progress.update(per_task)
        return results

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool.join()


def generate(
    out_dir: str | Path,
    *,
    images: int = 1000,
    videos: int = 0,
    frames: int = 30,
    seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    level: str | Difficulty = DEFAULT_LEVEL,
    label_every: int = 1,
    workers: int | None = None,
    progress: bool = True,
) -> SynthPoseLayout:
    """Generate SynthPose into ``out_dir``.

    Args:
        out_dir: output root (created; existing files of the same names are replaced).
        images: number of still images, split into train and val by ``val_fraction``.
        videos: number of videos, split likewise.
        frames: frames per video (at most 9999).
        seed: the seed; the same seed gives identical files.
        val_fraction: share of images and videos in the val split (at least one of each when there are two).
        test_fraction: share in a held-out test split (0: no test split); train and val files do not depend on
            it except for their counts.
        level: difficulty, ``easy`` (default), ``medium``, ``hard`` (SynthPose as first written) or a
            :class:`~vipnas.data.synthpose.difficulty.Difficulty`; recorded in the manifest.
        label_every: annotate every n-th video frame (``is_labeled``); 1 annotates all.
        workers: processes (default: the number of CPUs); results do not depend on it.
        progress: show a tqdm progress bar.

    Returns:
        The layout of the written dataset.
    """
    if (
        images < 0
        or videos < 0
        or not 1 <= frames <= 9999
        or label_every < 1
        or not 0 <= val_fraction < 1
        or not 0 <= test_fraction < 1
        or val_fraction + test_fraction >= 1
    ):
        raise ValueError(
            "need images >= 0, videos >= 0, 1 <= frames <= 9999, label_every >= 1 and 0 <= val_fraction, "
            f"test_fraction with val_fraction + test_fraction < 1; got images={images}, videos={videos}, "
            f"frames={frames}, label_every={label_every}, val_fraction={val_fraction}, test_fraction={test_fraction}"
        )
    knobs = difficulty(level)
    layout = SynthPoseLayout(Path(out_dir))
    workers = workers if workers is not None else (os.cpu_count() or 1)
    image_counts = split_counts(images, val_fraction, test_fraction)
    video_counts = split_counts(videos, val_fraction, test_fraction)
    bar = tqdm(total=images + videos * frames, unit="img", desc="SynthPose", disable=not progress)
    pool = _Workers(workers, bar)
    try:
        for split_index, split in enumerate(split for split in SPLITS if split in image_counts):
            if images:
                image_tasks = [(layout.root, split, index, seed, knobs) for index in range(image_counts[split])]
                _write_images(layout, split, pool.map(_image_task, image_tasks, 1), seed, split_index)
            if videos:
                first = 1 + sum(video_counts[s] for s in SPLITS[:split_index])
                tasks = [
                    (layout.root, split, index, first + index, frames, seed, label_every, knobs)
                    for index in range(video_counts[split])
                ]
                _write_videos(layout, split, tasks, pool.map(_video_task, tasks, frames), seed, split_index)
    finally:
        pool.close()
        bar.close()
    manifest = {
        "version": VERSION,
        "seed": seed,
        "images": image_counts,
        "videos": video_counts,
        "frames": frames,
        "label_every": label_every,
        "level": knobs.name,
        "difficulty": knobs.to_dict(),
    }
    write_json_atomic(layout.manifest, manifest)
    return layout


def _write_images(layout: SynthPoseLayout, split: str, results: list[dict], seed: int, split_index: int) -> None:
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    detections: list[dict[str, Any]] = []
    rng = np.random.default_rng((seed, 2, split_index))
    for index, result in enumerate(results):
        image_id = index + 1
        images.append(
            {"file_name": result["file_name"], "height": result["height"], "width": result["width"], "id": image_id}
        )
        boxes = []
        for annotation in result["annotations"]:
            annotations.append(
                {**annotation, "iscrowd": 0, "image_id": image_id, "category_id": 1, "id": len(annotations) + 1}
            )
            boxes.append(annotation["bbox"])
        detections += _detections(rng, image_id, result["width"], result["height"], boxes)
    data = {"info": {"description": f"SynthPose {split} images", "version": VERSION}, "categories": _categories(COCO),
            "images": images, "annotations": annotations}  # fmt: skip
    write_json_atomic(layout.annotations(split), data)
    write_json_atomic(layout.detections(split), detections)


def _write_videos(
    layout: SynthPoseLayout, split: str, tasks: list, results: list[list[dict]], seed: int, split_index: int
) -> None:
    merged_images, merged_annotations, detections = [], [], []
    rng = np.random.default_rng((seed, 3, split_index))
    for task, frames in zip(tasks, results, strict=True):
        number = task[3]
        video = f"{number:06d}_synth_{split}"
        images, annotations = [], []
        for frame_index, frame in enumerate(frames):
            image_id = int(f"1{number:06d}{frame_index:04d}")
            images.append(
                {
                    "has_no_densepose": True,
                    "is_labeled": frame["labelled"],
                    "file_name": frame["file_name"],
                    "nframes": len(frames),
                    "frame_id": image_id,
                    "vid_id": f"{number:06d}",
                    "ignore_regions_y": [_round(ys) for _, ys in frame["ignore"]],
                    "ignore_regions_x": [_round(xs) for xs, _ in frame["ignore"]],
                    "id": image_id,
                    "width": frame["width"],
                    "height": frame["height"],
                }
            )
            boxes = []
            for person, annotation in enumerate(frame["annotations"]):
                record = {  # the official files' fields, in their order
                    "bbox_head": annotation["bbox_head"],
                    "keypoints": annotation["keypoints"],
                    "track_id": annotation["track_id"],
                    "image_id": image_id,
                    "bbox": annotation["bbox"],
                    "scores": [],
                    "category_id": 1,
                    "id": image_id * 100 + person,
                    "iscrowd": False,
                    "num_keypoints": annotation["num_keypoints"],
                }
                annotations.append(record)
                merged_annotations.append({**record, "area": annotation["area"]})
                boxes.append(annotation["bbox"])
            if frame["labelled"]:
                detections += _detections(rng, image_id, frame["width"], frame["height"], boxes)
        categories = _categories(POSETRACK18)
        write_json_atomic(
            layout.video_annotations(split) / f"{video}.json",
            {"categories": categories, "images": images, "annotations": annotations},
        )
        merged_images += images
    write_json_atomic(
        layout.video_merged(split),
        {"categories": _categories(POSETRACK18), "images": merged_images, "annotations": merged_annotations},
    )
    write_json_atomic(layout.video_detections(split), detections)
