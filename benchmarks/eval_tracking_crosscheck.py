"""Cross-check vipnas' PoseTrack18 tracking metrics (MOTA, MOTP, precision, recall) against the official poseval
code on randomised tracks.

poseval is not installable as a package here, but its source can be imported from a checkout; its tracking
evaluation needs shapely, click and py-motmetrics (which needs pandas and xmltodict; numpy and scipy come from this
environment):

    pip install --no-deps --target /tmp/posevaldeps_track shapely click motmetrics==1.4.0 pandas \\
        python-dateutil pytz tzdata six xmltodict
    git clone https://github.com/leonid-pishchulin/poseval /tmp/poseval_repo
    python benchmarks/eval_tracking_crosscheck.py --poseval /tmp/poseval_repo --extra-path /tmp/posevaldeps_track

Each scenario turns the real-sample PoseTrack18 videos (one labelled frame each) into videos of 2 to 6 labelled
frames whose persons drift, leave and come back and lose joints, with unlabelled frames in between and at the end,
the real ignore regions kept or dropped and random ignore boxes over some persons. Predictions get joint noise
from 2 % to 60 % of the head size, missed persons, dropped joints, frames without any prediction, near and random
false positives, duplicates, and identity errors: track ids swapped between two persons, or a person given a new
id. poseval reads files in ``glob`` order; it is patched to sorted order, the order vipnas uses. Compared: MOTA,
MOTP, precision and recall per joint, per group (Head ... Ankle) and Total.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from vipnas.evaluation.posetrack import POSETRACK_METRICS, POSEVAL_JOINTS
from vipnas.evaluation.tracking import TRACKING_METRICS, evaluate_posetrack_tracking

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "real_samples" / "posetrack18" / "annotations" / "val"
POSEVAL_NAMES = {"MOTA": "mota", "MOTP": "motp", "Precision": "pre", "Recall": "rec"}
FIRST_FRESH_TRACK, FIRST_FALSE_TRACK = 1000, 5000


def _present(points: np.ndarray) -> np.ndarray:
    return ~((points[:, 0] == 0) & (points[:, 1] == 0) & (points[:, 2] == 0))


def _image(first: dict, t: int, *, labelled: bool, keep_regions: bool) -> dict:
    image = copy.deepcopy(first)
    image["id"], image["is_labeled"] = first["id"] + t, labelled
    image["file_name"] = first["file_name"].replace("000000", f"{t:06d}")
    if not keep_regions:
        image.pop("ignore_regions_x", None)
        image.pop("ignore_regions_y", None)
    return image


def _add_box_region(image: dict, points: np.ndarray, rng: np.random.Generator) -> None:
    """An ignore box over part (or all) of a person's joints."""
    xy = points[_present(points), :2]
    if len(xy) == 0:
        return
    low, high = xy.min(axis=0) - 5, xy.max(axis=0) + 5
    high[0] = low[0] + (high[0] - low[0]) * rng.choice([0.5, 1.0])
    image.setdefault("ignore_regions_x", []).append([low[0], high[0], high[0], low[0]])
    image.setdefault("ignore_regions_y", []).append([low[1], low[1], high[1], high[1]])


def _ground_truth(data: dict, rng: np.random.Generator) -> tuple[dict, list[dict[int, np.ndarray]]]:
    """The video grown to several frames; returns it and, per frame, each present person's joints by track id."""
    first, people = data["images"][0], list(data["annotations"])
    velocity = {ann["track_id"]: rng.normal(0, 8, 2) for ann in people}
    labelled_frames = int(rng.integers(2, 7))
    images, annotations, persons_per_frame, t = [], [], [], 0
    keep_regions = bool(rng.random() < 0.6)
    for labelled_index in range(labelled_frames):
        image = _image(first, t, labelled=True, keep_regions=keep_regions)
        persons: dict[int, np.ndarray] = {}
        visible = [ann for ann in people if rng.random() > 0.15] or [people[int(rng.integers(len(people)))]]
        for ann in visible:
            moved = copy.deepcopy(ann)
            moved["image_id"], moved["id"] = image["id"], ann["id"] + 1000 * t
            points = np.asarray(ann["keypoints"], float).reshape(17, 3)
            present = _present(points)
            shift = velocity[ann["track_id"]] * labelled_index
            points[present, :2] += shift
            points[present & (rng.random(17) < 0.05)] = 0  # a joint not annotated in this frame
            moved["keypoints"] = points.reshape(-1).tolist()
            moved["bbox_head"] = [ann["bbox_head"][0] + shift[0], ann["bbox_head"][1] + shift[1], *ann["bbox_head"][2:]]
            annotations.append(moved)
            persons[ann["track_id"]] = points
            if rng.random() < 0.08:
                _add_box_region(image, points, rng)
        images.append(image)
        persons_per_frame.append(persons)
        t += 1
        while rng.random() < 0.25:  # unlabelled frames (also after the last labelled one)
            images.append(_image(first, t, labelled=False, keep_regions=keep_regions))
            persons_per_frame.append({})
            t += 1
    return {**data, "images": images, "annotations": annotations}, persons_per_frame


