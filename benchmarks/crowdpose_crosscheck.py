"""Cross-check vipnas' CrowdPose metrics against the official ``crowdposetools`` on seeded predictions.

The official evaluator is not on PyPI. Take its source folder from the CrowdPose repository into a temporary
folder outside this checkout (it is run from there as an independent reference, never copied in):

    git clone https://github.com/Jeff-sjtu/CrowdPose /tmp/CrowdPose
    python benchmarks/crowdpose_crosscheck.py --crowdposetools /tmp/CrowdPose/crowdpose-api/PythonAPI/crowdposetools

(from a bare mirror: ``git --git-dir=MIRROR archive HEAD crowdpose-api | tar x -C /tmp/cp`` and pass
``--commit`` / ``--commit-date``, which a checkout gives by itself). ``--write`` rewrites the fixtures
``tests/fixtures/crowdpose_reference.json`` (cases and official numbers, read by
``tests/evaluation/test_coco_metric.py``) and ``tests/fixtures/crowdpose_synthetic.json``; ``--val-annotation
/tmp/CrowdPose/crowdpose-api/annotations/crowdpose_val.json`` adds two cases on the 2000 validation images
(printed, not stored).

Official tool on a current stack, two shims, both printed: its ``mask`` module needs a compiled C extension
(``_mask``); when it is not built, pycocotools' mask module stands in for that one import, wrapped to count calls.
Keypoint evaluation does not use masks (``cocoeval.computeIoU`` and ``_prepare``'s ``_toMask`` are for segm/bbox,
``coco.loadRes`` calls them only for ``segmentation`` results, ``annToRLE``/``annToMask`` are not called) and the
count is checked to stay 0. Its ``accumulate`` uses ``np.float``, removed in numpy 1.24: it is set to the builtin
``float`` it aliased.

Cases: the real 2-image CrowdPose sample (both images medium, ``crowdIndex`` 0.33 and 0.39) and a synthetic
CrowdPose-format file of made-up people whose overlap puts images in all three crowd bins, with
``crowdIndex`` computed as CrowdPose defines it (Li et al. 2019: the mean over persons of the other persons'
labelled joints inside the person's box, divided by the person's own labelled joints; persons with
``num_keypoints`` 0 left out; rounded to 2 decimals the numpy way; this reproduces 1597 of the 2000 values of
``crowdpose_val.json``, Python's ``round`` 1590). The official tool only reads ``crowdIndex``
(``COCOeval.split``: < 0.2 easy, < 0.8 medium, else hard); the synthetic file includes the boundary values 0.2
and 0.8, an ignored person (``num_keypoints`` 0 with labelled joints) and an ``iscrowd`` region. Predictions
per case: OKS-scaled joint noise, missed persons, joints written as (0, 0, 0), tied scores, duplicates, false
positives (more than the 20 detections per image that count), a results file with extra keys (``bbox``), and
all of them mixed (less the crowded image). Exit status 1 on any difference above 1e-9.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import importlib
import importlib.util
import io
import json
import shlex
import subprocess
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

import numpy as np

from vipnas.evaluation.coco import CROWDPOSE_METRICS, evaluate_coco_results

REPO = Path(__file__).resolve().parents[1]
REAL_FILE = "tests/fixtures/real/crowdpose/test_crowdpose.json"
SHARED_FILE = REPO.parent / "shared" / "real_samples" / "crowdpose" / "test_crowdpose.json"
SYNTHETIC_FILE = "tests/fixtures/crowdpose_synthetic.json"
REFERENCE_FILE = REPO / "tests" / "fixtures" / "crowdpose_reference.json"
# positions of our metric names in crowdposetools' 11 stats (3 and 4 stay 0: no small/medium AP for keypoints)
STAT_INDEX = {"AP": 0, "AP50": 1, "AP75": 2, "AR": 5, "AR50": 6, "AR75": 7, "APE": 8, "APM": 9, "APH": 10}
KINDS = ("noise", "missing_joints", "scores", "false_positives", "results_file", "mixed")
TOLERANCE = 1e-9
NUM_JOINTS = 14
# a standing person in a unit box, CrowdPose joint order (left_shoulder ... right_ankle, head, neck)
TEMPLATE = np.array(
    [
        [0.70, 0.22], [0.30, 0.22], [0.80, 0.38], [0.20, 0.38], [0.85, 0.52], [0.15, 0.52], [0.62, 0.55],
        [0.38, 0.55], [0.64, 0.75], [0.36, 0.75], [0.65, 0.96], [0.35, 0.96], [0.50, 0.03], [0.50, 0.15],
    ]
)  # fmt: skip


# ---------------------------------------------------------------------------------------------- official tool
class _CountingMask(types.ModuleType):
    """pycocotools.mask standing in for crowdposetools.mask; counts every call (keypoints should make none)."""

    def __init__(self) -> None:
        super().__init__("crowdposetools.mask")
        from pycocotools import mask

        self._mask = mask
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._mask, name)
        if not callable(value):
            return value

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return value(*args, **kwargs)

        return counted


def load_official(folder: Path) -> tuple[Any, Any, list[str], _CountingMask | None]:
    """Import crowdposetools' COCO and COCOeval from its source folder; return them, the shim notes, the mask stub."""
    if not (folder / "cocoeval.py").is_file():
        raise SystemExit(f"{folder}: no cocoeval.py (pass crowdpose-api/PythonAPI/crowdposetools)")
    notes, stub = [], None
    spec = importlib.util.spec_from_file_location(
        "crowdposetools", folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    assert spec is not None and spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    sys.modules["crowdposetools"] = package
    spec.loader.exec_module(package)
    try:
        importlib.import_module("crowdposetools.mask")
    except ImportError as error:
        stub = _CountingMask()
        sys.modules["crowdposetools.mask"] = stub
        package.mask = stub  # type: ignore[attr-defined]
        notes.append(
            f"crowdposetools._mask is not built ({error}): pycocotools.mask stands in for crowdposetools.mask "
            "(keypoint evaluation makes no mask call; counted)"
        )
    try:
        np.float  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError:
        np.float = float  # type: ignore[attr-defined]
        notes.append(f"numpy {np.__version__} has no np.float (crowdposetools' accumulate): set to builtin float")
    coco = importlib.import_module("crowdposetools.coco")
    cocoeval = importlib.import_module("crowdposetools.cocoeval")
    if not Path(cocoeval.__file__).resolve().is_relative_to(folder.resolve()):
        raise SystemExit(f"imported {cocoeval.__file__}, not the folder given")
    return coco.COCO, cocoeval.COCOeval, notes, stub


def run_official(coco_class: Any, eval_class: Any, annotation: Path, results: Path) -> dict[str, float]:
    """crowdposetools exactly as its demo.py: COCO(file), loadRes(file), evaluate, accumulate, summarize."""
    with contextlib.redirect_stdout(io.StringIO()):
        gt = coco_class(str(annotation))  # a path: get_type_result re-reads crowdIndex from gt.anno_file[0]
        evaluator = eval_class(gt, gt.loadRes(str(results)), "keypoints")  # a str: loadRes names `unicode` else
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {name: float(evaluator.stats[index]) for name, index in STAT_INDEX.items()}


def describe_source(folder: Path, commit: str | None, commit_date: str | None) -> dict[str, str | None]:
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, check=True)
        except (OSError, subprocess.CalledProcessError):
            return None
        return out.stdout.strip() or None

    return {
        "repository": "https://github.com/Jeff-sjtu/CrowdPose",
        "path": "crowdpose-api/PythonAPI/crowdposetools",
        "commit": commit or git("rev-parse", "HEAD"),
        "commit_date": commit_date or git("log", "-1", "--format=%cI"),
    }


