"""Person detectors for the top-down pose runtime: one frame in, person boxes in image pixels out.

A detector is any callable ``detector(image, frame_index) -> Detections`` (the :class:`Detector` protocol): the
image is the frame, (H, W, 3) uint8 BGR as OpenCV reads it, and the frame index its 0-based position in the video.
Boxes are (x1, y1, x2, y2) float32 in the pixels of that image.

:class:`GroundTruthDetector`
    The boxes of an annotation or detection-results file: COCO keypoints or detection files, COCO results lists,
    official PoseTrack18 per-video files. See :meth:`GroundTruthDetector.from_file` for how frames are addressed.
:class:`SimulatedDetector`
    Ground-truth boxes made noisy (jitter, misses, false positives), deterministic per (seed, frame index): a
    stand-in detector for tests of the runtime.
:class:`HogDetector`
    OpenCV's built-in HOG + linear SVM people detector (Dalal and Triggs): no download, weak, for demos.
:class:`OnnxDetector`
    A person detector exported to ONNX (YOLOv5, YOLOv8, end-to-end YOLO, RTMDet) run by ONNX Runtime; see its
    docstring for the input and output conventions it reads.
:func:`build_detector`
    One of the above from a one-line spec such as ``onnx:yolov8n.onnx?threshold=0.4`` (:data:`DETECTOR_SPECS`).

OpenCV, ONNX Runtime and torch are imported inside the functions that use them, so importing this module stays
light.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike

from vipnas.runtime.video_io import natural_sort_key

__all__ = [
    "DETECTOR_SPECS",
    "ONNX_LAYOUTS",
    "Detections",
    "Detector",
    "GroundTruthDetector",
    "HogDetector",
    "Letterbox",
    "OnnxDetector",
    "SimulatedDetector",
    "build_detector",
    "hog_score",
    "letterbox",
]

OnnxLayout = Literal["auto", "yolov8", "yolov5", "end2end", "dets_labels"]
ONNX_LAYOUTS: tuple[str, ...] = ("auto", "yolov8", "yolov5", "end2end", "dets_labels")
PAD_VALUE = 114  # Ultralytics' letterbox grey
DEFAULT_INPUT_SIZE = (640, 640)  # (width, height) for models with a dynamic input size
HOG_WINDOW = (64, 128)  # (width, height) of the default people detector's window

DETECTOR_SPECS: tuple[str, ...] = (
    "gt:FILE[?video=NAME&images=FILE&threshold=S]",
    "sim:FILE[?jitter=F&miss_rate=P&false_positives=R&seed=N&video=NAME&images=FILE]",
    "hog[?threshold=S&scale=F&upscale=F&nms_iou=F]",
    "onnx:PATH[?threshold=S&nms_iou=F&person_class=N&threads=N&layout=L&input_size=WxH]",
)


# ----------------------------------------------------------------------------------------------- detections


def _shape_text(shape: tuple[int | str, ...]) -> str:
    return "(" + ", ".join(str(size) for size in shape) + ("," if len(shape) == 1 else "") + ")"


def _float32_rows(name: str, value: object, columns: int | None) -> np.ndarray:
    """``value`` as a fresh read-only float32 array (N, columns), or (N,) when ``columns`` is None."""
    expected: tuple[int | str, ...] = ("N",) if columns is None else ("N", columns)
    try:
        array = np.array(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers of shape {_shape_text(expected)}") from None
    if columns is not None and array.size == 0 and array.ndim < 2:
        array = array.reshape(0, columns)  # [] stands for "no boxes"
    if array.ndim != len(expected) or (columns is not None and array.shape[1] != columns):
        raise ValueError(f"{name} must have shape {_shape_text(expected)}, got {_shape_text(array.shape)}")
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class Detections:
    """The people a detector found in one frame.

    Attributes:
        boxes: (N, 4) float32 boxes (x1, y1, x2, y2) in image pixels, x2 >= x1 and y2 >= y1; read-only.
        scores: (N,) float32 confidences, higher is surer; read-only.
    """

    boxes: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        boxes = _float32_rows("boxes", self.boxes, 4)
        scores = _float32_rows("scores", self.scores, None)
        if len(scores) != len(boxes):
            raise ValueError(
                f"scores must have shape (N,) with N = {len(boxes)} (one per box), got {_shape_text(scores.shape)}"
            )
        if not (np.isfinite(boxes).all() and np.isfinite(scores).all()):
            raise ValueError("boxes and scores must be finite")
        if (boxes[:, 2] < boxes[:, 0]).any() or (boxes[:, 3] < boxes[:, 1]).any():
            raise ValueError("boxes must be (x1, y1, x2, y2) with x2 >= x1 and y2 >= y1")
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", scores)

    @classmethod
    def empty(cls) -> Detections:
        """No people: boxes (0, 4), scores (0,)."""
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.boxes)

    def select(self, keep: ArrayLike) -> Detections:
        """The detections at ``keep``: a boolean mask or integer indices, in that order."""
        keep = np.asarray(keep)
        return Detections(self.boxes[keep].reshape(-1, 4), self.scores[keep].reshape(-1))

    def above(self, threshold: float) -> Detections:
        """The detections scoring at least ``threshold``."""
        return self.select(self.scores >= threshold)


@runtime_checkable
class Detector(Protocol):
    """``detector(image, frame_index) -> Detections``: image (H, W, 3) uint8 BGR, frame_index its 0-based index."""

    def __call__(self, image: np.ndarray, frame_index: int) -> Detections: ...


def _check_image(image: object) -> tuple[int, int]:
    """(width, height) of an (H, W, 3) uint8 image; ValueError otherwise."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        found = f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image must be a (H, W, 3) uint8 BGR array, got a {found}")
    return int(image.shape[1]), int(image.shape[0])


