"""Cross-check vipnas' PoseTrack18 AP against the official poseval code on randomised predictions.

poseval is not installable as a package here, but its source can be imported from a checkout (it needs shapely):

    pip install --target /tmp/posevaldeps shapely click
    git clone https://github.com/leonid-pishchulin/poseval /tmp/poseval_repo
    python benchmarks/eval_posetrack_crosscheck.py --poseval /tmp/poseval_repo --extra-path /tmp/posevaldeps

Each scenario copies the real-sample PoseTrack18 videos, adds labelled and unlabelled frames (with and without
ignore regions), and writes predictions with joint noise from 2 % to 60 % of the head size, duplicates, missed
persons, dropped joints, false-positive persons and (in some scenarios) tied scores. poseval reads files in
``glob`` order; it is patched to sorted order, the order vipnas uses, so tied scores rank identically.
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

import numpy as np

from vipnas.evaluation.posetrack import POSETRACK_METRICS, POSEVAL_JOINTS, evaluate_posetrack_folder

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "real_samples" / "posetrack18" / "annotations" / "val"


def _present(points: np.ndarray) -> np.ndarray:
    return ~((points[:, 0] == 0) & (points[:, 1] == 0) & (points[:, 2] == 0))


def make_scenario(seed: int, source: Path, folder: Path) -> tuple[Path, Path]:
    """Write a ground-truth and a prediction folder for one random scenario."""
    rng = np.random.default_rng(seed)
    gt_dir, pred_dir = folder / "gt", folder / "pred"
    gt_dir.mkdir(parents=True)
    pred_dir.mkdir()
    ties = rng.random() < 0.3
    noise = (0.02, 0.15) if rng.random() < 0.5 else (0.1, 0.6)
    for path in sorted(source.glob("*.json")):
        data = json.loads(path.read_text())
        first = data["images"][0]
        for t in range(1, 1 + int(rng.integers(0, 3))):
            frame = copy.deepcopy(first)
            frame["id"] = first["id"] + t
            frame["file_name"] = first["file_name"].replace("000000", f"{t:06d}")
            frame["is_labeled"] = bool(rng.random() < 0.5)
            if rng.random() < 0.5:
                frame.pop("ignore_regions_x", None)
                frame.pop("ignore_regions_y", None)
            data["images"].append(frame)
            if frame["is_labeled"]:
                for ann in [a for a in data["annotations"] if a["image_id"] == first["id"]]:
                    moved = copy.deepcopy(ann)
                    moved["image_id"], moved["id"] = frame["id"], ann["id"] + 100 * t
                    points = np.asarray(moved["keypoints"], float).reshape(17, 3)
                    present = _present(points)
                    points[present, :2] += rng.normal(0, 20, (present.sum(), 2))
                    moved["keypoints"] = points.reshape(-1).tolist()
                    data["annotations"].append(moved)
        (gt_dir / path.name).write_text(json.dumps(data))
        annotations = []
        for image in data["images"]:
            persons = []
            for ann in [a for a in data["annotations"] if a["image_id"] == image["id"]]:
                if rng.random() < 0.1:
                    continue  # a missed person
                head = 0.6 * np.hypot(ann["bbox_head"][2], ann["bbox_head"][3])
                for _ in range(2 if rng.random() < 0.15 else 1):  # sometimes a duplicate
                    points = np.asarray(ann["keypoints"], float).reshape(17, 3)
                    points[:, :2] += rng.normal(0, head * rng.uniform(*noise), (17, 2))
                    persons.append(points)
            for _ in range(int(rng.integers(0, 3))):  # false positives anywhere
                persons.append(np.c_[rng.uniform(0, 1920, 17), rng.uniform(0, 1080, 17), np.zeros(17)])
            for track, points in enumerate(persons):
                scores = rng.uniform(0, 1, 17)
                scores = np.round(scores, 1) if ties else scores
                dropped = rng.random(17) < 0.1
                points[:, 2] = scores
                points[dropped] = 0
                scores[dropped] = 0
                annotations.append(
                    {
                        "image_id": image["id"],
                        "track_id": track,
                        "keypoints": points.reshape(-1).tolist(),
                        "scores": scores.tolist(),
                    }
                )
        images = [{"id": image["id"], "file_name": image["file_name"]} for image in data["images"]]
        prediction = {"images": images, "annotations": annotations, "categories": data["categories"]}
        (pred_dir / path.name).write_text(json.dumps(prediction))
    return gt_dir, pred_dir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--poseval", required=True, help="poseval checkout (the folder holding poseval/)")
    parser.add_argument("--extra-path", default=None, help="folder with shapely/click if not installed")
    parser.add_argument("--scenarios", type=int, default=200)
    args = parser.parse_args()
    sys.path.insert(0, args.poseval)
    if args.extra_path:
        sys.path.append(args.extra_path)
    import glob

    from poseval import eval_helpers
    from poseval.evaluateAP import evaluateAP

    unsorted_glob = glob.glob
    eval_helpers.glob.glob = lambda pattern: sorted(unsorted_glob(pattern))

    worst, totals = 0.0, []
    for seed in range(args.scenarios):
        with tempfile.TemporaryDirectory() as folder:
            gt_dir, pred_dir = make_scenario(seed, SAMPLES, Path(folder))
            with contextlib.redirect_stdout(io.StringIO()):
                gt_frames, pred_frames = eval_helpers.load_data_dir(["", f"{gt_dir}/", f"{pred_dir}/"])
                official, _, _ = evaluateAP(gt_frames, pred_frames, None, False, False)
                official_summary = np.array(eval_helpers.getCum(official), dtype=float)
            ours = evaluate_posetrack_folder(gt_dir, pred_dir)
        joints = np.array([ours["joint_ap"][name] for name in POSEVAL_JOINTS])
        summary = np.array([ours[name] for name in POSETRACK_METRICS])
        same = np.allclose(official[:15, 0], joints, equal_nan=True, atol=1e-9)
        same &= np.allclose(official_summary, summary, equal_nan=True, atol=1e-9)
        if not same:
            print(f"scenario {seed}: poseval {official_summary.round(4)} vipnas {summary.round(4)}")
            return 1
        worst = max(worst, float(np.nanmax(np.abs(official_summary - summary))))
        totals.append(summary[-1])
    print(
        f"{args.scenarios} scenarios: per-joint AP and Head..Total identical to poseval "
        f"(max |difference| {worst:.1e}); Total ranged {min(totals):.1f}..{max(totals):.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
