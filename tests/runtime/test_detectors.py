"""``vipnas.runtime.detectors``: detections, ground-truth files (COCO, results lists, PoseTrack18), the simulated
detector, HOG (with a fake OpenCV backend, and the real one where OpenCV has it), ONNX models in each output
convention (tiny constant models exported with torch, decoded boxes checked against the letterbox arithmetic by
hand), and detector specs."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from vipnas.runtime import detectors
from vipnas.runtime.detectors import (
    Detections,
    Detector,
    GroundTruthDetector,
    HogDetector,
    Letterbox,
    OnnxDetector,
    SimulatedDetector,
    build_detector,
    hog_score,
    letterbox,
)

# ----------------------------------------------------------------------------------------------- helpers


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))  # json writes float("nan") as NaN, as a broken file would hold it
    return path


def export_constant_model(
    path: Path, outputs: dict[str, np.ndarray], *, input_size: tuple[int, int] = (640, 640), dynamic: bool = False
) -> Path:
    """An ONNX model with one (1, 3, H, W) input whose outputs are the given constants (whatever the image)."""
    import torch

    class Constant(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            for index, value in enumerate(outputs.values()):
                self.register_buffer(f"output{index}", torch.from_numpy(np.ascontiguousarray(value)))

        def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
            zero = image.mean() * 0  # keeps the input in the graph
            return tuple(buffer + zero.to(buffer.dtype) for buffer in self.buffers())

    width, height = input_size
    return _export(Constant(), path, list(outputs), (1, 3, height, width), dynamic)


def _export(module: Any, path: Path, names: list[str], shape: tuple[int, ...], dynamic: bool) -> Path:
    import torch

    axes = {"images": {2: "height", 3: "width"}} if dynamic else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(),
            (torch.zeros(shape),),
            str(path),
            input_names=["images"],
            output_names=names,
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    return path


def assert_detections(found: Detections, boxes: list[list[float]], scores: list[float]) -> None:
    np.testing.assert_allclose(found.boxes, np.array(boxes, dtype=np.float32).reshape(-1, 4), atol=1e-3)
    np.testing.assert_allclose(found.scores, scores, atol=1e-5)


def blank(width: int, height: int) -> np.ndarray:
    return np.zeros((height, width, 3), dtype=np.uint8)


# ----------------------------------------------------------------------------------------------- detections


def test_detections_are_float32_read_only_and_validated() -> None:
    found = Detections([[1, 2, 3, 4]], [0.5])
    assert found.boxes.dtype == np.float32 and found.scores.dtype == np.float32 and len(found) == 1
    with pytest.raises(ValueError, match="read-only"):
        found.boxes[0, 0] = 9
    empty = Detections.empty()
    assert empty.boxes.shape == (0, 4) and empty.scores.shape == (0,) and len(Detections([], [])) == 0
    assert_detections(Detections([[0, 0, 1, 1], [0, 0, 2, 2]], [0.2, 0.8]).above(0.5), [[0, 0, 2, 2]], [0.8])
    with pytest.raises(ValueError, match=r"boxes must have shape \(N, 4\), got \(1, 3\)"):
        Detections([[1, 2, 3]], [1.0])
    with pytest.raises(ValueError, match=r"scores must have shape \(N,\) with N = 1"):
        Detections([[1, 2, 3, 4]], [1.0, 2.0])
    with pytest.raises(ValueError, match="finite"):
        Detections([[1, 2, math.nan, 4]], [1.0])
    with pytest.raises(ValueError, match="x2 >= x1"):
        Detections([[5, 2, 3, 4]], [1.0])


def test_every_detector_satisfies_the_protocol(tmp_path: Path) -> None:
    truth = GroundTruthDetector({})
    assert isinstance(truth, Detector) and isinstance(SimulatedDetector(truth), Detector)


def test_importing_the_detectors_and_video_io_loads_no_heavy_library() -> None:
    code = (
        "import sys, vipnas.runtime.detectors, vipnas.runtime.video_io\n"
        "banned = ('torch', 'cv2', 'onnxruntime', 'vipnas.elastic', 'vipnas.nas', 'vipnas.engine', 'vipnas.demo',"
        " 'vipnas.commands')\n"
        "print([name for name in sys.modules if name.split('.')[0] in banned or name.startswith(banned)])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# ----------------------------------------------------------------------------------------------- ground truth


def coco_file(tmp_path: Path) -> Path:
    """Three frames listed out of order (frame_id 100..102 → frames 0..2), and what must be skipped."""
    images = [
        {"id": 7, "file_name": "clip/000002.jpg", "frame_id": 102},
        {"id": 5, "file_name": "clip/000000.jpg", "frame_id": 100},
        {"id": 6, "file_name": "clip/000001.jpg", "frame_id": 101},
    ]
    annotations = [
        {"id": 1, "image_id": 5, "bbox": [10, 20, 30, 40], "category_id": 1, "keypoints": [0] * 51},
        {"id": 2, "image_id": 5, "bbox": [0, 0, 5, 5], "iscrowd": 1},
        {"id": 3, "image_id": 7, "bbox": [1, 2, 3, 4]},
        {"id": 4, "image_id": 7, "bbox": [1, 2, 0, 4]},
        {"id": 5, "image_id": 7, "bbox": [1, 2, 3, -1]},
        {"id": 6, "image_id": 7, "bbox": [5, 5, 5, 5], "category_id": 2},
        {"id": 7, "image_id": 7, "bbox": [5, 5, 5, 5], "ignore": True},
    ]
    return write_json(tmp_path / "coco.json", {"images": images, "annotations": annotations, "categories": []})


def test_coco_annotations_by_frame_position_skipping_crowds_empty_boxes_and_other_categories(tmp_path: Path) -> None:
    truth = GroundTruthDetector.from_file(coco_file(tmp_path))
    assert_detections(truth(None, 0), [[10, 20, 40, 60]], [1.0])  # xywh → xyxy
    assert len(truth(blank(8, 8), 1)) == 0  # a frame without annotations
    assert_detections(truth(blank(8, 8), 2), [[1, 2, 4, 6]], [1.0])
    assert len(truth(None, 3)) == 0 and truth.frame_indices == (0, 2)


def test_explicit_frame_index_and_natural_file_name_order(tmp_path: Path) -> None:
    sparse = {
        "images": [{"id": 1, "frame_index": 10}, {"id": 2, "frame_index": 5}],
        "annotations": [{"id": 1, "image_id": 2, "bbox": [0, 0, 2, 2], "score": 0.7}],
    }
    truth = GroundTruthDetector.from_file(write_json(tmp_path / "sparse.json", sparse))
    assert truth.frame_indices == (5,)
    assert_detections(truth(None, 5), [[0, 0, 2, 2]], [0.7])
    named = {
        "images": [
            {"id": 1, "file_name": "frame10.jpg"},
            {"id": 2, "file_name": "frame2.jpg"},
            {"id": 3, "file_name": "frame1.jpg"},
        ],
        "annotations": [{"id": index, "image_id": index, "bbox": [index, 0, 1, 1]} for index in (1, 2, 3)],
    }
    truth = GroundTruthDetector.from_file(write_json(tmp_path / "named.json", named))
    # frame1 → 0, frame2 → 1, frame10 → 2
    assert [float(truth(None, frame).boxes[0, 0]) for frame in range(3)] == [3.0, 2.0, 1.0]


def posetrack_video(number: int, labelled: dict[int, list[list[float]]], frames: int = 4) -> dict[str, Any]:
    """An official PoseTrack18 per-video file: every frame listed (labelled or not), shuffled."""
    images = [
        {
            "has_no_densepose": True,
            "is_labeled": frame in labelled,
            "file_name": f"images/val/{number:06d}_mpii_test/{frame:06d}.jpg",
            "nframes": frames,
            "frame_id": int(f"1{number:06d}{frame:04d}"),
            "vid_id": f"{number:06d}",
            "id": int(f"1{number:06d}{frame:04d}"),
        }
        for frame in (2, 0, 3, 1)[:frames]
    ]
    annotations = [
        {
            "bbox_head": [0, 0, 1, 1],
            "keypoints": [0] * 51,
            "track_id": track,
            "image_id": int(f"1{number:06d}{frame:04d}"),
            "bbox": box,
            "scores": [],
            "category_id": 1,
            "id": int(f"1{number:06d}{frame:04d}{track:02d}"),
        }
        for frame, boxes in labelled.items()
        for track, box in enumerate(boxes)
    ]
    categories = [{"supercategory": "person", "id": 1, "name": "person", "keypoints": [], "skeleton": []}]
    return {"images": images, "annotations": annotations, "categories": categories}


def test_posetrack18_video_file(tmp_path: Path) -> None:
    data = posetrack_video(342, {0: [[10, 10, 20, 40], [50, 10, 20, 40]], 3: [[12, 11, 20, 40]]})
    truth = GroundTruthDetector.from_file(write_json(tmp_path / "000342_mpii_test.json", data))
    assert truth.frame_indices == (0, 3)
    assert_detections(truth(None, 0), [[10, 10, 30, 50], [50, 10, 70, 50]], [1.0, 1.0])
    assert len(truth(None, 1)) == 0 and len(truth(None, 2)) == 0
    assert_detections(truth(None, 3), [[12, 11, 32, 51]], [1.0])


def test_a_file_of_several_videos_needs_one_chosen(tmp_path: Path) -> None:
    first, second = posetrack_video(1, {1: [[0, 0, 4, 4]]}), posetrack_video(2, {1: [[8, 8, 4, 4]]})
    merged = {key: first[key] + second[key] for key in ("images", "annotations")}
    path = write_json(tmp_path / "merged.json", merged)
    with pytest.raises(
        ValueError, match=r"merged\.json: holds 2 videos \('000001', '000002'\); choose one with video="
    ):
        GroundTruthDetector.from_file(path)
    assert_detections(GroundTruthDetector.from_file(path, video="000002")(None, 1), [[8, 8, 12, 12]], [1.0])
    by_folder = GroundTruthDetector.from_file(path, video="000001_mpii_test")
    assert_detections(by_folder(None, 1), [[0, 0, 4, 4]], [1.0])
    with pytest.raises(ValueError, match="no video 'x'"):
        GroundTruthDetector.from_file(path, video="x")


def test_results_list_with_and_without_an_images_file(tmp_path: Path) -> None:
    results = [
        {"image_id": 2, "category_id": 1, "bbox": [1, 1, 2, 2], "score": 0.8},
        {"image_id": 0, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.3},
        {"image_id": 0, "category_id": 3, "bbox": [0, 0, 9, 9], "score": 0.9},
    ]
    path = write_json(tmp_path / "results.json", results)
    truth = GroundTruthDetector.from_file(path)  # image ids are frame indices
    assert truth.frame_indices == (0, 2)
    assert_detections(truth(None, 2), [[1, 1, 3, 3]], [0.8])
    assert GroundTruthDetector.from_file(path, min_score=0.5).frame_indices == (2,)
    mapped = [{"image_id": 7, "bbox": [1, 1, 2, 2], "score": 0.8}, {"image_id": 5, "bbox": [0, 0, 1, 1], "score": 0.6}]
    truth = GroundTruthDetector.from_file(write_json(tmp_path / "mapped.json", mapped), images=coco_file(tmp_path))
    assert truth.frame_indices == (0, 2)  # image 5 is frame 0, image 7 frame 2 of the COCO file
    assert_detections(truth(None, 2), [[1, 1, 3, 3]], [0.8])


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ({"annotations": [{"id": 42, "image_id": 1, "bbox": [math.nan, 1, 2, 3]}]}, r"annotation id 42 .*non-finite"),
        ({"annotations": [{"id": 43, "image_id": 1, "bbox": [1, 1, math.inf, 3]}]}, r"annotation id 43 .*non-finite"),
        ({"annotations": [{"id": 44, "image_id": 1, "bbox": [1, 1, 2, 3], "score": math.nan}]}, "id 44 .*score"),
        ({"annotations": [{"id": 45, "image_id": 1, "bbox": [1, 2]}]}, r"annotation id 45 .*\[x, y, width, height\]"),
        ({"annotations": [{"id": 46, "image_id": 99, "bbox": [1, 1, 2, 2]}]}, "image_id 99 is not among"),
        ({"annotations": [{"id": 47, "image_id": 1}]}, "annotation id 47 .*needs 'image_id' and 'bbox'"),
        ({"boxes": []}, "not a COCO or PoseTrack18 file"),
    ],
)
def test_bad_ground_truth_files_name_the_file_and_the_annotation(
    tmp_path: Path, records: dict[str, Any], message: str
) -> None:
    data = {"images": [{"id": 1, "file_name": "a.jpg"}], **records}
    if "boxes" in records:
        data = records
    path = write_json(tmp_path / "broken.json", data)
    with pytest.raises(ValueError, match=r"broken\.json: .*" + message):
        GroundTruthDetector.from_file(path)


def test_a_missing_or_non_json_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.json"):
        GroundTruthDetector.from_file(tmp_path / "missing.json")
    (tmp_path / "text.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"text\.json: not a JSON file"):
        GroundTruthDetector.from_file(tmp_path / "text.json")


# ----------------------------------------------------------------------------------------------- simulated

TRUTH = GroundTruthDetector(
    {0: Detections([[10, 10, 50, 110], [100, 20, 140, 120]], [1.0, 0.5]), 3: Detections([[0, 0, 40, 100]], [1.0])}
)
IMAGE = blank(200, 150)


def test_simulated_detections_are_deterministic_per_seed_and_frame() -> None:
    first = SimulatedDetector(TRUTH, jitter=0.1, miss_rate=0.2, false_positives=1.0, seed=4)
    second = SimulatedDetector(TRUTH, jitter=0.1, miss_rate=0.2, false_positives=1.0, seed=4)
    later = [second(IMAGE, frame) for frame in (3, 0, 1)]  # another order: the same frames
    for frame, found in zip((3, 0, 1), later, strict=True):
        again = first(IMAGE, frame)
        np.testing.assert_array_equal(again.boxes, found.boxes)
        np.testing.assert_array_equal(again.scores, found.scores)
    seeds = [SimulatedDetector(TRUTH, jitter=0.1, seed=seed)(IMAGE, 0).boxes for seed in (4, 5)]
    assert seeds[0].shape == seeds[1].shape == (2, 4) and not np.array_equal(*seeds)


def test_simulated_without_noise_returns_the_truth_with_lower_scores() -> None:
    found = SimulatedDetector(TRUTH, jitter=0.0)(IMAGE, 0)
    np.testing.assert_array_equal(found.boxes, TRUTH(None, 0).boxes)
    assert np.all((found.scores >= 0.7 * TRUTH(None, 0).scores) & (found.scores <= TRUTH(None, 0).scores))
    assert len(SimulatedDetector(TRUTH, miss_rate=1.0)(IMAGE, 0)) == 0


def test_simulated_jitter_misses_and_false_positives_have_the_stated_rates() -> None:
    frames = range(600)
    truth = GroundTruthDetector(dict.fromkeys(frames, Detections([[60, 20, 100, 120]], [1.0])))  # w 40, h 100
    jittered = SimulatedDetector(truth, jitter=0.05, seed=1)
    boxes = np.concatenate([jittered(IMAGE, frame).boxes for frame in frames])
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    np.testing.assert_allclose(centres.std(axis=0), [0.05 * 40, 0.05 * 100], rtol=0.15)
    missing = SimulatedDetector(truth, jitter=0.0, miss_rate=0.25, seed=2)
    assert np.mean([len(missing(IMAGE, frame)) for frame in frames]) == pytest.approx(0.75, abs=0.06)
    noisy = SimulatedDetector(GroundTruthDetector({}), false_positives=2.0, seed=3)
    found = [noisy(IMAGE, frame) for frame in frames]
    assert np.mean([len(detections) for detections in found]) == pytest.approx(2.0, abs=0.2)
    boxes = np.concatenate([detections.boxes for detections in found])
    scores = np.concatenate([detections.scores for detections in found])
    assert boxes.min() >= 0 and boxes[:, 2].max() <= 200 and boxes[:, 3].max() <= 150
    assert scores.min() >= 0.3 and scores.max() <= 0.7


def test_simulated_detector_argument_errors() -> None:
    with pytest.raises(ValueError, match=r"miss_rate must be in \[0, 1\]"):
        SimulatedDetector(TRUTH, miss_rate=1.5)
    with pytest.raises(ValueError, match="jitter must be at least 0"):
        SimulatedDetector(TRUTH, jitter=-0.1)
    with pytest.raises(ValueError, match=r"image must be a \(H, W, 3\) uint8"):
        SimulatedDetector(TRUTH)(np.zeros((4, 4)), 0)


# ----------------------------------------------------------------------------------------------- HOG


def _opencv_has_hog() -> bool:
    import cv2

    return hasattr(cv2, "HOGDescriptor") or hasattr(getattr(cv2, "xobjdetect", None), "HOGDescriptor")


def test_hog_scores_are_the_logistic_of_the_margin() -> None:
    margins = np.array([-3.0, -0.5, 0.0, 1.0, 2.0, 8.0])
    scores = hog_score(margins)
    np.testing.assert_allclose(scores, 1 / (1 + np.exp(-margins)))
    assert scores[2] == 0.5 and np.all(np.diff(scores) > 0) and np.all((scores > 0) & (scores < 1))


class FakeHog:
    """Stands for cv2.HOGDescriptor: fixed windows (x, y, w, h) and SVM margins, records its calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def detectMultiScale(self, image: np.ndarray, *arguments: Any) -> tuple[np.ndarray, np.ndarray]:  # noqa: N802
        self.calls.append((image.shape, *arguments))
        rectangles = np.array([[10, 20, 64, 128], [12, 22, 64, 128], [100, 30, 64, 128]])
        return rectangles, np.array([[1.0], [0.5], [2.0]])


