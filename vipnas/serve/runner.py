"""One job's pose loop, as ``vipnas video`` runs it (:func:`vipnas.commands.video.run`): detector, key network and
T-ViPNets on their backends, :class:`~vipnas.runtime.stream.PoseStream` over the frames, every frame recorded by
:class:`~vipnas.runtime.outputs.VideoOutputs` and published to the page as a JPEG with its people and timings."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from vipnas.serve.jobs import OUTPUTS, Job
from vipnas.serve.models import backend_for, load_network

__all__ = ["JPEG_QUALITY", "run_job"]

JPEG_QUALITY = 80


def _stream(job: Job, threads: int) -> tuple[Any, Any]:
    """The job's :class:`PoseStream` and its key network."""
    from vipnas.codec import codec_for_model
    from vipnas.runtime.crops import CropSettings
    from vipnas.runtime.detectors import build_detector
    from vipnas.runtime.smoothing import OneEuroConfig
    from vipnas.runtime.stream import PoseStream, StreamConfig

    spec = job.spec
    detector = build_detector(spec.detector)
    key: Any = load_network(spec.model_path, spec.model_kind, threads)
    nets: list[Any] = [load_network(path, "checkpoint", threads) for path in spec.t_vipnets]
    for index, net in enumerate(nets, start=1):
        if tuple(net.metadata.input_size) != tuple(key.metadata.input_size):
            raise ValueError(
                f"T-ViPNet {index} ({spec.t_vipnets[index - 1].name}) takes {net.metadata.input_size} crops, the key "
                f"network {key.metadata.input_size}"
            )
    backends = [
        backend_for(spec.backend, net, job.folder, f"t_vipnet_frame{i}", threads) for i, net in enumerate(nets, 1)
    ]
    stream = PoseStream(
        backend_for(spec.backend, key, job.folder, "key", threads),
        backends,
        CropSettings.for_metadata(key.metadata),
        codec_for_model(key.metadata),
        detector,
        StreamConfig(detect_every=spec.every, smoothing=OneEuroConfig() if spec.smooth else None),
    )
    return stream, key


def _frame_event(result: Any, fps: float, average_fps: float, done: int, total: int | None) -> dict[str, Any]:
    people = [
        {"track_id": p.track_id, "network": p.network, "score": round(float(p.scores.mean()), 3),
         "box": [round(v, 1) for v in p.box]}
        for p in result.people
    ]  # fmt: skip
    timings = {name: round(seconds * 1e3, 2) for name, seconds in result.timings.items()}
    return {"type": "frame", "index": result.index, "time_s": round(result.time_s, 3), "people": people,
            "timings_ms": timings, "fps": round(fps, 1), "average_fps": round(average_fps, 1),
            "frames_done": done, "frame_count": total}  # fmt: skip


def run_job(job: Job, threads: int) -> None:
    """Run ``job`` to its end (or until :attr:`Job.cancel` is set between two frames); its outputs go to
    ``job.folder/out`` and are listed in :attr:`Job.files`.

    Raises:
        ValueError, FileNotFoundError, ImportError: the runtime's one-line errors (a video OpenCV cannot decode, a
            detector spec, a backend not installed, networks of different input sizes).
    """
    import cv2

    from vipnas.data.metadata import get_dataset_info
    from vipnas.runtime.outputs import VideoOutputs, draw_frame
    from vipnas.runtime.video_io import open_frames

    spec = job.spec
    stream, key = _stream(job, threads)
    info = get_dataset_info(str(key.metadata.dataset))
    truth = getattr(stream.detector, "ground_truth", stream.detector)
    images = getattr(truth, "images", None) or None
    began = time.perf_counter()
    with open_frames(spec.input) as source:
        name = Path(spec.input_name).stem or "video"
        total = (
            source.frame_count
            if spec.max_frames is None
            else min(source.frame_count or spec.max_frames, spec.max_frames)
        )
        with job.lock:
            job.frame_count = total
        outputs = VideoOutputs(job.folder / "out", name, source.fps, source.size, info, images=images)
        try:
            for frame in source:
                if job.cancel.is_set() or (spec.max_frames is not None and job.frames_done >= spec.max_frames):
                    break
                result = stream.step(frame.image, frame.index, frame.time_s)
                fps = 1.0 / max(result.timings["total"], 1e-9)
                outputs.add(frame.image, result, fps)
                drawn = draw_frame(frame.image, result, info, fps=fps)
                ok, jpeg = cv2.imencode(".jpg", drawn, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                with job.lock:
                    job.frames_done += 1
                    done = job.frames_done
                average = done / max(time.perf_counter() - began, 1e-9)
                job.publish(_frame_event(result, fps, average, done, total), jpeg.tobytes() if ok else None)
        finally:
            paths = outputs.close()
    with job.lock:
        job.files = {kind: paths[kind] for kind in OUTPUTS if kind in paths and paths[kind].is_file()}
