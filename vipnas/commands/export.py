"""``vipnas export MODEL``: an S-ViPNet or T-ViPNet checkpoint deployed for ONNX Runtime or OpenVINO at fp32, bf16
or int8, checked (outputs against torch; AP with --val) before its folder is written (see docs/deploy.md)."""

from __future__ import annotations

import argparse

HELP = "deploy a network for ONNX Runtime or OpenVINO (fp32, bf16, int8), its outputs and AP checked"
EXAMPLES = [
    "vipnas export searched.pth --backend openvino --precision fp32 --out deploy/searched-ov-fp32",
    "vipnas export searched.pth --backend openvino --precision int8 --calibration synth/annotations/train.json "
    "--calibration-images synth/images/train --val synth/annotations/val.json --val-images synth/images/val "
    "--out deploy/searched-ov-int8",
    "vipnas export searched.pth --backend onnxruntime --precision int8 --calibration train.json "
    "--calibration-images train --val val.json --val-images val --max-drop 0.02 --out deploy/ort-int8",
    "vipnas eval deploy/searched-ov-int8 --data COCO --ann val.json --images val      # evaluate a deployment",
    "vipnas video clip.mp4 --model deploy/searched-ov-int8 --detector gt:clip.json    # run one",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vipnas.commands import positive_int
    from vipnas.deploy.manifest import PRECISIONS

    parser.add_argument("model", help="a static network checkpoint (vipnas extract, demo, train) or a T-ViPNet's")
    parser.add_argument("--backend", required=True, choices=tuple(PRECISIONS), help="the runtime")
    parser.add_argument(
        "--precision",
        default="fp32",
        choices=("fp32", "bf16", "int8"),
        help="; ".join(f"{b}: {', '.join(p)}" for b, p in PRECISIONS.items()),
    )
    parser.add_argument("--out", required=True, help="the deployment folder to write")
    parser.add_argument("--data", type=str.upper, default="COCO", help="dataset protocol of the data below")
    parser.add_argument("--calibration", default=None, help="training annotation file for int8 calibration crops")
    parser.add_argument("--calibration-images", default=None, help="its image root")
    parser.add_argument("--calibration-count", type=positive_int, default=300, help="calibration crops")
    parser.add_argument("--val", default=None, help="validation annotation: AP of torch fp32 vs the deployment")
    parser.add_argument("--val-images", default=None, help="its image root")
    parser.add_argument("--no-flip", action="store_true", help="AP check without flip test")
    parser.add_argument("--max-drop", type=float, default=0.01, help="refuse a larger AP drop (fraction; 0.01)")
    parser.add_argument("--force", action="store_true", help="export a refused precision anyway (recorded)")
    parser.add_argument("--threads", type=positive_int, default=1, help="runtime threads for the checks")


def run(args: argparse.Namespace) -> int:
    from vipnas.deploy.build import Calibration, CheckData, export_deployment
    from vipnas.models.checkpoint import load_model

    for option, images in (("--calibration", args.calibration_images), ("--val", args.val_images)):
        given = getattr(args, option[2:])
        if (given is None) != (images is None):
            raise ValueError(f"{option} and {option}-images go together")
    model = load_model(args.model)
    if not hasattr(model, "metadata") or type(model).__name__ not in ("PoseNetwork", "TemporalNetwork"):
        raise ValueError(f"{args.model}: a {type(model).__name__}; export a static network (vipnas extract one)")
    calibration = (
        Calibration(args.data, args.calibration, args.calibration_images, args.calibration_count)
        if args.calibration
        else None
    )
    check = CheckData(args.data, args.val, args.val_images, flip=not args.no_flip) if args.val else None
    deployment = export_deployment(
        model, args.out, backend=args.backend, precision=args.precision, calibration=calibration, check=check,
        max_drop=args.max_drop, force=args.force, threads=args.threads,
    )  # fmt: skip
    agreement = deployment.checks.get("agreement", {})
    print(f"{args.out}: {deployment.backend} {deployment.precision} ({deployment.file})")
    if agreement:
        shift = agreement["keypoint_shift_mean_px"]
        print(f"  vs torch fp32 on {agreement['crops']} crops: keypoints moved {shift:.3f} px on average "
              f"(max {agreement['keypoint_shift_max_px']:.2f}), max |heatmap difference| "
              f"{agreement['heatmap_max_abs_difference']:.2e}")  # fmt: skip
    accuracy = deployment.checks.get("accuracy")
    if accuracy:
        print(f"  {accuracy['metric']} torch fp32 {accuracy['torch_fp32']:.4f}, deployed {accuracy['deployed']:.4f} "
              f"(drop {accuracy['drop']:+.4f}, allowed {args.max_drop})")  # fmt: skip
    if deployment.checks.get("forced"):
        print(f"  FORCED: {deployment.checks['forced']}")
    return 0