def test_hog_upscales_maps_back_scores_and_suppresses(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeHog()
    monkeypatch.setattr(detectors, "_people_hog", lambda: fake)
    detector = HogDetector(min_score=0.6, upscale=2.0, scale=1.1)
    found = detector(blank(100, 80), 0)
    (shape, hit_threshold, stride, padding, scale, group, meanshift) = fake.calls[0]
    assert shape == (160, 200, 3) and hit_threshold == pytest.approx(math.log(0.6 / 0.4))
    assert (stride, padding, scale, group, meanshift) == ((8, 8), (8, 8), 1.1, 0, False)
    # windows / 2: (5, 10, 37, 74) margin 1, (6, 11, 38, 75) margin 0.5 (score 0.62, suppressed by the first),
    # (50, 15, 82, 79) margin 2; best first
    assert_detections(found, [[50, 15, 82, 79], [5, 10, 37, 74]], [1 / (1 + math.exp(-2)), 1 / (1 + math.exp(-1))])
    assert len(detector(blank(30, 60), 1)) == 0 and len(fake.calls) == 1  # smaller than the window: not scanned


def test_hog_without_opencv_hog_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cv2", SimpleNamespace(__version__="5.0.0"))
    with pytest.raises(RuntimeError, match=r"HogDetector needs cv2\.HOGDescriptor, which OpenCV 5\.0\.0 lacks"):
        HogDetector()


def test_hog_argument_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(detectors, "_people_hog", FakeHog)
    with pytest.raises(ValueError, match=r"min_score must be in \(0, 1\)"):
        HogDetector(min_score=1.0)
    with pytest.raises(ValueError, match="scale must be above 1"):
        HogDetector(scale=1.0)


def test_real_hog_finds_a_silhouette_and_nothing_on_a_blank_frame() -> None:
    if not _opencv_has_hog():
        pytest.skip("this OpenCV has no HOGDescriptor (OpenCV 5 moved it to opencv-contrib)")
    import cv2

    assert len(HogDetector()(np.full((256, 160, 3), 128, np.uint8), 0)) == 0
    image = np.full((300, 200, 3), 200, np.uint8)  # a dark figure (62, 42)-(138, 260) on grey: head, body, legs, arms
    cv2.circle(image, (100, 60), 18, (40, 40, 40), -1)
    for x1, y1, x2, y2 in [(78, 80, 122, 170), (80, 170, 96, 260), (104, 170, 120, 260), (62, 85, 74, 160)]:
        cv2.rectangle(image, (x1, y1), (x2, y2), (40, 40, 40), -1)
    cv2.rectangle(image, (126, 85), (138, 160), (40, 40, 40), -1)
    found = HogDetector()(image, 0)
    assert len(found) >= 1 and 0.5 < found.scores[0] < 1
    x1, y1, x2, y2 = found.boxes[0]
    overlap = max(0.0, min(x2, 138) - max(x1, 62)) * max(0.0, min(y2, 260) - max(y1, 42))
    assert overlap / ((x2 - x1) * (y2 - y1) + 76 * 218 - overlap) > 0.3


# ----------------------------------------------------------------------------------------------- ONNX


def test_letterbox_centres_and_pads_with_114() -> None:
    image = np.full((17, 30, 3), (255, 0, 0), np.uint8)  # 30x17 into 40x40: ratio 4/3, resized 40x23, pad 17
    padded, placement = letterbox(image, (40, 40))
    assert placement == Letterbox(image_size=(30, 17), resized=(40, 23), left=0, top=8)  # round(8.5 - 0.1) = 8
    assert padded.shape == (40, 40, 3) and (padded[:8] == 114).all() and (padded[31:] == 114).all()
    assert (padded[8:31] == (255, 0, 0)).all()
    boxes = placement.to_image(np.array([[0, 8, 40, 31], [-5, 0, 20, 50]]))
    np.testing.assert_allclose(boxes, [[0, 0, 30, 17], [0, 0, 15, 17]])  # x · 30/40, (y - 8) · 17/23, clipped


def yolov8_rows() -> np.ndarray:
    """(cx, cy, w, h, person, other) in a 640x640 input; 8 anchors (3 zero)."""
    rows = np.zeros((8, 6), np.float32)
    rows[:5] = [
        [320, 320, 200, 300, 0.9, 0.1],  # → (220, 170, 420, 470)
        [324, 322, 200, 300, 0.8, 0.1],  # overlaps the first: suppressed
        [100, 200, 40, 80, 0.2, 0.95],  # best class is not person: dropped
        [500, 400, 60, 120, 0.25, 0.0],  # below the threshold 0.3
        [600, 500, 100, 100, 0.6, 0.1],  # → (550, 450, 650, 550)
    ]
    return rows


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("onnx")
    yolov5 = np.zeros((8, 7), np.float32)
    yolov5[:5] = [
        [240, 160, 64, 128, 0.9, 0.8, 0.1],  # 0.9 · 0.8 = 0.72 → (208, 96, 272, 224)
        [240, 160, 64, 128, 0.5, 0.9, 0.0],  # 0.45, same box: suppressed
        [100, 100, 50, 50, 0.9, 0.3, 0.6],  # best class is not person
        [400, 200, 40, 80, 0.4, 0.5, 0.0],  # 0.2 < 0.3
        [120, 40, 32, 32, 0.6, 1.0, 0.0],  # 0.6 → (104, 24, 136, 56)
    ]
    end2end = np.array(
        [
            [100, 200, 300, 400, 0.95, 0],
            [-20, 150, 50, 600, 0.5, 0],  # reaches out of the image: clipped
            [10, 10, 20, 20, 0.9, 2],  # another class
            [0, 0, 0, 0, 0, 0],  # padding row
            [102, 202, 298, 398, 0.9, 0],  # overlaps the first: end-to-end output is final, no NMS
        ],
        np.float32,
    )
    dets = np.array([[[200, 100, 300, 400, 0.8], [0, 0, 10, 10, 0.9], [170, 10, 180, 20, 0.1]]], np.float32)
    return {
        "yolov8": export_constant_model(folder / "yolov8.onnx", {"output0": yolov8_rows().T[None]}),
        "yolov5": export_constant_model(folder / "yolov5.onnx", {"output0": yolov5[None]}, input_size=(480, 320)),
        "end2end_batched": export_constant_model(folder / "e2e_batched.onnx", {"output0": end2end[None]}),
        "end2end_flat": export_constant_model(folder / "e2e_flat.onnx", {"output0": end2end}),
        "rtmdet": export_constant_model(
            folder / "rtmdet.onnx", {"dets": dets, "labels": np.array([[0, 1, 0]], np.int64)}, dynamic=True
        ),
        "wrong": export_constant_model(folder / "wrong.onnx", {"output0": np.zeros((1, 3, 4, 5), np.float32)}),
        "pixels": _export_pixel_model(folder / "pixels.onnx"),
    }


def _export_pixel_model(path: Path) -> Path:
    """End-to-end rows whose scores are input pixels: blue inside the image, red inside, green in the padding."""
    import torch

    class Pixels(torch.nn.Module):
        def forward(self, image: torch.Tensor) -> torch.Tensor:
            scores = torch.stack([image[0, 2, 320, 320], image[0, 0, 320, 320], image[0, 1, 10, 320]])
            boxes = torch.tensor([[0.0, 80, 100, 180], [300, 300, 340, 340], [200, 280, 300, 380]])
            return torch.cat([boxes, scores[:, None], torch.zeros(3, 1)], dim=1)[None]

    return _export(Pixels(), path, ["output0"], (1, 3, 640, 640), dynamic=False)


def test_yolov8_output(models: dict[str, Path]) -> None:
    detector = OnnxDetector(models["yolov8"])
    assert detector.input_size == (640, 640)
    # 320x240 image → ratio min(640/320, 640/240) = 2, resized 640x480, left 0, top round(80 - 0.1) = 80;
    # x = x' / 2, y = (y' - 80) / 2: (220, 170, 420, 470) → (110, 45, 210, 195); (550, 450, 650, 550) →
    # (275, 185, 325, 235), clipped to x <= 320
    found = detector(blank(320, 240), 0)
    assert_detections(found, [[110, 45, 210, 195], [275, 185, 320, 235]], [0.9, 0.6])


def test_yolov5_output_multiplies_objectness(models: dict[str, Path]) -> None:
    detector = OnnxDetector(models["yolov5"])
    assert detector.input_size == (480, 320)  # (width, height) read from the model
    # 100x100 image → ratio min(480/100, 320/100) = 3.2, resized 320x320, left round(80 - 0.1) = 80, top 0;
    # x = (x' - 80) / 3.2, y = y' / 3.2: (208, 96, 272, 224) → (40, 30, 60, 70); (104, 24, 136, 56) → (7.5,
    # 7.5, 17.5, 17.5)
    found = detector(blank(100, 100), 0)
    assert_detections(found, [[40, 30, 60, 70], [7.5, 7.5, 17.5, 17.5]], [0.72, 0.6])


@pytest.mark.parametrize("name", ["end2end_batched", "end2end_flat"])
def test_end_to_end_output(models: dict[str, Path], name: str) -> None:
    # 640x320 image → ratio 1, left 0, top round(160 - 0.1) = 160: y = y' - 160
    found = OnnxDetector(models[name])(blank(640, 320), 0)
    expected = [[100, 40, 300, 240], [102, 42, 298, 238], [0, 0, 50, 320]]  # best first; no NMS
    assert_detections(found, expected, [0.95, 0.9, 0.5])


def test_rtmdet_dets_and_labels_with_a_dynamic_input(models: dict[str, Path]) -> None:
    detector = OnnxDetector(models["rtmdet"])
    assert detector.input_size == (640, 640)  # dynamic H, W: the default
    # 320x640 image → ratio min(2, 1) = 1, left round(160 - 0.1) = 160, top 0: x = x' - 160
    assert_detections(detector(blank(320, 640), 0), [[40, 100, 140, 400]], [0.8])
    exact = OnnxDetector(models["rtmdet"], input_size=(320, 640), score_threshold=0.05)
    assert_detections(exact(blank(320, 640), 0), [[200, 100, 300, 400], [170, 10, 180, 20]], [0.8, 0.1])


def test_the_input_is_rgb_in_0_1_letterboxed_with_114(models: dict[str, Path]) -> None:
    image = np.full((240, 320, 3), (255, 0, 0), np.uint8)  # BGR blue; 640x640 input: rows 80..559 are image
    found = OnnxDetector(models["pixels"])(image, 0)
    # blue channel (RGB index 2) inside: 1; red inside: 0 (below the threshold); green in the padding: 114/255
    assert_detections(found, [[0, 0, 50, 50], [100, 100, 150, 150]], [1.0, 114 / 255])


def test_onnx_errors(models: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"wrong\.onnx: output 'output0' has shape \(1, 3, 4, 5\).*; expected"):
        OnnxDetector(models["wrong"])(blank(64, 64), 0)
    with pytest.raises(ValueError, match=r"output 'output0' has shape \(1, 6, 8\).*expected .*\(end-to-end\)$"):
        OnnxDetector(models["yolov8"], layout="end2end")(blank(64, 64), 0)
    with pytest.raises(ValueError, match="person_class 5 is not among the model's 2 classes"):
        OnnxDetector(models["yolov8"], person_class=5)(blank(64, 64), 0)
    with pytest.raises(ValueError, match="input_size"):
        OnnxDetector(models["yolov8"], input_size=(320, 320))
    with pytest.raises(FileNotFoundError, match=r"missing\.onnx"):
        OnnxDetector(tmp_path / "missing.onnx")
    (tmp_path / "garbage.onnx").write_bytes(np.random.default_rng(0).bytes(300))
    with pytest.raises(ValueError, match=r"garbage\.onnx: ONNX Runtime cannot load this model"):
        OnnxDetector(tmp_path / "garbage.onnx")


# ----------------------------------------------------------------------------------------------- specs


def test_build_detector_from_specs(tmp_path: Path, models: dict[str, Path]) -> None:
    path = coco_file(tmp_path)
    assert isinstance(build_detector(f"gt:{path}"), GroundTruthDetector)
    simulated = build_detector(f"sim:{path}?jitter=0&seed=3&false_positives=0.5")
    assert isinstance(simulated, SimulatedDetector)
    assert (simulated.jitter, simulated.seed, simulated.false_positives) == (0.0, 3, 0.5)
    onnx = build_detector(f"onnx:{models['rtmdet']}?threshold=0.4&threads=2&input_size=320x640&layout=dets_labels")
    assert isinstance(onnx, OnnxDetector)
    assert (onnx.score_threshold, onnx.input_size, onnx.layout) == (0.4, (320, 640), "dets_labels")
    if _opencv_has_hog():
        assert build_detector("hog?threshold=0.7&upscale=2").upscale == 2.0
    else:
        with pytest.raises(RuntimeError, match="HOGDescriptor"):
            build_detector("hog")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("yolo:model.onnx", "unknown detector kind 'yolo'"),
        ("onnx", "onnx needs a file"),
        ("hog:file", "hog takes no file"),
        ("gt:{coco}?speed=3", "unknown option 'speed=3' for gt"),
        ("onnx:{onnx}?threshold=high", "option threshold='high' is not a float"),
        ("onnx:{onnx}?input_size=640", "option input_size='640' is not a WxH"),
        ("onnx:{onnx}?threshold=0.4&threshold=0.5", "option 'threshold' is given twice"),
        ("onnx:{onnx}?threshold=2", r"score_threshold must be in \[0, 1\]"),
    ],
)
def test_bad_specs_are_one_line_errors_listing_the_forms(
    tmp_path: Path, models: dict[str, Path], spec: str, message: str
) -> None:
    spec = spec.format(coco=coco_file(tmp_path), onnx=models["yolov8"])
    with pytest.raises(ValueError, match=message) as raised:
        build_detector(spec)
    assert str(raised.value).startswith(f"detector spec {spec!r}: ") and "\n" not in str(raised.value)
    if "must be in" not in message:
        assert "valid forms: gt:FILE" in str(raised.value) and "onnx:PATH" in str(raised.value)