class _Tracker:
    """A simulated tracker's identities: ground-truth track -> predicted track id, with errors."""

    def __init__(self, tracks: list[int], rng: np.random.Generator) -> None:
        self.rng = rng
        self.ids = dict(zip(tracks, rng.choice(FIRST_FRESH_TRACK, len(tracks), replace=False).tolist(), strict=True))
        self.fresh = FIRST_FRESH_TRACK

    def new_id(self) -> int:
        self.fresh += 1
        return self.fresh

    def step(self, present: list[int], swap_rate: float, renew_rate: float) -> None:
        if len(present) >= 2 and self.rng.random() < swap_rate:
            a, b = self.rng.choice(present, 2, replace=False).tolist()
            self.ids[a], self.ids[b] = self.ids[b], self.ids[a]
        for track in present:
            if self.rng.random() < renew_rate:
                self.ids[track] = self.new_id()


def _noisy(points: np.ndarray, sigma: float, rng: np.random.Generator, *, every_joint: bool) -> np.ndarray:
    """The joints moved by N(0, sigma); without ``every_joint``, joints absent from the ground truth stay absent."""
    absent = ~_present(points)
    points = points.copy()
    points[:, :2] += rng.normal(0, sigma, (17, 2))
    if not every_joint:
        points[absent] = 0
    return points


def _predictions(gt: dict, persons_per_frame: list[dict[int, np.ndarray]], rng: np.random.Generator) -> dict:
    heads = {ann["track_id"]: 0.6 * np.hypot(*ann["bbox_head"][2:]) for ann in gt["annotations"]}
    tracker = _Tracker(sorted(heads), rng)
    noise = (0.02, 0.15) if rng.random() < 0.5 else (0.1, 0.6)
    swap_rate, renew_rate = rng.choice([0.0, 0.2, 0.5]), rng.choice([0.0, 0.05, 0.15])
    miss_rate, extra_rate, empty_rate = rng.choice([0.0, 0.05, 0.15]), rng.choice([0.0, 0.1]), rng.choice([0.0, 0.08])
    most_false, drop_rate, every_joint = int(rng.choice([0, 1, 3])), rng.choice([0.0, 0.1]), rng.random() < 0.5
    if rng.random() < 0.2:  # a good tracker: small noise, few errors
        noise, miss_rate, extra_rate, empty_rate, most_false, drop_rate = (0.01, 0.08), 0.02, 0.0, 0.0, 0, 0.0
        every_joint = False
    annotations: list[dict[str, Any]] = []
    for image, persons in zip(gt["images"], persons_per_frame, strict=True):
        tracker.step(sorted(persons), swap_rate, renew_rate)
        predicted: list[tuple[int, np.ndarray]] = []
        if rng.random() < empty_rate:
            continue  # a frame without any prediction
        for track, points in persons.items():
            if rng.random() < miss_rate:
                continue  # a missed person
            sigma = heads[track] * rng.uniform(*noise)
            predicted.append((tracker.ids[track], _noisy(points, sigma, rng, every_joint=every_joint)))
            if rng.random() < extra_rate:  # a duplicate or a near false positive
                near = _noisy(points, heads[track] * rng.uniform(0.05, 0.5), rng, every_joint=every_joint)
                predicted.append((tracker.new_id(), near))
        false_tracks = rng.choice(np.arange(FIRST_FALSE_TRACK, FIRST_FALSE_TRACK + 10), 3, replace=False).tolist()
        for track in false_tracks[: int(rng.integers(0, most_false + 1))]:  # false positives anywhere
            predicted.append((track, np.c_[rng.uniform(0, 1920, 17), rng.uniform(0, 1080, 17), np.ones(17)]))
        for track, points in predicted:
            dropped = rng.random(17) < drop_rate
            scores = rng.uniform(0, 1, 17)
            points[:, 2] = scores
            points[dropped] = 0
            scores[dropped] = 0
            annotations.append(
                {
                    "image_id": image["id"],
                    "track_id": int(track),
                    "keypoints": points.reshape(-1).tolist(),
                    "scores": scores.tolist(),
                }
            )
    images = [{"id": image["id"], "file_name": image["file_name"]} for image in gt["images"]]
    return {"images": images, "annotations": annotations, "categories": gt["categories"]}