def _clip_boxes(boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    return np.clip(boxes, 0.0, np.array([width, height, width, height], dtype=boxes.dtype))


def _with_area(boxes: np.ndarray, scores: np.ndarray) -> Detections:
    """Detections of the boxes that keep a positive area (after clipping)."""
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return Detections(boxes[keep], scores[keep])


def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices of the boxes (N, 4) xyxy that non-maximum suppression keeps, best score first (cv2.dnn.NMSBoxes)."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    import cv2

    rectangles = [[float(x1), float(y1), float(x2 - x1), float(y2 - y1)] for x1, y1, x2, y2 in boxes]
    # OpenCV keeps scores above its threshold, which must be >= 0: callers have already applied their own
    kept = cv2.dnn.NMSBoxes(rectangles, [float(score) for score in scores], 0.0, float(iou))
    return np.asarray(kept, dtype=np.int64).reshape(-1)


def _cxcywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    centre, half = boxes[:, :2], boxes[:, 2:4] / 2
    return np.concatenate([centre - half, centre + half], axis=1)


# ----------------------------------------------------------------------------------------------- ground truth


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such annotation or detection file")
    try:
        with path.open(encoding="utf-8") as file:
            return json.load(file)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a JSON file ({error})") from None


def _integer(value: Any, where: str, key: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, (float, str)):
        raise ValueError(f"{where}: {key} must be an integer, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{where}: {key} must be an integer, got {value!r}") from None
    if not number.is_integer():
        raise ValueError(f"{where}: {key} must be an integer, got {value!r}")
    return int(number)


def _number(value: Any, where: str, key: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {key} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{where}: non-finite {key} {value!r}")
    return number


def _xywh_to_xyxy(value: Any, where: str) -> np.ndarray | None:
    """The (4,) xyxy box of a COCO ``bbox`` [x, y, w, h]; None when its width or height is not positive."""
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        raise ValueError(f"{where}: bbox must be [x, y, width, height], got {value!r}")
    x, y, width, height = (_number(item, where, f"bbox {list(value)!r}: value") for item in value)
    if width <= 0 or height <= 0:
        return None
    return np.array([x, y, x + width, y + height])


def _video_names(image: Mapping[str, Any]) -> tuple[str, str]:
    """(video key, folder of the file): ``vid_id`` when present, else the folder of ``file_name``."""
    folder = PurePosixPath(str(image.get("file_name", "")).replace("\\", "/")).parent.name
    return (str(image["vid_id"]) if "vid_id" in image else folder), folder


def _choose_video(images: list[Mapping[str, Any]], path: Path, video: str | None) -> list[Mapping[str, Any]]:
    keys = sorted({_video_names(image)[0] for image in images})
    if video is None:
        if len(keys) > 1:
            shown = ", ".join(repr(key) for key in keys[:5]) + (", ..." if len(keys) > 5 else "")
            raise ValueError(f"{path}: holds {len(keys)} videos ({shown}); choose one with video=NAME")
        return images
    chosen = [image for image in images if video in _video_names(image)]
    if not chosen:
        shown = ", ".join(repr(key) for key in keys[:5]) + (", ..." if len(keys) > 5 else "")
        raise ValueError(f"{path}: no video {video!r} (by vid_id or folder); it holds {shown}")
    return chosen


def _frame_of_images(images: Any, path: Path, video: str | None) -> tuple[dict[int, int], set[int]]:
    """(image id → 0-based frame index of the chosen video, every image id of the file); see ``from_file``."""
    if not isinstance(images, list):
        raise ValueError(f"{path}: 'images' must be a list of {{id, ...}} records")
    all_ids: set[int] = set()
    for position, image in enumerate(images):
        where = f"{path}: images[{position}]"
        if not isinstance(image, dict) or "id" not in image:
            raise ValueError(f"{where}: an image record needs an 'id'")
        image_id = _integer(image["id"], where, "id")
        if image_id in all_ids:
            raise ValueError(f"{where}: image id {image_id} is listed twice")
        all_ids.add(image_id)
    chosen = _choose_video(images, path, video)
    if chosen and all("frame_index" in image for image in chosen):
        where = f"{path}: images"
        ordered = [(image, _integer(image["frame_index"], where, "frame_index")) for image in chosen]
        if len({frame for _, frame in ordered}) != len(ordered) or min(frame for _, frame in ordered) < 0:
            raise ValueError(f"{path}: frame_index values must be distinct and at least 0")
    else:
        ordered = [(image, position) for position, image in enumerate(_sorted_frames(chosen))]
    frame_of = {_integer(image["id"], str(path), "id"): frame for image, frame in ordered}
    return frame_of, all_ids


def _images_of(path: Path) -> tuple[Any, Path]:
    """The ``images`` list of a COCO or PoseTrack18 file that gives a results list its frame order."""
    data = _read_json(path)
    if not isinstance(data, dict) or "images" not in data:
        raise ValueError(f"{path}: expected a COCO or PoseTrack18 file with 'images' (the frame order)")
    return data["images"], path


def _image_lookup(
    images: Any, path: Path, video: str | None
) -> tuple[Callable[[int, str], int | None], dict[int, Mapping[str, Any]]]:
    """``lookup(image_id, where)``: the frame index of an image of the chosen video, None for other videos; and
    frame index → that image's record."""
    frame_of, all_ids = _frame_of_images(images, path, video)

    def lookup(image_id: int, where: str) -> int | None:
        if image_id not in all_ids:
            raise ValueError(f"{where}: image_id {image_id} is not among the images of {path}")
        return frame_of.get(image_id)

    records = {frame_of[int(image["id"])]: image for image in images if int(image["id"]) in frame_of}
    return lookup, records


def _image_id_as_frame(image_id: int, where: str) -> int:
    """A results list without an images file: its image ids are the frame indices."""
    if image_id < 0:
        raise ValueError(f"{where}: image_id {image_id} is no frame index; pass images=FILE for the frame order")
    return image_id


def _sorted_frames(images: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Images in video order: by ``frame_id`` if all have one, else by ``file_name`` (natural order), else ``id``."""
    if all("frame_id" in image for image in images):
        return sorted(images, key=lambda image: _integer(image["frame_id"], f"image {image['id']}", "frame_id"))
    if all("file_name" in image for image in images):
        return sorted(images, key=lambda image: natural_sort_key(str(image["file_name"])))
    return sorted(images, key=lambda image: _integer(image["id"], f"image {image['id']}", "id"))


def _is_set(value: Any) -> bool:
    return bool(value) and value not in ("0", "false", "False")


def _collect_boxes(
    records: list[Any],
    frame_of: Callable[[int, str], int | None],
    path: Path,
    *,
    kind: str,
    category_id: int,
    min_score: float,
) -> dict[int, Detections]:
    """Frame index → its boxes, from COCO annotations or results records (see ``from_file`` for what is skipped)."""
    boxes: dict[int, list[np.ndarray]] = {}
    scores: dict[int, list[float]] = {}
    for position, record in enumerate(records):
        has_id = isinstance(record, dict) and "id" in record
        where = (
            f"{path}: annotation id {record['id']} ({kind}[{position}])" if has_id else f"{path}: {kind}[{position}]"
        )
        if not isinstance(record, dict):
            raise ValueError(f"{where}: expected a {{image_id, bbox, ...}} record, got {record!r}")
        if _is_set(record.get("iscrowd")) or _is_set(record.get("ignore")):
            continue
        if "category_id" in record and _integer(record["category_id"], where, "category_id") != category_id:
            continue
        if "image_id" not in record or "bbox" not in record:
            raise ValueError(f"{where}: needs 'image_id' and 'bbox' [x, y, width, height]")
        box = _xywh_to_xyxy(record["bbox"], where)
        score = _number(record.get("score", 1.0), where, "score")
        frame = frame_of(_integer(record["image_id"], where, "image_id"), where)
        if box is None or frame is None or score < min_score:
            continue
        boxes.setdefault(frame, []).append(box)
        scores.setdefault(frame, []).append(score)
    return {frame: Detections(np.stack(boxes[frame]), np.array(scores[frame])) for frame in sorted(boxes)}


class GroundTruthDetector:
    """The boxes a file gives for each frame: a detector that looks nothing up in the image.

    Build it with :meth:`from_file`, or directly from a mapping ``frame index → Detections``. A frame without an
    entry has no detections. Boxes are as the file gives them, not clipped (files do not always state image sizes).
    """

    def __init__(
        self,
        frames: Mapping[int, Detections],
        *,
        name: str = "ground truth",
        images: Mapping[int, Mapping[str, Any]] | None = None,
    ) -> None:
        self._frames = {int(index): detections for index, detections in frames.items()}
        self.name = name
        # frame index -> the file's image record (id, file_name, ...): what predictions of that frame refer to
        self.images = {int(index): image for index, image in (images or {}).items()}

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        *,
        video: str | None = None,
        images: str | Path | None = None,
        category_id: int = 1,
        min_score: float = 0.0,
    ) -> GroundTruthDetector:
        """Read the boxes of a COCO keypoints/detection file, a COCO results list, or a PoseTrack18 video file.

        Accepted files:

        * an annotation file ``{"images": [...], "annotations": [...]}`` (COCO keypoints or instances, the merged
          PoseTrack18 file, or an official PoseTrack18 per-video file): boxes from ``annotations[].bbox``
          [x, y, width, height] and ``image_id``; the score is the annotation's ``score`` when it has one, else 1;
        * a COCO results list ``[{"image_id", "bbox", "score", "category_id"?}, ...]``.

        Frame addressing: a box belongs to the frame whose 0-based index in the video is

        * the image's ``frame_index``, when every image of the video has one;
        * otherwise the image's position in the video's images sorted by ``frame_id`` (PoseTrack18's
          ``1VVVVVVFFFF`` ids), else by ``file_name`` in natural order (``2.jpg`` before ``10.jpg``), else by
          ``id``. Official PoseTrack18 files list every frame of the video, labelled or not, so positions are
          video frame numbers; a file that lists only some frames must give ``frame_index``.
        * for a results list: the frame that its ``image_id`` has in the ``images`` file given; without one, the
          ``image_id`` itself is the frame index.

        A file holding several videos (several ``vid_id`` values, or several ``file_name`` folders) needs
        ``video``, matched against either. Skipped: crowd (``iscrowd``) and ``ignore`` annotations, other
        categories than ``category_id`` (where records have one), boxes whose width or height is not positive,
        scores below ``min_score``, and annotations of images of other videos.

        Raises:
            FileNotFoundError: ``path`` or ``images`` is missing.
            ValueError: naming the file and annotation id: non-finite or malformed bbox or score, an image id
                not among the images, a file of another kind, several videos without ``video``.
        """
        path = Path(path)
        data = _read_json(path)
        if isinstance(data, list):
            records, kind = data, "results"
            if images is None and video is not None:
                raise ValueError(f"{path}: a results list has no videos; video={video!r} needs images=FILE")
            lookup, frame_images = (
                (_image_id_as_frame, {}) if images is None else _image_lookup(*_images_of(Path(images)), video)
            )
        elif isinstance(data, dict) and "images" in data and "annotations" in data:
            records, kind = data["annotations"], "annotations"
            lookup, frame_images = _image_lookup(data["images"], path, video)
        else:
            raise ValueError(
                f"{path}: not a COCO or PoseTrack18 file: expected {{'images', 'annotations'}} or a results list "
                "[{image_id, bbox, score}]"
            )
        if not isinstance(records, list):
            raise ValueError(f"{path}: '{kind}' must be a list of records")
        frames = _collect_boxes(records, lookup, path, kind=kind, category_id=category_id, min_score=min_score)
        return cls(frames, name=path.name if video is None else f"{path.name} ({video})", images=frame_images)

    @property
    def frame_indices(self) -> tuple[int, ...]:
        """The frames that have at least one box, increasing."""
        return tuple(sorted(index for index, detections in self._frames.items() if len(detections)))

    def detections(self, frame_index: int) -> Detections:
        """The boxes of frame ``frame_index`` (empty when it has none)."""
        return self._frames.get(int(frame_index)) or Detections.empty()

    def __call__(self, image: np.ndarray | None, frame_index: int) -> Detections:
        """The boxes of frame ``frame_index``; ``image`` is not looked at (it may be None)."""
        return self.detections(frame_index)

    def __repr__(self) -> str:
        return f"GroundTruthDetector({self.name!r}, {len(self.frame_indices)} frames with boxes)"


# ----------------------------------------------------------------------------------------------- simulated


class SimulatedDetector:
    """Ground-truth boxes made noisy, the same for the same (seed, frame index): a stand-in detector for tests.

    For each ground-truth box of the frame (width w, height h), in order:

    * it is missed with probability ``miss_rate``;
    * its centre moves by N(0, (jitter·w)²) in x and N(0, (jitter·h)²) in y, and its width and height are
      multiplied by exp(N(0, jitter²)) each;
    * its score is the ground-truth score times U(0.7, 1).

    Then Poisson(``false_positives``) boxes are added anywhere in the image, of height U(0.2, 0.6)·H and aspect
    (width/height) U(0.3, 0.6), scoring U(0.3, 0.7). All boxes are clipped to the image; boxes left without area
    are dropped. With ``jitter=0`` the true boxes come back unmoved (clipped). The random stream of a frame is
    seeded by ``(seed, frame_index)`` alone, so frames can be asked for in any order, or again.
    """

    def __init__(
        self,
        ground_truth: GroundTruthDetector,
        *,
        jitter: float = 0.05,
        miss_rate: float = 0.0,
        false_positives: float = 0.0,
        seed: int = 0,
    ) -> None:
        if not (math.isfinite(jitter) and jitter >= 0):
            raise ValueError(f"jitter must be at least 0, got {jitter}")
        if not 0 <= miss_rate <= 1:
            raise ValueError(f"miss_rate must be in [0, 1], got {miss_rate}")
        if not (math.isfinite(false_positives) and false_positives >= 0):
            raise ValueError(
                f"false_positives (expected false boxes per frame) must be at least 0, got {false_positives}"
            )
        if seed < 0:
            raise ValueError(f"seed must be at least 0, got {seed}")
        self.ground_truth = ground_truth
        self.jitter, self.miss_rate, self.false_positives, self.seed = jitter, miss_rate, false_positives, int(seed)

    def __call__(self, image: np.ndarray, frame_index: int) -> Detections:
        size = _check_image(image)
        if frame_index < 0:
            raise ValueError(f"frame_index must be at least 0, got {frame_index}")
        rng = np.random.default_rng([self.seed, int(frame_index)])
        truth = self.ground_truth.detections(frame_index)
        true_boxes, true_scores = self._jittered(truth, rng)
        false_boxes, false_scores = self._false_positives(size, rng)
        boxes = np.concatenate([true_boxes, false_boxes]).astype(np.float32)
        scores = np.concatenate([true_scores, false_scores]).astype(np.float32)
        return _with_area(_clip_boxes(boxes, size), scores)

    def _jittered(self, truth: Detections, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        count = len(truth)
        kept = rng.random(count) >= self.miss_rate
        shift = rng.normal(0.0, 1.0, (count, 2))
        stretch = rng.normal(0.0, 1.0, (count, 2))
        factor = rng.uniform(0.7, 1.0, count)
        boxes = truth.boxes.astype(np.float64)
        sizes = boxes[:, 2:] - boxes[:, :2]
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2 + self.jitter * shift * sizes
        half = sizes * np.exp(self.jitter * stretch) / 2
        moved = np.concatenate([centres - half, centres + half], axis=1)
        return moved[kept], (truth.scores * factor)[kept]

    def _false_positives(self, size: tuple[int, int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        width, height = size
        count = int(rng.poisson(self.false_positives))
        box_height = rng.uniform(0.2, 0.6, count) * height
        box_width = box_height * rng.uniform(0.3, 0.6, count)
        x1 = rng.uniform(0.0, 1.0, count) * np.maximum(width - box_width, 0.0)
        y1 = rng.uniform(0.0, 1.0, count) * np.maximum(height - box_height, 0.0)
        scores = rng.uniform(0.3, 0.7, count)
        return np.stack([x1, y1, x1 + box_width, y1 + box_height], axis=1).reshape(-1, 4), scores


# ----------------------------------------------------------------------------------------------- HOG


def hog_score(margins: ArrayLike) -> np.ndarray:
    """The score of HOG detections: the logistic function of their SVM margins, ``1 / (1 + exp(-margin))``.

    Monotone, into (0, 1); margin 0 (OpenCV's default hit threshold) is score 0.5, margin 1 is 0.73, margin 2 is
    0.88. Its inverse ``log(s / (1 - s))`` turns a minimum score into the SVM hit threshold.
    """
    margins = np.asarray(margins, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-margins))


def _people_hog() -> Any:
    """OpenCV's HOG descriptor with the default people detector (Dalal-Triggs, 64x128 window)."""
    import cv2

    for module in (cv2, getattr(cv2, "xobjdetect", None)):
        descriptor = getattr(module, "HOGDescriptor", None)
        if descriptor is None:
            continue
        people = getattr(module, "HOGDescriptor_getDefaultPeopleDetector", None) or descriptor.getDefaultPeopleDetector
        hog = descriptor()
        hog.setSVMDetector(people())
        return hog
    raise RuntimeError(
        f"HogDetector needs cv2.HOGDescriptor, which OpenCV {cv2.__version__} lacks (OpenCV 5 moved it to "
        "opencv-contrib's xobjdetect): install opencv-contrib-python-headless, or opencv-python-headless<5"
    )


class HogDetector:
    """OpenCV's built-in people detector: HOG features and a linear SVM over 64x128 windows (no download).

    The image is optionally enlarged by ``upscale`` (the detector only finds people that fill a 64x128 window,
    about 100 pixels tall and more: ``upscale=2`` finds people of 50 pixels), scanned at scales growing by
    ``scale``, windows with a score (:func:`hog_score` of the SVM margin) below ``min_score`` are dropped, and
    overlapping windows are merged by non-maximum suppression at IoU ``nms_iou`` (``cv2.dnn.NMSBoxes``), not by
    OpenCV's own grouping. Boxes are mapped back to the image and clipped to it. Images smaller than the window
    (after ``upscale``) have no detections.
    """

    def __init__(
        self,
        *,
        min_score: float = 0.5,
        scale: float = 1.05,
        upscale: float = 1.0,
        nms_iou: float = 0.45,
        win_stride: int = 8,
        padding: int = 8,
    ) -> None:
        if not 0 < min_score < 1:
            raise ValueError(f"min_score must be in (0, 1), got {min_score}")
        if not scale > 1:
            raise ValueError(f"scale must be above 1 (the step between pyramid levels), got {scale}")
        if not (math.isfinite(upscale) and upscale > 0):
            raise ValueError(f"upscale must be positive, got {upscale}")
        if not 0 < nms_iou <= 1:
            raise ValueError(f"nms_iou must be in (0, 1], got {nms_iou}")
        if win_stride < 1 or padding < 0:
            raise ValueError(f"win_stride must be at least 1 and padding at least 0, got {win_stride}, {padding}")
        self.min_score, self.scale, self.upscale, self.nms_iou = min_score, scale, upscale, nms_iou
        self.win_stride, self.padding = win_stride, padding
        self._hog = _people_hog()

    def __call__(self, image: np.ndarray, frame_index: int = 0) -> Detections:
        size = _check_image(image)
        import cv2

        work = image
        if self.upscale != 1:
            scaled = (max(1, round(size[0] * self.upscale)), max(1, round(size[1] * self.upscale)))
            work = cv2.resize(image, scaled, interpolation=cv2.INTER_LINEAR)
        if work.shape[1] < HOG_WINDOW[0] or work.shape[0] < HOG_WINDOW[1]:
            return Detections.empty()
        hit_threshold = math.log(self.min_score / (1 - self.min_score))
        stride, padding = (self.win_stride, self.win_stride), (self.padding, self.padding)
        # positional: the keyword of the grouping threshold changed name across OpenCV versions; 0 = no grouping
        rectangles, margins = self._hog.detectMultiScale(work, hit_threshold, stride, padding, self.scale, 0, False)
        rectangles = np.asarray(rectangles, dtype=np.float64).reshape(-1, 4)
        if len(rectangles) == 0:
            return Detections.empty()
        scores = hog_score(np.asarray(margins, dtype=np.float64).reshape(-1))
        boxes = np.concatenate([rectangles[:, :2], rectangles[:, :2] + rectangles[:, 2:]], axis=1) / self.upscale
        confident = scores >= self.min_score
        boxes, scores = boxes[confident], scores[confident]
        keep = _nms(boxes, scores, self.nms_iou)
        return _with_area(_clip_boxes(boxes[keep].astype(np.float32), size), scores[keep].astype(np.float32))


# ----------------------------------------------------------------------------------------------- ONNX


@dataclass(frozen=True)
class Letterbox:
    """Where :func:`letterbox` put an image inside a model input, to map boxes back.

    Attributes:
        image_size: (width, height) of the original image.
        resized: (width, height) it was resized to, ``round(size · ratio)`` with one ratio for both axes.
        left: padding columns on the left of the resized image.
        top: padding rows above it.
    """

    image_size: tuple[int, int]
    resized: tuple[int, int]
    left: int
    top: int

    def to_image(self, boxes: np.ndarray) -> np.ndarray:
        """(N, 4) xyxy boxes in model-input pixels → original-image pixels, clipped to the image.

        ``x = (x' - left) · width / resized_width``, ``y = (y' - top) · height / resized_height``.
        """
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        scale_x = self.image_size[0] / self.resized[0]
        scale_y = self.image_size[1] / self.resized[1]
        offset = np.array([self.left, self.top, self.left, self.top])
        scale = np.array([scale_x, scale_y, scale_x, scale_y])
        return _clip_boxes((boxes - offset) * scale, self.image_size)


def letterbox(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, Letterbox]:
    """Resize ``image`` to fit ``size`` (width, height) keeping its aspect, centred on grey 114 (Ultralytics').

    ``ratio = min(W / w, H / h)``, resized to ``(round(w · ratio), round(h · ratio))`` (bilinear), padded by
    ``left = round((W - w') / 2 - 0.1)`` and ``top = round((H - h') / 2 - 0.1)`` (the odd pixel goes right and
    down, as in Ultralytics' ``LetterBox(center=True)``), the rest to the right and the bottom.

    Returns:
        The (H, W, 3) uint8 padded image, same channel order as ``image``, and where the image went.
    """
    width, height = _check_image(image)
    target_width, target_height = size
    ratio = min(target_width / width, target_height / height)
    resized = (max(1, round(width * ratio)), max(1, round(height * ratio)))
    left = round((target_width - resized[0]) / 2 - 0.1)
    top = round((target_height - resized[1]) / 2 - 0.1)
    if resized != (width, height):
        import cv2

        image = cv2.resize(image, resized, interpolation=cv2.INTER_LINEAR)
    canvas = np.full((target_height, target_width, 3), PAD_VALUE, dtype=np.uint8)
    canvas[top : top + resized[1], left : left + resized[0]] = image
    return canvas, Letterbox((width, height), resized, left, top)


@dataclass(frozen=True)
class _Candidates:
    boxes: np.ndarray  # (N, 4) xyxy in model-input pixels
    scores: np.ndarray  # (N,)
    final: bool  # already suppressed by the model (end-to-end): no NMS


_EXPECTED_OUTPUTS = {
    "yolov8": "(1, 4+C, N) cx, cy, w, h, C class scores (YOLOv8)",
    "yolov5": "(1, N, 5+C) cx, cy, w, h, objectness, C class scores (YOLOv5)",
    "end2end": "(1, N, 6) or (N, 6) x1, y1, x2, y2, score, class (end-to-end)",
    "dets_labels": "dets (1, N, 5) x1, y1, x2, y2, score with labels (1, N) (RTMDet deploy)",
}


def _layout_of(outputs: Sequence[tuple[str, np.ndarray]]) -> str:
    """The output convention, from the shapes (see :class:`OnnxDetector`); '' when none fits."""
    if _dets_and_labels(outputs) is not None:
        return "dets_labels"
    shape = outputs[0][1].shape
    if len(shape) == 2 and shape[1] == 6:
        return "end2end"
    if len(shape) != 3 or shape[0] != 1:
        return ""
    rows, columns = shape[1], shape[2]
    if columns in (5, 6):
        return "dets_labels" if columns == 5 else "end2end"
    if 5 <= rows < columns:
        return "yolov8"
    if columns > 6 and rows > columns:
        return "yolov5"
    return ""


def _dets_and_labels(outputs: Sequence[tuple[str, np.ndarray]]) -> tuple[np.ndarray, np.ndarray | None] | None:
    """(dets (N, 5), labels (N,) or None) when the outputs are RTMDet's ``dets (1, N, 5)`` [+ ``labels (1, N)``]."""
    dets = [array for _, array in outputs if array.ndim == 3 and array.shape[0] == 1 and array.shape[2] == 5]
    if not dets:
        return None
    count = dets[0].shape[1]
    labels = [array for _, array in outputs if array.ndim == 2 and array.shape == (1, count)]
    if len(outputs) > 1 and not labels:
        return None
    return dets[0][0], (labels[0][0] if labels else None)


def _decode(outputs: Sequence[tuple[str, np.ndarray]], layout: str, person_class: int, where: str) -> _Candidates:
    """Person candidates of one model run in the given (or detected) output convention."""
    name, array = outputs[0]
    chosen = _layout_of(outputs) if layout == "auto" else layout
    shape = tuple(array.shape)
    fits = {
        "yolov8": len(shape) == 3 and shape[0] == 1 and shape[1] >= 5,
        "yolov5": len(shape) == 3 and shape[0] == 1 and shape[2] >= 6,
        "end2end": (len(shape) == 2 and shape[1] == 6) or (len(shape) == 3 and shape[0] == 1 and shape[2] == 6),
        "dets_labels": _dets_and_labels(outputs) is not None,
    }
    if not chosen or not fits[chosen]:
        expected = _EXPECTED_OUTPUTS[chosen] if chosen else "; ".join(_EXPECTED_OUTPUTS.values())
        shapes = ", ".join(f"{output!r} {tuple(value.shape)}" for output, value in outputs)
        raise ValueError(f"{where}: output {name!r} has shape {shape} ({shapes}); expected {expected}")
    array = np.asarray(array, dtype=np.float64)
    if chosen in ("yolov8", "yolov5"):
        rows = array[0].T if chosen == "yolov8" else array[0]
        boxes = _cxcywh_to_xyxy(rows[:, :4])
        # YOLOv5: objectness × class probability, as its NMS scores a class
        class_scores = rows[:, 4:] if chosen == "yolov8" else rows[:, 4:5] * rows[:, 5:]
        if not 0 <= person_class < class_scores.shape[1]:
            raise ValueError(
                f"{where}: person_class {person_class} is not among the model's {class_scores.shape[1]} classes"
            )
        best = class_scores.argmax(axis=1) if len(class_scores) else np.zeros(0, dtype=np.int64)
        keep = best == person_class  # a box is a person when that is its best class (Ultralytics' classes=[0])
        return _Candidates(boxes[keep], class_scores[keep, person_class], final=False)
    if chosen == "end2end":
        rows = array.reshape(-1, 6)
        keep = np.round(rows[:, 5]) == person_class
        return _Candidates(rows[keep, :4], rows[keep, 4], final=True)
    pair = _dets_and_labels(outputs)
    assert pair is not None
    dets, labels = np.asarray(pair[0], dtype=np.float64), pair[1]
    keep = np.ones(len(dets), dtype=bool) if labels is None else np.round(labels) == person_class
    return _Candidates(dets[keep, :4], dets[keep, 4], final=True)


def _model_input_size(shape: Sequence[Any], input_size: tuple[int, int] | None, where: str) -> tuple[int, int]:
    """(width, height) of a (1, 3, H, W) input: its fixed size, else ``input_size`` or 640x640."""
    if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3):
        raise ValueError(f"{where}: the input must be one (1, 3, H, W) image tensor, got shape {list(shape)}")
    if isinstance(shape[0], int) and shape[0] != 1:
        raise ValueError(f"{where}: the input has a fixed batch of {shape[0]}; expected 1 or dynamic")
    fixed = [size if isinstance(size, int) and size > 0 else None for size in (shape[3], shape[2])]
    if fixed[0] is not None and fixed[1] is not None:
        if input_size is not None and tuple(input_size) != (fixed[0], fixed[1]):
            raise ValueError(f"{where}: input_size {input_size} differs from the model's fixed {fixed[0]}x{fixed[1]}")
        return fixed[0], fixed[1]
    width, height = input_size or DEFAULT_INPUT_SIZE
    return fixed[0] or int(width), fixed[1] or int(height)


class OnnxDetector:
    """A person detector exported to ONNX, run by ONNX Runtime.

    Input: the model's one input, (1, 3, H, W) float32 (or float16) RGB in [0, 1]. The frame is letterboxed to
    H x W (:func:`letterbox`: aspect kept, centred, padded with 114/255), H and W read from the model, or, where
    they are dynamic, ``input_size`` (width, height), default 640x640.

    Outputs, coordinates in model-input pixels, recognised from their shapes (``layout="auto"``) or named by
    ``layout``:

    * ``"yolov8"``: the first output is (1, 4+C, N): cx, cy, w, h, then C class scores (YOLOv8 / YOLO11);
    * ``"yolov5"``: the first output is (1, N, 5+C): cx, cy, w, h, objectness, C class scores; the score of a
      class is objectness × class score;
    * ``"end2end"``: the first output is (1, N, 6) or (N, 6): x1, y1, x2, y2, score, class (YOLOv10, end-to-end
      exports with NMS inside; padding rows score low);
    * ``"dets_labels"``: outputs dets (1, N, 5) x1, y1, x2, y2, score and labels (1, N) (RTMDet / MMDeploy);
      a lone dets output means every box is a person.

    Auto detection: a dets + labels pair is ``dets_labels``; else on the first output (1, A, B): B = 6 is
    end-to-end (so a single-class YOLOv5 model, also (1, N, 6), needs ``layout="yolov5"``), B = 5 lone dets,
    5 <= A < B YOLOv8 (few channels, many anchors), A > B > 6 YOLOv5. Any other shape is a ValueError naming
    the output and the shape found.

    A YOLO box is a person when ``person_class`` is its best class, scored by that class's score; YOLO boxes
    then go through non-maximum suppression at IoU ``nms_iou`` (``cv2.dnn.NMSBoxes``), end-to-end ones do not.
    Boxes scoring below ``score_threshold`` are dropped, the rest mapped back to the frame
    (:meth:`Letterbox.to_image`), clipped to it, and returned best first; boxes left without area are dropped.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        score_threshold: float = 0.3,
        nms_iou: float = 0.45,
        person_class: int = 0,
        threads: int = 1,
        layout: OnnxLayout = "auto",
        input_size: tuple[int, int] | None = None,
        providers: Sequence[str] = ("CPUExecutionProvider",),
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such ONNX file")
        if not 0 <= score_threshold <= 1:
            raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold}")
        if not 0 < nms_iou <= 1:
            raise ValueError(f"nms_iou must be in (0, 1], got {nms_iou}")
        if person_class < 0 or threads < 1:
            raise ValueError(f"person_class must be at least 0 and threads at least 1, got {person_class}, {threads}")
        if layout not in ONNX_LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(ONNX_LAYOUTS)}, got {layout!r}")
        self.score_threshold, self.nms_iou, self.person_class, self.layout = (
            score_threshold,
            nms_iou,
            person_class,
            layout,
        )
        self._session = self._open(threads, providers)
        model_input = self._session.get_inputs()
        if len(model_input) != 1:
            raise ValueError(f"{self.path}: the model has {len(model_input)} inputs; expected one image tensor")
        self._input_name = model_input[0].name
        self._dtype = self._input_dtype(model_input[0].type)
        self.input_size = _model_input_size(
            model_input[0].shape, input_size, f"{self.path}: input {self._input_name!r}"
        )
        self._output_names = [output.name for output in self._session.get_outputs()]

    def _open(self, threads: int, providers: Sequence[str]) -> Any:
        from vipnas.models.sessions import onnxruntime_session

        try:
            return onnxruntime_session(self.path, threads, providers=list(providers), spinning=True)
        except Exception as error:  # onnxruntime raises its own exception types
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ValueError(f"{self.path}: ONNX Runtime cannot load this model ({first_line})") from error

    def _input_dtype(self, kind: str) -> type[np.floating]:
        types: dict[str, type[np.floating]] = {"tensor(float)": np.float32, "tensor(float16)": np.float16}
        if kind not in types:
            raise ValueError(f"{self.path}: input {self._input_name!r} is {kind}; expected tensor(float) in [0, 1]")
        return types[kind]

    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        """The model's (1, 3, H, W) input for a BGR frame, and where the frame went in it."""
        padded, placement = letterbox(image, self.input_size)
        rgb = padded[:, :, ::-1].transpose(2, 0, 1)[None]
        return (np.ascontiguousarray(rgb, dtype=np.float32) / np.float32(255)).astype(self._dtype), placement

    def __call__(self, image: np.ndarray, frame_index: int = 0) -> Detections:
        tensor, placement = self.preprocess(image)
        arrays = self._session.run(None, {self._input_name: tensor})
        outputs = list(zip(self._output_names, (np.asarray(array) for array in arrays), strict=True))
        candidates = _decode(outputs, self.layout, self.person_class, str(self.path))
        finite = np.isfinite(candidates.boxes).all(axis=1) & np.isfinite(candidates.scores)
        confident = finite & (candidates.scores >= self.score_threshold)
        boxes, scores = candidates.boxes[confident], candidates.scores[confident]
        order = np.argsort(-scores, kind="stable") if candidates.final else _nms(boxes, scores, self.nms_iou)
        mapped = placement.to_image(boxes[order]).astype(np.float32)
        return _with_area(mapped, scores[order].astype(np.float32))

    def __repr__(self) -> str:
        width, height = self.input_size
        return f"OnnxDetector({str(self.path)!r}, input {width}x{height}, layout={self.layout!r})"


# ----------------------------------------------------------------------------------------------- specs


def _size_option(value: str) -> tuple[int, int]:
    width, separator, height = value.lower().partition("x")
    if not separator:
        raise ValueError(value)
    return int(width), int(height)


_OPTION_TYPES: dict[str, Callable[[str], Any]] = {
    "threshold": float,
    "scale": float,
    "upscale": float,
    "nms_iou": float,
    "jitter": float,
    "miss_rate": float,
    "false_positives": float,
    "seed": int,
    "person_class": int,
    "threads": int,
    "layout": str,
    "input_size": _size_option,
    "video": str,
    "images": str,
}
_KIND_OPTIONS: dict[str, dict[str, str]] = {  # spec option → keyword of the constructor
    "gt": {"video": "video", "images": "images", "threshold": "min_score"},
    "sim": {
        "jitter": "jitter",
        "miss_rate": "miss_rate",
        "false_positives": "false_positives",
        "seed": "seed",
        "video": "video",
        "images": "images",
    },
    "hog": {"threshold": "min_score", "scale": "scale", "upscale": "upscale", "nms_iou": "nms_iou"},
    "onnx": {
        "threshold": "score_threshold",
        "nms_iou": "nms_iou",
        "person_class": "person_class",
        "threads": "threads",
        "layout": "layout",
        "input_size": "input_size",
    },
}


def _spec_error(spec: str, problem: str) -> ValueError:
    return ValueError(f"detector spec {spec!r}: {problem}; valid forms: {', '.join(DETECTOR_SPECS)}")


def _spec_options(spec: str, kind: str, query: str) -> dict[str, Any]:
    allowed = _KIND_OPTIONS[kind]
    options: dict[str, Any] = {}
    for item in filter(None, query.split("&")):
        key, separator, value = item.partition("=")
        if not separator or key not in allowed:
            raise _spec_error(spec, f"unknown option {item!r} for {kind} (options: {', '.join(allowed)})")
        if allowed[key] in options:
            raise _spec_error(spec, f"option {key!r} is given twice")
        try:
            options[allowed[key]] = _OPTION_TYPES[key](value)
        except ValueError:
            kind_name = "WxH" if key == "input_size" else _OPTION_TYPES[key].__name__
            raise _spec_error(spec, f"option {key}={value!r} is not a {kind_name}") from None
    return options


def build_detector(spec: str) -> Detector:
    """A detector from a one-line spec ``KIND[:TARGET][?OPTION=VALUE&OPTION=VALUE...]``.

    Forms (:data:`DETECTOR_SPECS`):

    * ``gt:FILE`` — :class:`GroundTruthDetector` of a COCO/PoseTrack18 file; options ``video``, ``images``
      (the frame order of a results list), ``threshold`` (``min_score``);
    * ``sim:FILE`` — :class:`SimulatedDetector` over that file's boxes; options ``jitter``, ``miss_rate``,
      ``false_positives``, ``seed``, ``video``, ``images``;
    * ``hog`` — :class:`HogDetector`; options ``threshold`` (``min_score``), ``scale``, ``upscale``, ``nms_iou``;
    * ``onnx:PATH`` — :class:`OnnxDetector`; options ``threshold`` (``score_threshold``), ``nms_iou``,
      ``person_class``, ``threads``, ``layout``, ``input_size`` (``WxH``, e.g. ``640x384``).

    The kind ends at the first ``:``, the options start at the first ``?`` (so a path may hold ``:`` but not
    ``?``). Example: ``onnx:models/yolov8n.onnx?threshold=0.4&threads=2``.

    Raises:
        ValueError: one line naming the spec, the problem, and the valid forms.
        FileNotFoundError: the file a spec names is missing.
    """
    head, _, query = spec.strip().partition("?")
    kind, separator, target = head.partition(":")
    kind = kind.strip().lower()
    if kind not in _KIND_OPTIONS:
        raise _spec_error(spec, f"unknown detector kind {kind!r}")
    if kind == "hog" and separator:
        raise _spec_error(spec, "hog takes no file")
    if kind != "hog" and not target:
        raise _spec_error(spec, f"{kind} needs a file: {kind}:PATH")
    options = _spec_options(spec, kind, query)
    if kind != "hog" and not Path(target).is_file():
        raise FileNotFoundError(f"detector spec {spec!r}: no such file {target}")
    images = options.get("images")
    if images is not None and not Path(images).is_file():
        raise FileNotFoundError(f"detector spec {spec!r}: no such file {images}")
    try:
        return _make_detector(kind, target, options)
    except ValueError as error:
        raise ValueError(f"detector spec {spec!r}: {error}") from error


def _make_detector(kind: str, target: str, options: dict[str, Any]) -> Detector:
    if kind == "gt":
        return GroundTruthDetector.from_file(target, **options)
    if kind == "sim":
        files = {key: options.pop(key) for key in ("video", "images") if key in options}
        return SimulatedDetector(GroundTruthDetector.from_file(target, **files), **options)
    if kind == "hog":
        return HogDetector(**options)
    return OnnxDetector(target, **options)