# ------------------------------------------------------------------------------------------ synthetic people
def crowd_index(annotations: list[dict[str, Any]]) -> float:
    """CrowdPose's Crowd Index of one image, rounded to 2 decimals as the files store it (numpy's rounding)."""
    persons = [a for a in annotations if a["num_keypoints"] > 0 and not a["iscrowd"]]
    points = [np.asarray(a["keypoints"], float).reshape(-1, 3) for a in persons]
    ratios = []
    for i, person in enumerate(persons):
        own = np.count_nonzero(points[i][:, 2] > 0)
        if own == 0:
            continue
        x, y, w, h = person["bbox"]
        others = 0
        for j, other in enumerate(points):
            if j != i:
                inside = (other[:, 0] >= x) & (other[:, 0] <= x + w) & (other[:, 1] >= y) & (other[:, 1] <= y + h)
                others += int(np.count_nonzero(inside & (other[:, 2] > 0)))
        ratios.append(others / own)
    return float(np.round(np.mean(ratios), 2)) if ratios else 0.0  # numpy's rounding: 0.175 → 0.18, 0.225 → 0.22


def _person(rng: np.random.Generator, x: float, y: float, height: float, labelled: int | None = None) -> dict:
    width = 0.45 * height
    points = TEMPLATE * [width, height] + [x, y] + rng.normal(0, 0.015 * height, (NUM_JOINTS, 2))
    visible = rng.choice([2, 1, 0], p=[0.7, 0.2, 0.1], size=NUM_JOINTS)
    if labelled is not None:  # only `labelled` joints annotated, num_keypoints 0: CrowdPose's ignored persons
        visible = np.zeros(NUM_JOINTS, int)
        visible[rng.choice(NUM_JOINTS, labelled, replace=False)] = 1
    points = np.round(points).astype(int)
    points[visible == 0] = 0
    seen = points[visible > 0]
    x0, y0 = seen.min(0) - np.array([0.08 * width, 0.04 * height])
    x1, y1 = seen.max(0) + np.array([0.08 * width, 0.04 * height])
    keypoints = np.c_[points, visible].reshape(-1)
    return {
        "num_keypoints": 0 if labelled is not None else int(np.count_nonzero(visible)),
        "iscrowd": 0,
        "keypoints": [int(v) for v in keypoints],
        "bbox": [round(float(v), 2) for v in (x0, y0, x1 - x0, y1 - y0)],
        "category_id": 1,
    }


