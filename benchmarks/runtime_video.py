"""End-to-end speed of the online runtime (``vipnas.runtime.PoseStream``), with accuracy beside it.

    python benchmarks/runtime_video.py --run runs/demo-video-seed0          # its key network and T-ViPNets
    python benchmarks/runtime_video.py --run runs/demo-video-seed0 --rounds 3 --threads 1,2

Networks: S-ViPNAS-Res50 and S-ViPNAS-MBv3 (the paper's, untrained here: speed only), the video demo's key
network (S-ViPNet) on every frame, its searched S-ViPNAS network (``s_vipnas/s_vipnet.pth``, Table 3's S-ViPNAS row)
on every frame, and the demo's T-ViPNAS schedule (key frame every T+1 frames, T-ViPNets in between, the same
per-frame average MACs budget as the S-ViPNAS search); each on torch and ONNX Runtime (and OpenVINO when installed),
on 1 and 2 threads. Inputs: the SynthPose validation videos of the run
(ground-truth boxes, ``gt:`` detector) and the real clips of ``../shared/real_samples`` when present (``video/demo.mp4``
and the PoseTrack18 sample video, with a fixed grid of person boxes, since no detector weights ship: speed only).
``--detector onnx:PATH`` (a person detector of your own, docs/runtime.md) runs it on the real clips instead of the
grid, every ``--every`` frames, so that its time enters the breakdown.
Configurations are interleaved over ``--rounds`` rounds; each figure is the median over rounds of frames/s and of
milliseconds per person, with the per-stage breakdown (detect, track, crop, infer, decode) of the last round.
On SynthPose the PoseTrack mAP (vipnas's poseval) and MOTA of the stream's outputs are printed beside the speed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from _machine import footer, header

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "real_samples"


def grid_detector(people: int):
    """``people`` fixed boxes in a row across the middle of the frame (speed runs on clips without boxes)."""

    def detect(image, index):
        height, width = image.shape[:2]
        step = width / people
        boxes = [[i * step + 0.1 * step, 0.15 * height, (i + 0.9) * step, 0.95 * height] for i in range(people)]
        return SimpleNamespace(boxes=np.asarray(boxes, np.float64), scores=np.ones(people))

    return detect


def make_stream(key, nets, backend: str, threads: int, detector, folder: Path, every: int = 1):
    import torch

    from vipnas.codec import codec_for_model
    from vipnas.models.export import export_onnx
    from vipnas.runtime.backends import make_backend
    from vipnas.runtime.crops import CropSettings
    from vipnas.runtime.stream import PoseStream, StreamConfig

    torch.set_num_threads(threads)

    def wrap(network, name):
        onnx = None
        if backend != "torch":
            onnx = folder / f"{name}.onnx"
            if not onnx.is_file():
                export_onnx(network, onnx)
        return make_backend(backend, network, onnx, threads=threads)

    return PoseStream(
        wrap(key, f"{key.metadata.name}-key"),
        [wrap(net, f"{key.metadata.name}-t{i}") for i, net in enumerate(nets, 1)],
        CropSettings.for_metadata(key.metadata),
        codec_for_model(key.metadata),
        detector,
        StreamConfig(detect_every=every),
    )


def run_clip(stream, frames: list) -> dict:
    began = time.perf_counter()
    people, stages = 0, {}
    results = []
    for index, image in enumerate(frames):
        result = stream.step(image, index, index / 30)
        people += len(result.people)
        for stage, seconds in result.timings.items():
            stages[stage] = stages.get(stage, 0.0) + seconds
        results.append(result)
    elapsed = time.perf_counter() - began
    return {"fps": len(frames) / elapsed, "ms_per_person": 1e3 * elapsed / max(people, 1), "stages": stages,
            "frames": len(frames), "results": results}  # fmt: skip


def accuracy(results_per_video: dict, gt_folder: Path, info) -> dict:
    """PoseTrack mAP and MOTA of the stream's outputs on the SynthPose videos."""
    from vipnas.evaluation.posetrack import evaluate_posetrack_folder
    from vipnas.evaluation.tracking import evaluate_posetrack_tracking
    from vipnas.runtime.detectors import GroundTruthDetector
    from vipnas.runtime.outputs import VideoOutputs

    with tempfile.TemporaryDirectory() as folder:
        truth = Path(folder) / "truth"
        truth.mkdir()
        for name, results in results_per_video.items():  # the ground truth of the frames run
            gt = json.loads((gt_folder / f"{name}.json").read_text())
            gt["images"] = sorted(gt["images"], key=lambda image: image["frame_id"])[: len(results)]
            kept = {image["id"] for image in gt["images"]}
            gt["annotations"] = [a for a in gt["annotations"] if a["image_id"] in kept]
            (truth / f"{name}.json").write_text(json.dumps(gt))
        for name, results in results_per_video.items():
            images = GroundTruthDetector.from_file(truth / f"{name}.json").images  # the detector's frame order
            outputs = VideoOutputs(folder, name, 30.0, (64, 64), info, images=images, video=False)
            for result in results:
                outputs.add(None, result)
            outputs.close()
        found = evaluate_posetrack_folder(truth, Path(folder) / "posetrack")
        tracking = evaluate_posetrack_tracking(truth, Path(folder) / "posetrack")
    return {"mAP": found["Total"], "MOTA": tracking["MOTA_Total"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="runs/demo-video-seed0", help="a vipnas demo --video folder")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--backends", default="torch,onnxruntime")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--videos", type=int, default=4, help="SynthPose validation videos")
    parser.add_argument("--frames", type=int, default=24, help="first N frames of each SynthPose video")
    parser.add_argument("--people", type=int, default=2, help="boxes per frame on the real clips")
    parser.add_argument("--models", default="", help="only networks whose name contains one of these (comma list)")
    parser.add_argument("--detector", default=None, help="onnx:PATH person detector for the real clips")
    parser.add_argument("--every", type=int, default=1, help="detector cadence on the real clips (with --detector)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    start = header("vipnas.runtime.PoseStream end to end (frames/s, ms per person)")

    import cv2

    from vipnas.data.metadata import get_dataset_info
    from vipnas.models.checkpoint import load_model
    from vipnas.models.registry import create_model
    from vipnas.runtime.detectors import GroundTruthDetector, build_detector

    run = Path(args.run)
    key = load_model(next(run.glob("key-*/key.pth"))).eval()
    nets = [load_model(p).eval() for p in sorted((run / "t_vipnas").glob("t_vipnet_frame*.pth"))]
    models = {
        "S-ViPNAS-Res50 (untrained)": (create_model("s_vipnas_res50").eval(), []),
        "S-ViPNAS-MBv3 (untrained)": (create_model("s_vipnas_mbv3").eval(), []),
        "S-ViPNet key every frame": (key, []),
        f"T-ViPNAS (T={len(nets)})": (key, nets),
    }
    searched = run / "s_vipnas" / "s_vipnet.pth"
    if searched.is_file():
        models = {**dict(list(models.items())[:3]), "S-ViPNAS searched every frame": (load_model(searched).eval(), []),
                  **dict(list(models.items())[3:])}  # fmt: skip
    else:
        print(f"(no {searched}: rerun vipnas demo --video on this folder to write the searched S-ViPNet)")
    if args.models:
        wanted = args.models.split(",")
        models = {name: value for name, value in models.items() if any(w in name for w in wanted)}
    gt_folder = next(run.glob("videos-*/synthpose/posetrack/annotations/val"))
    root = gt_folder.parents[1]
    clips: dict[str, tuple[list, object, str]] = {}
    for gt in sorted(gt_folder.glob("*.json"))[: args.videos]:
        frames = [cv2.imread(str(p)) for p in sorted((root / "images" / "val" / gt.stem).glob("*.jpg"))[: args.frames]]
        clips[gt.stem] = (frames, GroundTruthDetector.from_file(gt), "synthpose")
    for video in (REAL / "video" / "demo.mp4", REAL / "posetrack18/videos/000001_mpiinew_test/000001_mpiinew_test.mp4"):
        if video.is_file():
            capture, frames = cv2.VideoCapture(str(video)), []
            ok, image = capture.read()
            while ok and len(frames) < 90:
                frames.append(image)
                ok, image = capture.read()
            capture.release()
            detector = grid_detector(args.people)
            if args.detector:
                detector = build_detector(args.detector)
            clips[video.stem] = (frames, detector, "real")
    print(f"clips: {', '.join(f'{n} ({len(c[0])} frames, {c[2]})' for n, c in clips.items())}")
    threads = [int(t) for t in args.threads.split(",")]
    backends = args.backends.split(",")
    measured: dict = {}
    info = get_dataset_info("POSETRACK18")
    with tempfile.TemporaryDirectory() as folder:
        for round_index in range(args.rounds):
            for name, (key_net, t_nets) in models.items():
                for backend in backends:
                    for thread in threads:
                        for kind in ("synthpose", "real"):
                            chosen = {n: c for n, c in clips.items() if c[2] == kind}
                            if not chosen:
                                continue
                            fps, per_person, stages, results = [], [], {}, {}
                            for clip, (frames, detector, _) in chosen.items():
                                every = args.every if kind == "real" and args.detector else 1
                                stream = make_stream(key_net, t_nets, backend, thread, detector, Path(folder), every)
                                out = run_clip(stream, frames)
                                fps.append(out["fps"])
                                per_person.append(out["ms_per_person"])
                                stages = {k: stages.get(k, 0) + v for k, v in out["stages"].items()}
                                results[clip] = out["results"]
                            entry = measured.setdefault((name, backend, thread, kind), {"fps": [], "ms": []})
                            entry["fps"].append(statistics.mean(fps))
                            entry["ms"].append(statistics.mean(per_person))
                            entry["stages"] = stages
                            if kind == "synthpose" and "untrained" not in name and round_index == 0:
                                entry["accuracy"] = accuracy(results, gt_folder, info)
            print(f"round {round_index + 1}/{args.rounds} done ({time.perf_counter() - start:.0f} s)", flush=True)
    print(f"\n{'network':28s} {'backend':12s} {'thr':>3s} {'clips':9s} {'frames/s':>9s} {'ms/person':>10s} "
          f"{'mAP':>6s} {'MOTA':>6s}  stage shares (detect/track/crop/infer/decode)")  # fmt: skip
    report = []
    for (name, backend, thread, kind), entry in measured.items():
        total = sum(v for k, v in entry["stages"].items() if k != "total")
        shares = "/".join(
            f"{100 * entry['stages'][k] / total:.0f}" for k in ("detect", "track", "crop", "infer", "decode")
        )
        acc = entry.get("accuracy", {})
        mAP = f"{acc['mAP']:6.1f}" if acc else f"{'-':>6s}"
        mota = f"{acc['MOTA']:6.1f}" if acc else f"{'-':>6s}"
        print(f"{name:28s} {backend:12s} {thread:3d} {kind:9s} {statistics.median(entry['fps']):9.1f} "
              f"{statistics.median(entry['ms']):10.2f} {mAP} {mota}  {shares} %")  # fmt: skip
        report.append({"network": name, "backend": backend, "threads": thread, "clips": kind,
                       "fps": entry["fps"], "ms_per_person": entry["ms"], **acc})  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    footer(start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
