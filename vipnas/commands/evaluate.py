"""``vipnas eval``: evaluate a model (or an existing predictions file) with the dataset's official protocol."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from vipnas.commands import device

HELP = "evaluate a model or a predictions file: COCO/CrowdPose AP, PoseTrack18 mAP, MPII PCKh"
EXAMPLES = [
    "vipnas eval s_vipnas_res50.pth --data COCO --ann coco/annotations/person_keypoints_val2017.json "
    "--images coco/val2017 --det-boxes COCO_val2017_detections_AP_H_56_person.json --out runs/eval",
    "vipnas eval model.pth --data POSETRACK --ann posetrack18/annotations/val --images posetrack18 --no-flip",
    "vipnas eval model.pth --data COCO --ann val.json --images val2017 --codec dark   # decode as DARK",
    "vipnas eval model.pth --data MPII --ann mpii/annotations/mpii_val.json --images mpii/images "
    "--head-boxes mpii/annotations/mpii_gt_val.mat",
    "vipnas eval --preds runs/eval/keypoints.json --ann person_keypoints_val2017.json --data COCO --json",
    "vipnas eval --preds runs/eval/posetrack_predictions --ann posetrack18/annotations/val --data POSETRACK",
    "vipnas eval --preds runs/video/posetrack --ann posetrack18/annotations/val --data POSETRACK --tracking",
]

_DATASETS = ("COCO", "POSETRACK", "MPII", "CROWDPOSE")


# the tracking figures poseval prints (the per-joint and per-group rest goes under "tracking")
TRACKING_HEADLINE = ("MOTA_Total", "MOTP_Total", "Precision_Total", "Recall_Total")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model",
        nargs="?",
        help="vipnas checkpoint, deployment folder (vipnas export) or registered model name (omit with --preds)",
    )
    parser.add_argument("--data", required=True, type=str.upper, choices=_DATASETS, help="dataset protocol")
    parser.add_argument(
        "--ann", required=True, help="ground truth: COCO-style JSON, PoseTrack18 per-video folder, or MPII JSON"
    )
    parser.add_argument("--images", help="image root that the annotation's file names are relative to")
    parser.add_argument("--preds", help="evaluate this predictions file/folder as it is instead of running a model")
    parser.add_argument("--det-boxes", help="detector results [{image_id, bbox, score}] (default: ground-truth boxes)")
    parser.add_argument("--det-score-thr", type=float, default=0.0, help="drop detections below this score")
    parser.add_argument("--flip", action=argparse.BooleanOptionalAction, default=True, help="flip test")
    parser.add_argument(
        "--codec",
        metavar="msra|dark|udp",
        help="heatmap codec (crop affine and decoding; default: the one the checkpoint recorded, else msra)",
    )
    parser.add_argument("--out", help="folder for results files and metrics.json")
    parser.add_argument("--head-boxes", help="MPII head boxes (mpii_gt_val.mat or JSON) for PCKh")
    parser.add_argument(
        "--nms",
        choices=("oks", "soft", "none"),
        default="oks",
        help="instance NMS of a model's predictions: greedy OKS-NMS (MMPose's default), soft OKS-NMS, or none; "
        "--preds files are evaluated as they are",
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="data loader workers")
    parser.add_argument("--device", type=device, default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument(
        "--tracking",
        action="store_true",
        help="also PoseTrack's tracking metrics (MOTA, MOTP, precision, recall, as the official poseval) of a "
        "--preds folder of per-video files with track_id per person",
    )
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def format_table(metrics: dict[str, Any]) -> str:
    """The headline metrics as two aligned rows (names, values); nested per-joint entries are left out."""
    items = [(name, value) for name, value in metrics.items() if isinstance(value, (int, float))]
    percent = any(name in metrics for name in ("Total", "PCKh"))  # poseval and MPII report percentages
    cells = [(name, "nan" if math.isnan(v) else f"{v:.1f}" if percent else f"{v:.3f}") for name, v in items]
    widths = [max(len(name), len(text)) for name, text in cells]
    header = " | ".join(name.rjust(width) for (name, _), width in zip(cells, widths, strict=True))
    values = " | ".join(text.rjust(width) for (_, text), width in zip(cells, widths, strict=True))
    return f"{header}\n{values}"


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _load(source: str) -> Any:
    from vipnas.deploy.manifest import is_deployment
    from vipnas.models.checkpoint import load_model
    from vipnas.models.registry import create_model, list_models

    if is_deployment(source):  # vipnas export's folder: run by its runtime (ONNX Runtime, OpenVINO)
        from vipnas.deploy.network import load_deployment

        return load_deployment(source)
    if Path(source).is_file():
        return load_model(source)
    if source in list_models():
        print(f"vipnas eval: warning: {source!r} is a model name: evaluating randomly initialised weights",
              file=sys.stderr)  # fmt: skip
        return create_model(source)
    raise FileNotFoundError(f"{source!r} is neither a checkpoint file, a deployment folder nor a registered model name")


def run(args: argparse.Namespace) -> int:
    from vipnas.commands import writable_folder
    from vipnas.data.files import write_json_atomic
    from vipnas.evaluation.pipeline import evaluate_model, evaluate_predictions_file

    if args.out is not None:
        writable_folder(args.out)
    if (args.preds is None) == (args.model is None):
        raise ValueError("give either a model (checkpoint or name) or --preds FILE_OR_DIR, not both or neither")
    if args.codec is not None:
        from vipnas.codec import check_codec_name

        check_codec_name(args.codec, "--codec")  # before loading anything: a one-line error
        if args.preds is not None:
            raise ValueError("--codec decodes a model's heatmaps; --preds files are already decoded")
    if args.tracking and (args.preds is None or args.data != "POSETRACK"):
        raise ValueError("--tracking scores a --preds folder of PoseTrack18 per-video files (--data POSETRACK)")
    if args.preds is not None:
        metrics = evaluate_predictions_file(args.data, args.ann, args.preds, head_boxes=args.head_boxes)
        if args.tracking:
            from vipnas.evaluation.tracking import evaluate_posetrack_tracking

            found = evaluate_posetrack_tracking(args.ann, args.preds)
            metrics.update({name: found[name] for name in TRACKING_HEADLINE})
            metrics["tracking"] = found
    else:
        if args.images is None:
            raise ValueError("evaluating a model needs --images (the image root of the annotation file)")
        metrics, _ = evaluate_model(
            _load(args.model),
            args.data,
            args.ann,
            args.images,
            det_boxes=args.det_boxes,
            det_score_threshold=args.det_score_thr,
            flip=args.flip,
            codec=args.codec,
            out_dir=args.out,
            head_boxes=args.head_boxes,
            nms=args.nms,
            batch_size=args.batch_size,
            workers=args.workers,
            device=args.device,
            progress=not args.json and sys.stderr.isatty(),
        )
    if args.out is not None:
        write_json_atomic(Path(args.out) / "metrics.json", _json_ready(metrics))
    if args.json:
        headline = {name: value for name, value in metrics.items() if not isinstance(value, dict)}
        print(json.dumps(_json_ready(headline)))
    else:
        print(format_table(metrics))
    return 0