def make_synthetic(seed: int = 2019) -> dict[str, Any]:
    """Made-up CrowdPose-format annotations: 8 images of 640×480, crowd indices covering easy, medium and hard."""
    rng = np.random.default_rng(seed)
    targets = [  # (wanted crowdIndex range, extra)
        ((0.0, 0.0), None),
        ((0.05, 0.19), None),
        ((0.2, 0.2), None),  # the easy/medium boundary: medium
        ((0.3, 0.7), "ignored"),
        ((0.6, 0.79), None),
        ((0.8, 0.8), None),  # the medium/hard boundary: hard
        ((1.0, 1.6), "crowd"),
        ((0.85, 1.3), None),
    ]
    images, annotations = [], []
    for index, ((low, high), extra) in enumerate(targets):
        image_id = 900001 + index
        for _trial in range(200000):
            count = 1 if high == 0.0 else int(rng.integers(2, 6))
            height = rng.uniform(160, 300)
            step = rng.uniform(0.15, 1.3) * 0.45 * height
            people = []
            for k in range(count):
                x, y = 40 + k * step + rng.normal(0, 10), rng.uniform(20, 440 - height)
                people.append(_person(rng, x, y, height * rng.uniform(0.85, 1)))
            if low <= crowd_index(people) <= high:
                break
        else:
            raise RuntimeError(f"no layout with crowdIndex in [{low}, {high}]")
        if extra == "ignored":
            people.append(_person(rng, 400, 150, 200, labelled=2))
        if extra == "crowd":
            xs = [p["bbox"][0] for p in people] + [p["bbox"][0] + p["bbox"][2] for p in people]
            people.append(
                {
                    "num_keypoints": 0, "iscrowd": 1, "keypoints": [0] * (3 * NUM_JOINTS), "category_id": 1,
                    "bbox": [round(max(xs), 2), 10.0, round(630 - max(xs), 2), 200.0],
                }
            )  # fmt: skip
        images.append({"file_name": f"{image_id}.jpg", "id": image_id, "height": 480, "width": 640, "crowdIndex": 0.0})
        for k, person in enumerate(people):
            annotations.append({**person, "image_id": image_id, "id": image_id * 10 + k})
        images[-1]["crowdIndex"] = crowd_index(people)
    real = json.loads((REPO / REAL_FILE).read_text())
    return {"images": images, "annotations": annotations, "categories": real["categories"]}


