"""Videos for the serve tests: an MP4 of a folder of frames, a PoseTrack18 file of a video played several times."""

from __future__ import annotations

import json
from pathlib import Path

import cv2


def write_video(frames_folder: Path, path: Path, repeat: int = 1) -> int:
    """An MP4 of a folder's frames, ``repeat`` times over; returns its frame count."""
    images = [cv2.imread(str(p)) for p in sorted(frames_folder.glob("*.jpg"))]
    height, width = images[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 25.0, (width, height))
    for _ in range(repeat):
        for image in images:
            writer.write(image)
    writer.release()
    return len(images) * repeat


def repeat_truth(truth: Path, path: Path, repeat: int) -> None:
    """A PoseTrack18 file of a video played ``repeat`` times (``frame_index`` set on every image)."""
    data = json.loads(truth.read_text())
    images = sorted(data["images"], key=lambda image: image["frame_id"])
    out_images, out_annotations = [], []
    for copy in range(repeat):
        for index, image in enumerate(images):
            new_id = copy * 10000 + index
            out_images.append({**image, "id": new_id, "frame_id": new_id, "frame_index": copy * len(images) + index})
            out_annotations += [{**a, "image_id": new_id} for a in data["annotations"] if a["image_id"] == image["id"]]
    path.write_text(
        json.dumps({"images": out_images, "annotations": out_annotations, "categories": data["categories"]})
    )
