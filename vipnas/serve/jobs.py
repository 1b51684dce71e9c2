"""Video jobs of ``vipnas serve``: one video through one pose pipeline, in a worker thread, publishing one event
per frame.

A job runs what ``vipnas video`` runs (:mod:`vipnas.commands.video`): the runtime's detector
(:func:`~vipnas.runtime.detectors.build_detector`), :class:`~vipnas.runtime.stream.PoseStream` over
:func:`~vipnas.runtime.video_io.open_frames`, and :class:`~vipnas.runtime.outputs.VideoOutputs` writing the
annotated MP4, the JSON lines and the PoseTrack file into the job's folder. Its events (``frame``, then ``done``
or ``failed``) are appended to :attr:`Job.events`, which any number of readers follow by position; only the last
:data:`KEPT_IMAGES` frames keep their JPEG, so a job's memory does not grow with the video.

The worker threads (:class:`JobManager`, ``workers`` at once) release the GIL in torch, OpenCV and ONNX Runtime, so
jobs progress together and the server's event loop stays free. A job's uploads are removed when it ends; its
outputs when it is deleted, when :attr:`JobManager.keep` newer jobs have finished, or when the server stops.
"""

from __future__ import annotations

import base64
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["KEPT_IMAGES", "OUTPUTS", "Job", "JobManager", "JobSpec"]

KEPT_IMAGES = 48
OUTPUTS = ("video", "jsonl", "posetrack")  # downloadable; VideoOutputs also writes COCO results


@dataclass(frozen=True)
class JobSpec:
    """What one job runs.

    Attributes:
        input: the video file or frame folder; ``input_name`` how the page names it.
        model_path, model_kind: the key network (:class:`vipnas.serve.models.NetworkChoice`'s path and kind).
        t_vipnets: the T-ViPNets of frames 1..T (empty: the key network every frame).
        detector: a runtime detector spec (``gt:FILE``, ``hog``, ``onnx:PATH``).
        every: run the detector every N frames.
        backend: ``torch``, ``onnxruntime`` or ``openvino`` (a deployment runs on its own).
        max_frames: stop after N frames (None: the whole video).
        smooth: one-euro smoothing of the keypoints.
        uploads: ids of the uploads the job reads, removed when it ends.
    """

    input: Path
    input_name: str
    model_path: Path | None
    model_kind: str
    t_vipnets: tuple[Path, ...]
    detector: str
    every: int = 1
    backend: str = "torch"
    max_frames: int | None = None
    smooth: bool = False
    uploads: tuple[str, ...] = ()


@dataclass
class Job:
    """One job's state; its fields change only under :attr:`lock` (the worker writes, readers copy)."""

    id: str
    spec: JobSpec
    folder: Path
    state: str = "queued"  # queued, running, done, failed, cancelled
    events: list[dict[str, Any]] = field(default_factory=list)
    images: OrderedDict[int, str] = field(default_factory=OrderedDict)  # frame index -> base64 JPEG
    frame_count: int | None = None
    frames_done: int = 0
    error: str | None = None
    files: dict[str, Path] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    finished: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def ended(self) -> bool:
        return self.state in ("done", "failed", "cancelled")

    def publish(self, event: dict[str, Any], jpeg: bytes | None = None) -> None:
        """Append an event (a frame's with its JPEG, kept for the last :data:`KEPT_IMAGES` frames)."""
        with self.lock:
            if jpeg is not None:
                self.images[event["index"]] = base64.b64encode(jpeg).decode("ascii")
                while len(self.images) > KEPT_IMAGES:
                    self.images.popitem(last=False)
            self.events.append(event)

    def events_from(self, position: int) -> list[dict[str, Any]]:
        """Events from ``position`` on, frame events with their JPEG (``jpeg``: None when no longer kept)."""
        with self.lock:
            found = self.events[position:]
            return [{**e, "jpeg": self.images.get(e["index"])} if e["type"] == "frame" else e for e in found]

    def public(self, message: str) -> str:
        """``message`` with the job's temporary paths replaced by the names the page knows."""
        message = message.replace(str(self.spec.input), self.spec.input_name)
        return message.replace(str(self.folder) + "/", "").replace(str(self.folder), "job folder")

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {
                "job": self.id, "state": self.state, "input": self.spec.input_name, "frames_done": self.frames_done,
                "frame_count": self.frame_count, "error": self.error, "files": sorted(self.files),
                "events": len(self.events),
            }  # fmt: skip


class JobManager:
    """Jobs under ``folder``, ``workers`` running at once, ``threads`` inference threads each; ``on_end(job)`` is
    called when a job ends (the app removes its uploads there)."""

    def __init__(self, folder: Path, *, workers: int, threads: int, keep: int, on_end: Any = None) -> None:
        self.folder, self.threads, self.keep, self.on_end = folder, threads, keep, on_end
        self.folder.mkdir(parents=True, exist_ok=True)
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vipnas-serve-job")

    def submit(self, spec: JobSpec) -> Job:
        """Queue a job; returns it at once."""
        job_id = uuid.uuid4().hex[:12]
        job = Job(job_id, spec, self.folder / job_id)
        job.folder.mkdir()
        with self._lock:
            self._jobs[job_id] = job
        self._pool.submit(self._run, job)
        return job

    def get(self, job_id: str) -> Job:
        """The job ``job_id``. Raises KeyError naming it."""
        with self._lock:
            if job_id not in self._jobs:
                raise KeyError(f"job {job_id!r}: no such job (it ended long ago, was deleted, or the server restarted)")
            return self._jobs[job_id]

    def delete(self, job_id: str) -> None:
        """Stop a job (between frames) and remove its outputs once it has ended."""
        job = self.get(job_id)
        job.cancel.set()
        with self._lock:
            self._jobs.pop(job_id, None)
        if job.ended:
            shutil.rmtree(job.folder, ignore_errors=True)

    def shutdown(self) -> None:
        """Stop every job, wait for the workers, remove every job's folder."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        for job in jobs:
            if not job.ended and self.on_end is not None:
                self.on_end(job)  # a job cancelled before it started: its uploads go too
        shutil.rmtree(self.folder, ignore_errors=True)

    def _run(self, job: Job) -> None:
        from vipnas.serve.runner import run_job

        try:
            if job.cancel.is_set():
                state, error = "cancelled", None
            else:
                with job.lock:
                    job.state = "running"
                run_job(job, self.threads)
                state, error = ("cancelled" if job.cancel.is_set() else "done"), None
        except Exception as error_:  # every failure reaches the page as one line
            state, error = "failed", job.public(_message(error_))
        with job.lock:
            job.state, job.error, job.finished = state, error, time.time()
        job.publish(
            {"type": "failed", "message": error}
            if error
            else {"type": "done", "state": state, "frames": job.frames_done, "files": sorted(job.files)}
        )
        if self.on_end is not None:
            self.on_end(job)
        with self._lock:
            deleted = job.id not in self._jobs
            ended = sorted((j for j in self._jobs.values() if j.ended), key=lambda j: j.finished or 0.0)
        if deleted:  # deleted while running: nothing to download any more
            shutil.rmtree(job.folder, ignore_errors=True)
        for old in ended[: max(len(ended) - self.keep, 0)]:
            self.delete(old.id)


def _message(error: BaseException) -> str:
    """The one-line text of ``error``, with its type when it says nothing else."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if isinstance(error, KeyError) and text.startswith(("'", '"')):
        text = text[1:-1]
    return text or type(error).__name__