def test_a_spec_naming_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"detector spec 'gt:.*nowhere\.json': no such file .*nowhere\.json"):
        build_detector(f"gt:{tmp_path / 'nowhere.json'}")
    with pytest.raises(FileNotFoundError, match=r"nowhere\.onnx"):
        build_detector(f"onnx:{tmp_path / 'nowhere.onnx'}?threshold=0.5")


def test_ground_truth_images_follow_the_frame_addressing(tmp_path) -> None:
    """``GroundTruthDetector.images`` maps each frame index to the file's image record by the same rule as the boxes
    (here natural file-name order: 1, 2, 10), so predictions written for frame i refer to the right image id."""
    import json

    from vipnas.runtime.detectors import GroundTruthDetector

    names = ["v/2.jpg", "v/10.jpg", "v/1.jpg"]
    images = [{"id": 7 + i, "file_name": name} for i, name in enumerate(names)]
    annotations = [{"id": 1, "image_id": 8, "bbox": [1, 2, 3, 4], "category_id": 1}]
    path = tmp_path / "video.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations}))
    detector = GroundTruthDetector.from_file(path)
    assert {index: image["file_name"] for index, image in detector.images.items()} == {
        0: "v/1.jpg", 1: "v/2.jpg", 2: "v/10.jpg",
    }  # fmt: skip
    assert detector.frame_indices == (2,) and detector.images[2]["id"] == 8
