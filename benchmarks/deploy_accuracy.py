"""Accuracy and speed of every deployment path (``vipnas export``) on trained networks, on SynthPose.

    python benchmarks/deploy_accuracy.py                                   # the shipped supernet's networks
    python benchmarks/deploy_accuracy.py --checkpoints runs/deploy/train-mbv3/checkpoints/best.pth,...

For each network (trained: random weights say nothing about a precision's accuracy): the COCO AP (pycocotools, flip
test, ground-truth boxes) of the torch fp32 network and of each deployment (ONNX Runtime fp32 / int8 QDQ, OpenVINO
fp32 / bf16 / NNCF int8) on a SynthPose easy validation set that calibration never reads; int8 is calibrated with
``--seeds`` different draws of training crops, so its AP drop is reported as mean ± sample std over those seeds.
Speed: batch-1 latency of torch eager (BatchNorm folded) and of each deployment on ``--threads`` threads, the
configurations interleaved over ``--rounds`` rounds of ``--runs`` calls; medians, and the speed-up over torch.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _machine import footer, header

PATHS = (("onnxruntime", "fp32"), ("onnxruntime", "int8"), ("openvino", "fp32"), ("openvino", "bf16"),
         ("openvino", "int8"))  # fmt: skip


def networks(checkpoints: list[str], calibration) -> dict:
    """The shipped SynthPose supernet's largest and smallest networks (BatchNorm recalibrated on 256 training
    crops, as the demo evaluates them) and the given checkpoints."""
    import torch

    import vipnas
    from vipnas.demo import PRETRAINED
    from vipnas.deploy.build import calibration_inputs
    from vipnas.engine.batchnorm import recalibrate_bn

    found = {}
    supernet = vipnas.load_model(PRETRAINED)
    for which in ("largest", "smallest"):
        network = supernet.extract_subnet(getattr(supernet.space, which)(), name=which)
        images = torch.cat([torch.from_numpy(item["image"]) for item in calibration_inputs(network, calibration)])
        found[f"demo supernet {which}"] = recalibrate_bn(network, None, list(images.split(32))).eval()
    for path in checkpoints:
        model = vipnas.load_model(path).eval()
        folders = [part for part in Path(path).parent.parts if part not in ("train", "checkpoints")]
        found[f"{folders[-1] if folders else model.metadata.name}"] = model
    return found


def latency(call, inputs, runs: int) -> float:
    """Median milliseconds of ``runs`` calls (after 3 warm-up calls)."""
    for _ in range(3):
        call(inputs)
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        call(inputs)
        times.append(time.perf_counter() - began)
    return 1e3 * statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", default="", help="more trained static networks (comma list)")
    parser.add_argument("--seeds", default="0,1,2", help="int8 calibration seeds")
    parser.add_argument("--calibration", type=int, default=200, help="calibration crops")
    parser.add_argument("--images", type=int, default=600, help="SynthPose images (half train, half validation)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=40, help="timed calls per configuration and round")
    parser.add_argument("--paths", default=",".join(f"{b}:{p}" for b, p in PATHS))
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    start = header(f"vipnas export: AP and latency per runtime and precision ({args.threads} thread(s))")

    import torch

    from vipnas.data import synthpose
    from vipnas.data.synthpose.generate import SynthPoseLayout
    from vipnas.deploy.build import Calibration, CheckData, export_deployment
    from vipnas.deploy.network import load_deployment
    from vipnas.evaluation.pipeline import evaluate_model
    from vipnas.models.fuse import fold_batchnorm

    torch.set_num_threads(args.threads)
    paths = [tuple(item.split(":")) for item in args.paths.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    report = []
    with tempfile.TemporaryDirectory(prefix="vipnas-deploy-bench-") as folder:
        root = Path(folder)
        synthpose.generate(root / "synth", images=args.images, val_fraction=0.5, seed=11, workers=1, progress=False)
        layout = SynthPoseLayout(root / "synth")
        check = CheckData("COCO", str(layout.annotations("val")), str(layout.images("val")))
        print(f"data: SynthPose easy, {args.images // 2} validation images (AP), calibration from the training half")
        recalibration = Calibration("COCO", str(layout.annotations("train")), str(layout.images("train")), 256, 99)
        for name, network in networks([c for c in args.checkpoints.split(",") if c], recalibration).items():
            metrics, _ = evaluate_model(network, "COCO", check.annotation, check.images)
            row = {"network": name, "input_size": list(network.metadata.input_size), "torch_fp32_AP": metrics["AP"],
                   "paths": {}}  # fmt: skip
            deployed = {}
            for backend, precision in paths:
                runs = []
                for seed in seeds if precision == "int8" else [None]:
                    calibration = Calibration(
                        "COCO", str(layout.annotations("train")), str(layout.images("train")), args.calibration,
                        seed or 0,
                    )  # fmt: skip
                    out = root / "out" / f"{name}-{backend}-{precision}-{seed}".replace(" ", "_")
                    deployment = export_deployment(
                        network, out, backend=backend, precision=precision, calibration=calibration, check=check,
                        max_drop=1.0, threads=args.threads,
                    )  # fmt: skip
                    runs.append(deployment.checks)
                    deployed.setdefault((backend, precision), out)
                drops = [r["accuracy"]["drop"] for r in runs]
                entry = row["paths"][f"{backend} {precision}"] = {
                    "AP": [r["accuracy"]["deployed"] for r in runs],
                    "drop": drops,
                    "drop_mean": statistics.mean(drops),
                    "drop_std": statistics.stdev(drops) if len(drops) > 1 else 0.0,
                    "keypoint_shift_mean_px": statistics.mean(r["agreement"]["keypoint_shift_mean_px"] for r in runs),
                }
                print(f"  {name:32s} {backend:11s} {precision:4s} AP {statistics.mean(entry['AP']):.4f} "
                      f"(torch {row['torch_fp32_AP']:.4f}; drop {entry['drop_mean']:+.4f} ± {entry['drop_std']:.4f})",
                      flush=True)  # fmt: skip
            # latency, interleaved: torch eager (BN folded) and the first deployment of each path
            folded = fold_batchnorm(network.eval()).eval()
            height, width = network.metadata.input_size
            crops = np.random.default_rng(0).standard_normal((1, 3, height, width)).astype(np.float32)
            sessions = {key: load_deployment(path, threads=args.threads) for key, path in deployed.items()}

            def eager(x, model=folded):
                with torch.inference_mode():
                    return model(torch.from_numpy(x))

            calls = {
                "torch eager": eager,
                **{f"{b} {p}": (lambda x, s=s: s.backend(x)) for (b, p), s in sessions.items()},
            }
            times: dict[str, list[float]] = {key: [] for key in calls}
            for _ in range(args.rounds):
                for key, call in calls.items():
                    times[key].append(latency(call, crops, args.runs))
            row["latency_ms"] = {key: statistics.median(values) for key, values in times.items()}
            row["latency_rounds_ms"] = times
            base = row["latency_ms"]["torch eager"]
            speeds = ", ".join(f"{k} {v:.2f} ({base / v:.1f}x)" for k, v in row["latency_ms"].items())
            print(f"  {name:32s} latency ms: {speeds}", flush=True)
            report.append(row)
    print(f"\n{'network':34s} {'torch AP':>8s}  " + "  ".join(f"{b[:4]} {p:4s} drop" for b, p in paths))
    for row in report:
        cells = []
        for backend, precision in paths:
            entry = row["paths"][f"{backend} {precision}"]
            cells.append(f"{entry['drop_mean']:+.4f}±{entry['drop_std']:.4f}")
        print(f"{row['network']:34s} {row['torch_fp32_AP']:8.4f}  " + "  ".join(f"{c:>15s}" for c in cells))
    print(
        f"\n{'network':34s} "
        + "  ".join(f"{k:>14s}" for k in report[0]["latency_ms"])
        + "   (ms, batch 1; × torch eager)"
    )
    for row in report:
        base = row["latency_ms"]["torch eager"]
        print(f"{row['network']:34s} " + "  ".join(f"{v:7.2f} ({base / v:3.1f}x)" for v in row["latency_ms"].values()))
    if args.json:
        Path(args.json).write_text(
            json.dumps({"threads": args.threads, "seeds": seeds, "rows": report}, indent=1) + "\n"
        )
    footer(start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