# ----------------------------------------------------------------------------------------------- predictions
def make_predictions(gt: dict[str, Any], kind: str, seed: int) -> list[dict[str, Any]]:
    """COCO keypoint results for one case: [{image_id, category_id, keypoints [x, y, score]×14, score}]."""
    rng = np.random.default_rng([seed, KINDS.index(kind) if kind in KINDS else 99])
    mixed = kind == "mixed"
    sizes = {image["id"]: (image["width"], image["height"]) for image in gt["images"]}
    records = []

    def add(image_id: int, points: np.ndarray, score: float) -> None:
        joint_scores = rng.uniform(0.05, 1, NUM_JOINTS)
        if kind in ("missing_joints", "mixed"):
            dropped = rng.random(NUM_JOINTS) < rng.uniform(0.1, 0.4)
            points = points.copy()
            points[dropped] = 0  # not predicted, written as (0, 0, 0)
            joint_scores[dropped] = 0
        # whole pixels and one-decimal joint scores keep the fixture small (COCOeval ignores the joint scores)
        triples = [
            [int(x), int(y), float(s)] for (x, y), s in zip(np.round(points), np.round(joint_scores, 1), strict=True)
        ]
        record = {"image_id": image_id, "category_id": 1, "keypoints": [v for t in triples for v in t]}
        if kind in ("scores", "mixed"):
            score = round(score, 1)  # many ties, broken by order
        record["score"] = round(float(score), 4)
        if kind in ("results_file", "mixed"):  # extra keys of other writers: loadRes takes its bbox branch
            seen = points[(points != 0).any(1)] if (points != 0).any() else points
            x0, y0 = seen.min(0)
            x1, y1 = seen.max(0)
            record["bbox"] = [round(float(v), 2) for v in (x0, y0, x1 - x0, y1 - y0)]
        records.append(record)

    for ann in gt["annotations"]:
        points = np.asarray(ann["keypoints"], float).reshape(NUM_JOINTS, 3)
        if ann["iscrowd"] or (kind != "ground_truth" and rng.random() < 0.12):
            continue  # missed person
        x, y, w, h = ann["bbox"]
        unlabelled = points[:, 2] == 0
        guess = np.c_[rng.uniform(x, x + w, NUM_JOINTS), rng.uniform(y, y + h, NUM_JOINTS)]
        xy = np.where(unlabelled[:, None], guess, points[:, :2])
        if kind == "ground_truth":
            add(ann["image_id"], xy, 1.0)
            continue
        scale = np.sqrt(0.53 * w * h)
        noisy = xy + rng.normal(0, scale * rng.uniform(0.005, 0.12), xy.shape)
        add(ann["image_id"], noisy, rng.uniform(0.2, 1))
        if kind in ("scores", "mixed") and rng.random() < 0.35:  # a duplicate, noisier
            add(ann["image_id"], noisy + rng.normal(0, scale * 0.08, xy.shape), rng.uniform(0.1, 1))
    if kind in ("false_positives", "mixed"):
        crowded = gt["images"][int(rng.integers(len(gt["images"])))]["id"]
        for image_id, (width, height) in sizes.items():
            extra = int(rng.integers(1, 4)) + (20 if image_id == crowded and not mixed else 0)  # > maxDets 20
            for _ in range(extra):
                size = rng.uniform(80, min(300, height, width / 0.45))
                corner = rng.uniform(0, width - 0.45 * size), rng.uniform(0, height - size)
                points = TEMPLATE * [0.45 * size, size] + corner
                add(image_id, points + rng.normal(0, 5, points.shape), rng.uniform(0, 1))
    return records


# ------------------------------------------------------------------------------------------------------ main
def run_cases(
    official: tuple[Any, Any], annotation: Path, label: str, kinds: tuple[str, ...], seeds: range, folder: Path
) -> list[dict[str, Any]]:
    gt = json.loads(annotation.read_text())
    cases = []
    for kind in kinds:
        for seed in seeds if kind != "ground_truth" else range(1):
            predictions = make_predictions(gt, kind, seed)
            results = folder / f"{label}-{kind}-{seed}.json"
            results.write_text(json.dumps(predictions, indent=1 if kind == "results_file" else None))
            reference = run_official(*official, annotation, results)
            ours = evaluate_coco_results(annotation, results, "CROWDPOSE")
            cases.append(
                {
                    "name": f"{label}-{kind}-{seed}",
                    "kind": kind,
                    "seed": seed,
                    "predictions": predictions,
                    "official": reference,
                    "vipnas": {name: float(ours[name]) for name in CROWDPOSE_METRICS},
                }
            )
    return cases