def make_scenario(seed: int, source: Path, folder: Path) -> tuple[Path, Path]:
    """Write a ground-truth and a prediction folder for one random scenario."""
    rng = np.random.default_rng(seed)
    gt_dir, pred_dir = folder / "gt", folder / "pred"
    gt_dir.mkdir(parents=True)
    pred_dir.mkdir()
    for path in sorted(source.glob("*.json")):
        gt, persons_per_frame = _ground_truth(json.loads(path.read_text()), rng)
        (gt_dir / path.name).write_text(json.dumps(gt))
        (pred_dir / path.name).write_text(json.dumps(_predictions(gt, persons_per_frame, rng)))
    return gt_dir, pred_dir


def _official(eval_helpers: Any, evaluate_tracking: Any, gt_dir: Path, pred_dir: Path) -> dict[str, np.ndarray]:
    """poseval's metrics: per metric, the 15 joints, then the groups Head ... Ankle and Total (23 values)."""
    with contextlib.redirect_stdout(io.StringIO()):
        gt_frames, pred_frames = eval_helpers.load_data_dir(["", f"{gt_dir}/", f"{pred_dir}/"])
        metrics = evaluate_tracking(gt_frames, pred_frames, str(gt_dir.parent), False, False)
    result = {}
    for name, key in POSEVAL_NAMES.items():
        values = np.asarray(metrics[key], dtype=float)[0]  # (16,): 15 joints and Total
        with np.errstate(invalid="ignore"):
            groups = np.array(eval_helpers.getCum(values[:, None]), dtype=float)  # Head ... Ankle, Total
        result[name] = np.concatenate([values[:15], groups])
    return result


def _ours(gt_dir: Path, pred_dir: Path) -> dict[str, np.ndarray]:
    metrics = evaluate_posetrack_tracking(gt_dir, pred_dir)
    return {
        name: np.array(
            [metrics[f"{name}_{joint}"] for joint in POSEVAL_JOINTS]
            + [metrics[f"{name}_{group}"] for group in POSETRACK_METRICS]
        )
        for name in TRACKING_METRICS
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--poseval", required=True, help="poseval checkout (the folder holding poseval/)")
    parser.add_argument(
        "--extra-path", default=None, help="folder with shapely/click/motmetrics/pandas if not installed"
    )
    parser.add_argument("--scenarios", type=int, default=200)
    parser.add_argument("--samples", type=Path, default=SAMPLES, help="real-sample PoseTrack18 val annotations")
    args = parser.parse_args()
    sys.path.insert(0, args.poseval)
    if args.extra_path:
        sys.path.append(args.extra_path)
    import glob

    from poseval import eval_helpers
    from poseval.evaluateTracking import evaluateTracking

    unsorted_glob = glob.glob
    eval_helpers.glob.glob = lambda pattern: sorted(unsorted_glob(pattern))

    worst = dict.fromkeys(TRACKING_METRICS, 0.0)
    totals: dict[str, list[float]] = {name: [] for name in TRACKING_METRICS}
    for seed in range(args.scenarios):
        with tempfile.TemporaryDirectory() as folder:
            gt_dir, pred_dir = make_scenario(seed, args.samples, Path(folder))
            official = _official(eval_helpers, evaluateTracking, gt_dir, pred_dir)
            ours = _ours(gt_dir, pred_dir)
        for name in TRACKING_METRICS:
            if not np.allclose(official[name], ours[name], equal_nan=True, rtol=0, atol=1e-9):
                print(f"scenario {seed} {name}: poseval {official[name].round(4)}\n  vipnas {ours[name].round(4)}")
                return 1
            both = ~np.isnan(official[name])
            if both.any():
                worst[name] = max(worst[name], float(np.abs(official[name][both] - ours[name][both]).max()))
            totals[name].append(float(ours[name][-1]))
    differences = ", ".join(f"{name} {worst[name]:.1e}" for name in TRACKING_METRICS)
    ranges = ", ".join(f"{name} {min(totals[name]):.1f}..{max(totals[name]):.1f}" for name in TRACKING_METRICS)
    print(f"{args.scenarios} scenarios: per-joint, per-group and Total values identical to poseval (NaN alike)")
    print(f"max |difference|: {differences}")
    print(f"Total ranged: {ranges}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
