"""What ``vipnas video`` writes for one input: an annotated MP4, one JSON line per frame, PoseTrack18 per-video
predictions (``vipnas eval --preds DIR --data POSETRACK [--tracking]`` scores them) and COCO keypoint results.

Every output stays valid for the frames done when the run stops early (Ctrl-C): the JSON lines are flushed per
frame, the MP4 is renamed into place on close, the JSON files are written atomically on close.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vipnas.runtime.stream import FrameResult

__all__ = ["VideoOutputs", "draw_frame"]


def draw_frame(image: np.ndarray, result: FrameResult, info: Any, *, fps: float | None = None) -> np.ndarray:
    """A BGR copy of ``image`` with every person's skeleton, box, track id and network, and the fps."""
    import cv2

    from vipnas.data.draw import draw_pose

    canvas = np.ascontiguousarray(image[:, :, ::-1])  # draw_pose draws on RGB
    for person in result.people:
        x1, y1, x2, y2 = person.box
        draw_pose(
            canvas, person.keypoints, person.scores, info, threshold=0.2, box=np.array([x1, y1, x2 - x1, y2 - y1])
        )
        label = f"{person.track_id} {person.network}"
        cv2.putText(canvas, label, (int(x1), max(int(y1) - 4, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 0), 1)
    if fps is not None:
        cv2.putText(canvas, f"{fps:.1f} fps", (8, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 2)
    return np.ascontiguousarray(canvas[:, :, ::-1])


class VideoOutputs:
    """The outputs of one video in ``folder``: ``NAME.mp4``, ``NAME.jsonl``, ``posetrack/NAME.json``,
    ``NAME_coco.json``.

    Args:
        folder: output folder (created).
        name: the input's name (file stem).
        fps, size: the MP4's frame rate and (width, height).
        info: the joint convention (``vipnas.data.metadata.DatasetInfo``) to draw.
        images: frame index → the image record of the input's ground-truth file (its ids and file names make the
            predictions comparable with it; ``GroundTruthDetector.images``); ``None``: frame index as id.
        video: write the annotated MP4.
    """

    def __init__(self, folder: str | Path, name: str, fps: float, size: tuple[int, int], info: Any, *,
                 images: Mapping[int, Mapping[str, Any]] | None = None, video: bool = True) -> None:  # fmt: skip
        from vipnas.runtime.video_io import VideoWriter

        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.name, self.info, self.images = name, info, images
        self.writer = VideoWriter(self.folder / f"{name}.mp4", fps, size) if video else None
        self.lines = open(self.folder / f"{name}.jsonl", "w")  # noqa: SIM115 - closed in close()
        self.annotations: list[dict] = []
        self.coco: list[dict] = []
        self.frames: list[dict] = []

    def _image(self, index: int) -> dict:
        if self.images is not None and index in self.images:
            image = self.images[index]
            return {"id": image["id"], "file_name": image.get("file_name", ""), "frame_index": index}
        return {"id": index, "file_name": f"{self.name}/{index:06d}.jpg", "frame_index": index}

    def add(self, image: np.ndarray, result: FrameResult, fps: float | None = None) -> None:
        """Record one frame's result (and draw it)."""
        import json

        record = self._image(result.index)
        people, annotations, coco = [], [], []
        for person in result.people:
            triples = np.concatenate([person.keypoints, person.scores[:, None]], axis=1)
            flat = [round(float(v), 3) for v in triples.reshape(-1)]
            score = float(np.mean(person.scores))
            people.append({
                "track_id": person.track_id, "box": [round(v, 2) for v in person.box], "keypoints": flat,
                "score": round(score, 4), "network": person.network,
            })  # fmt: skip
            x1, y1, x2, y2 = person.box
            annotations.append({
                "image_id": record["id"], "track_id": person.track_id, "keypoints": flat,
                "scores": [round(float(s), 4) for s in person.scores], "score": score,
                "bbox": [x1, y1, x2 - x1, y2 - y1], "category_id": 1,
            })  # fmt: skip
            coco.append({"image_id": record["id"], "category_id": 1, "keypoints": flat, "score": score,
                              "track_id": person.track_id})  # fmt: skip
        line = {"frame": result.index, "time_s": round(result.time_s, 4), "people": people,
                "timings_ms": {k: round(v * 1e3, 3) for k, v in result.timings.items()}}  # fmt: skip
        drawn = draw_frame(image, result, self.info, fps=fps) if self.writer is not None else None
        # everything is computed before anything is recorded, so that an interruption leaves whole frames only
        self.frames.append(record)
        self.annotations.extend(annotations)
        self.coco.extend(coco)
        self.lines.write(json.dumps(line) + "\n")
        self.lines.flush()
        if self.writer is not None:
            self.writer.write(drawn)

    def close(self) -> dict[str, Path]:
        """Finish every output (also after an interruption); returns their paths."""
        from vipnas.data.files import write_json_atomic

        self.lines.close()
        paths = {"jsonl": self.folder / f"{self.name}.jsonl"}
        if self.writer is not None:
            self.writer.close()
            paths["video"] = self.folder / f"{self.name}.mp4"
        posetrack = self.folder / "posetrack" / f"{self.name}.json"
        posetrack.parent.mkdir(exist_ok=True)
        images = [{"id": f["id"], "file_name": f["file_name"], "frame_id": f["id"]} for f in self.frames]
        category = {"id": 1, "name": "person", "keypoints": list(self.info.joint_names),
                    "skeleton": [[a + 1, b + 1] for a, b in self.info.skeleton]}  # fmt: skip
        write_json_atomic(posetrack, {"images": images, "annotations": self.annotations, "categories": [category]})
        write_json_atomic(self.folder / f"{self.name}_coco.json", self.coco)
        paths.update(posetrack=posetrack, coco=self.folder / f"{self.name}_coco.json")
        return paths