def dump_lines(data: dict[str, Any]) -> str:
    """JSON with one line per key, and one line per item of a list value (readable diffs, small files)."""

    def compact(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"))

    lines = []
    for key, value in data.items():
        if isinstance(value, list):
            items = ",\n".join(f"  {compact(item)}" for item in value)
            lines.append(f"{compact(key)}: [\n{items}\n]")
        else:
            lines.append(f"{compact(key)}: {compact(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def print_table(cases: list[dict[str, Any]]) -> float:
    names = list(CROWDPOSE_METRICS)
    print(f"{'case':<34} {'':<8}" + "".join(f"{name:>9}" for name in names) + f"{'max |Δ|':>10}")
    worst = 0.0
    for case in cases:
        official = np.array([case["official"][n] for n in names])
        ours = np.array([case["vipnas"][n] for n in names])
        diff = float(np.max(np.abs(official - ours)))
        worst = max(worst, diff)
        print(f"{case['name']:<34} {'official':<8}" + "".join(f"{v:9.4f}" for v in official))
        print(f"{'':<34} {'vipnas':<8}" + "".join(f"{v:9.4f}" for v in ours) + f"{diff:10.1e}")
        for name, a, b in zip(names, official, ours, strict=True):
            if abs(a - b) > TOLERANCE:
                print(f"  DIFFERENCE {case['name']} {name}: official {a!r} vipnas {b!r} (Δ {b - a:+.3e})")
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crowdposetools", required=True, type=Path, help="the crowdposetools source folder")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per kind of prediction")
    parser.add_argument("--write", action="store_true", help="rewrite the reference and synthetic fixtures")
    parser.add_argument("--commit", help="crowdposetools commit (found by git when the folder is a checkout)")
    parser.add_argument("--commit-date", help="its date (idem)")
    parser.add_argument("--val-annotation", type=Path, help="crowdpose_val.json: two more cases, not stored")
    args = parser.parse_args()
    coco_class, eval_class, notes, stub = load_official(args.crowdposetools)
    source = describe_source(args.crowdposetools, args.commit, args.commit_date)
    if args.write and not source["commit"]:
        raise SystemExit(f"{args.crowdposetools} is not a git checkout: pass --commit (and --commit-date)")
    commit = source["commit"] or "(commit unknown)"
    print(f"crowdposetools {commit} ({source['commit_date']}) from {args.crowdposetools}")
    for note in notes:
        print(f"note: {note}")
    official = (coco_class, eval_class)
    seeds = range(args.seeds)
    synthetic = make_synthetic()
    synthetic_text = dump_lines(synthetic)
    if args.write:
        (REPO / SYNTHETIC_FILE).write_text(synthetic_text)
    elif (REPO / SYNTHETIC_FILE).read_text() != synthetic_text:
        print(f"{SYNTHETIC_FILE} differs from what make_synthetic() writes: rerun with --write")
        return 1
    bins = [image["crowdIndex"] for image in synthetic["images"]]
    print(f"synthetic crowdIndex: {bins} (easy < 0.2 <= medium < 0.8 <= hard)")
    real = json.loads((REPO / REAL_FILE).read_text())
    print(f"real sample crowdIndex: {[image['crowdIndex'] for image in real['images']]} (medium only)")
    groups = {REAL_FILE: ("real", KINDS), SYNTHETIC_FILE: ("synthetic", ("ground_truth", *KINDS))}
    stored, extra = [], []
    with tempfile.TemporaryDirectory() as folder:
        for path, (label, kinds) in groups.items():
            for case in run_cases(official, REPO / path, label, kinds, seeds, Path(folder)):
                stored.append({"annotation": path, **case})
        if SHARED_FILE.is_file() and SHARED_FILE.read_bytes() != (REPO / REAL_FILE).read_bytes():
            extra += run_cases(official, SHARED_FILE, "shared", KINDS, seeds, Path(folder))
        elif SHARED_FILE.is_file():
            print(f"{SHARED_FILE} is byte-identical to {REAL_FILE}: no separate cases")
        if args.val_annotation:
            extra += run_cases(official, args.val_annotation, "val", ("noise", "mixed"), range(1), Path(folder))
    worst = print_table(stored + extra)
    if stub is not None:
        print(f"mask calls made by crowdposetools: {len(stub.calls)} {sorted(set(stub.calls))}")
        if stub.calls:
            return 1
    print(f"{len(stored + extra)} cases, max |official − vipnas| = {worst:.1e} (tolerance {TOLERANCE:g})")
    if args.write:
        reference = {
            "description": "crowdposetools' CrowdPose keypoint stats on seeded predictions: see the script",
            "command": shlex.join(["python", "benchmarks/crowdpose_crosscheck.py", *sys.argv[1:]]),
            "crowdposetools": source,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "notes": notes,
            "annotations": {path: hashlib.sha256((REPO / path).read_bytes()).hexdigest() for path in groups},
            "cases": [{key: value for key, value in case.items() if key != "vipnas"} for case in stored],
        }
        REFERENCE_FILE.write_text(dump_lines(reference))
        print(f"wrote {REFERENCE_FILE.relative_to(REPO)} ({REFERENCE_FILE.stat().st_size // 1024} KB)")
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
