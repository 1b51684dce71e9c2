"""``vipnas video INPUT``: multi-person pose over a video, a folder of frames or a webcam, with key frames and
T-ViPNets (see docs/runtime.md)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vipnas.commands import positive_int

HELP = "pose of every person in a video (file, frame folder or webcam): annotated MP4, JSON lines, PoseTrack results"
EXAMPLES = [
    "vipnas video clip.mp4 --model key.pth --detector gt:clip_posetrack.json --out runs/video",
    "vipnas video clip.mp4 --model key.pth --temporal runs/demo-video/t_vipnas --detector gt:clip.json --every 4",
    "vipnas video frames/ --model key.pth --detector onnx:yolov8n.onnx --backend onnxruntime --threads 2",
    "vipnas video 0 --model key.pth --detector hog       # webcam 0",
]


@contextlib.contextmanager
def _stop_between_frames() -> Iterator[threading.Event]:
    """The first Ctrl-C asks the loop to stop after the frame in hand (so every output holds the same frames); a
    second one interrupts at once."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def _request(signum: int, frame: object) -> None:
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, _request)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="a video file, a folder of frames, or a webcam index")
    parser.add_argument("--model", required=True, help="the S-ViPNet (key network) checkpoint")
    parser.add_argument(
        "--temporal", default=None, help="folder of T-ViPNets t_vipnet_frame1.pth … (vipnas demo --video's t_vipnas)"
    )
    parser.add_argument("--detector", default="hog", help="gt:FILE, sim:FILE, hog, onnx:PATH (docs/runtime.md)")
    parser.add_argument("--every", type=positive_int, default=1, help="run the detector every N frames")
    parser.add_argument("--backend", choices=("torch", "onnxruntime", "openvino"), default="torch")
    parser.add_argument("--threads", type=positive_int, default=1, help="inference threads")
    parser.add_argument("--smooth", action="store_true", help="one-euro smoothing of the keypoints")
    parser.add_argument("--max-frames", type=positive_int, default=None, help="stop after N frames")
    parser.add_argument("--no-video", action="store_true", help="do not write the annotated MP4")
    parser.add_argument("--out", default="runs/video", help="output folder")


def _t_vipnets(folder: str | None) -> list[Path]:
    """The T-ViPNets of ``--temporal`` (:func:`vipnas.deploy.network.t_vipnet_files`), frame 1 first."""
    if folder is None:
        return []
    from vipnas.deploy.network import t_vipnet_files

    try:
        return t_vipnet_files(folder)
    except (FileNotFoundError, ValueError) as error:
        raise type(error)(f"--temporal {error}") from None


def _load(path: str | Path, threads: int) -> object:
    from vipnas.deploy.network import load_network

    return load_network(path, threads=threads)


def _backend(kind: str, network: object, out: Path, name: str, threads: int) -> object:
    from vipnas.deploy.network import stream_backend

    return stream_backend(kind, network, out, name, threads=threads)


def _backend_name(kind: str, key: Any) -> str:
    deployment = getattr(key, "deployment", None)
    return f"{deployment.backend} {deployment.precision} (deployed)" if deployment is not None else kind


def run(args: argparse.Namespace) -> int:
    import time

    import torch
    from tqdm import tqdm

    from vipnas.codec import codec_for_model
    from vipnas.commands import writable_folder
    from vipnas.data.metadata import get_dataset_info
    from vipnas.runtime.crops import CropSettings
    from vipnas.runtime.detectors import build_detector
    from vipnas.runtime.outputs import VideoOutputs
    from vipnas.runtime.smoothing import OneEuroConfig
    from vipnas.runtime.stream import PoseStream, StreamConfig
    from vipnas.runtime.video_io import open_frames

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    writable_folder(args.out)
    out = Path(args.out)
    torch.set_num_threads(args.threads)
    detector = build_detector(args.detector)
    key: Any = _load(args.model, args.threads)
    nets: list[Any] = [_load(path, args.threads) for path in _t_vipnets(args.temporal)]
    for index, net in enumerate(nets, start=1):
        if tuple(net.metadata.input_size) != tuple(key.metadata.input_size):
            raise ValueError(
                f"T-ViPNet {index} takes {net.metadata.input_size} crops, the key network {key.metadata.input_size}"
            )
    stream = PoseStream(
        _backend(args.backend, key, out, "key", args.threads),
        [_backend(args.backend, net, out, f"t_vipnet_frame{i}", args.threads) for i, net in enumerate(nets, 1)],
        CropSettings.for_metadata(key.metadata),
        codec_for_model(key.metadata),
        detector,
        StreamConfig(detect_every=args.every, smoothing=OneEuroConfig() if args.smooth else None),
    )
    info = get_dataset_info(str(key.metadata.dataset))
    frames_done, began = 0, time.perf_counter()
    with open_frames(args.input) as source:
        name = Path(str(source.name)).stem or "webcam"
        # a gt:/sim: detector knows the file's image record of each frame: the predictions then refer to its ids
        truth = getattr(detector, "ground_truth", detector)
        images = getattr(truth, "images", None) or None
        outputs = VideoOutputs(out, name, source.fps, source.size, info, images=images, video=not args.no_video)
        bar = tqdm(total=args.max_frames or source.frame_count, desc=name, unit="frame", dynamic_ncols=True)
        interrupted = False
        try:
            with _stop_between_frames() as stop:
                for frame in source:
                    if stop.is_set() or (args.max_frames is not None and frames_done >= args.max_frames):
                        break
                    result = stream.step(frame.image, frame.index, frame.time_s)
                    fps = 1.0 / max(result.timings["total"], 1e-9)
                    outputs.add(frame.image, result, fps)
                    frames_done += 1
                    bar.update(1)
                    bar.set_postfix(fps=f"{frames_done / (time.perf_counter() - began):.1f}", people=len(result.people))
                interrupted = stop.is_set()
        except KeyboardInterrupt:
            interrupted = True
        finally:
            bar.close()
            paths = outputs.close()
            frames_done = len(outputs.frames)
    elapsed = time.perf_counter() - began
    state = "stopped (Ctrl-C) after" if interrupted else "done:"
    backend = _backend_name(args.backend, key)
    print(f"{state} {frames_done} frames in {elapsed:.1f} s ({frames_done / max(elapsed, 1e-9):.1f} frames/s, "
          f"{len(nets)} T-ViPNet(s), backend {backend}, {args.threads} thread(s))")  # fmt: skip
    print("outputs: " + ", ".join(str(p) for p in paths.values()))
    return 130 if interrupted else 0
