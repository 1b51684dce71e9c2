"""``vipnas serve``: a local web page to run video pose and to explore a search (docs/serve.md).

A plain ASGI app (Starlette, served by uvicorn; the optional extra ``vipnas[serve]``) with a few hand-written
pages under ``static/``; nothing is fetched from the internet at run time. Importing this package loads neither
Starlette nor torch: the modules that need them are imported by name.

:mod:`vipnas.serve.app`
    :func:`create_app` builds the app from :class:`ServeSettings`: the video page's routes (choices, uploads, jobs
    and their server-sent events, downloads) and the search page's (search folders, candidates, figures).
:mod:`vipnas.serve.uploads`
    Uploaded videos and boxes files: a size limit, a check by content (container signature, then OpenCV must
    decode a frame), removal when the job that read them ends.
:mod:`vipnas.serve.models`, :mod:`vipnas.serve.clips`
    The networks found in the run folders (S-ViPNet checkpoints, T-ViPNet folders, deployment folders) and the
    SynthPose clips the server renders at start.
:mod:`vipnas.serve.options`, :mod:`vipnas.serve.jobs`, :mod:`vipnas.serve.runner`
    A job request checked field by field; one job per video in a worker thread, run (as ``vipnas video`` runs it)
    by the runtime's :class:`~vipnas.runtime.stream.PoseStream` and :class:`~vipnas.runtime.outputs.VideoOutputs`,
    publishing one event per frame.
:mod:`vipnas.serve.search`
    Search folders (``vipnas search``, ``vipnas allocate``, the demos): candidates, Pareto fronts, the per-stage
    figure of an arch, the ``vipnas extract`` command for it.

Glossary: a *job* is one video through one pose pipeline; a *choice* is a network the page offers; a *search
folder* is one written by a search (its ``candidates.json`` or ``store.json``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ServeSettings"]


@dataclass(frozen=True)
class ServeSettings:
    """What one server offers and allows.

    Attributes:
        runs: folders searched for networks and search folders.
        max_upload_bytes: the largest upload accepted.
        workers: jobs that run at once (more wait in a queue).
        threads: inference threads per job.
        clips: SynthPose clips rendered at start (0: none).
        clip_frames: frames per clip.
        detectors: extra detector specs offered to every job (``onnx:yolov8n.onnx``).
        keep_jobs: finished jobs whose outputs stay downloadable; older ones are removed.
        temporary_parent: where the server's temporary folder goes (default: the system's).
        allowed_hosts: the ``Host`` headers answered (``None``: any); a server bound to this machine answers only
            its loopback names, so that a web page elsewhere cannot reach it through DNS rebinding.
    """

    runs: tuple[Path, ...] = (Path("runs"),)
    max_upload_bytes: int = 256 * 1024 * 1024
    workers: int = 4
    threads: int = 1
    clips: int = 2
    clip_frames: int = 36
    detectors: tuple[str, ...] = field(default_factory=tuple)
    keep_jobs: int = 16
    temporary_parent: Path | None = None
    allowed_hosts: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.max_upload_bytes < 1:
            raise ValueError(f"max_upload_bytes must be >= 1, got {self.max_upload_bytes}")
        if self.workers < 1 or self.threads < 1 or self.keep_jobs < 1:
            raise ValueError(
                f"workers, threads and keep_jobs must be >= 1, got {self.workers}, {self.threads}, {self.keep_jobs}"
            )
        if self.clips < 0 or not 1 <= self.clip_frames <= 600:
            raise ValueError(f"need clips >= 0 and 1 <= clip_frames <= 600, got {self.clips}, {self.clip_frames}")
