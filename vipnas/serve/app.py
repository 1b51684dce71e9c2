"""The ASGI app of ``vipnas serve``: the pages under ``static/`` and a small JSON API (docs/serve.md).

Video page: ``GET /api/choices`` (networks, T-ViPNet folders, backends, detectors, SynthPose clips, limits),
``POST /api/uploads?kind=video|boxes`` (the raw file as the body, its name in ``X-File-Name``), ``POST /api/jobs``
(JSON: what to run), ``GET /api/jobs/ID/events`` (server-sent events: one ``frame`` per frame, then ``done`` or
``failed``), ``GET /api/jobs/ID/files/video|jsonl|posetrack``, ``DELETE /api/jobs/ID``.
Search page: ``GET /api/searches``, ``GET /api/searches/ID``, ``GET /api/searches/ID/candidates/N`` (numbers and
command), ``.../N/figure.png``, ``.../N/arch.json``. ``POST /api/refresh`` looks for new networks and searches.

Everything the server writes lives in one temporary folder (``vipnas-serve-*``), removed at shutdown; one left by a
server that was killed is removed by the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from vipnas.serve import ServeSettings
from vipnas.serve.clips import Clip, render_clips
from vipnas.serve.jobs import OUTPUTS, Job, JobManager, JobSpec
from vipnas.serve.models import Catalogue, discover
from vipnas.serve.options import job_spec
from vipnas.serve.search import SearchFolder, SearchView, candidate_detail, discover_searches, figure_png, points
from vipnas.serve.search import read_search as read_search_folder
from vipnas.serve.uploads import UploadError, UploadStore

__all__ = ["STATIC", "TEMPORARY_PREFIX", "ServerState", "create_app"]

STATIC = Path(__file__).resolve().parent / "static"
TEMPORARY_PREFIX = "vipnas-serve-"
POLL_SECONDS = 0.05
SUFFIXES = {"video": ".mp4", "jsonl": ".jsonl", "posetrack": "_posetrack.json"}


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def remove_stale_folders(parent: Path) -> list[Path]:
    """Remove the temporary folders of servers that no longer run (their ``owner.pid`` names a dead process)."""
    removed = []
    for folder in parent.glob(f"{TEMPORARY_PREFIX}*"):
        try:
            pid = int((folder / "owner.pid").read_text())
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        except (OSError, ValueError):  # alive under another user, or not ours to judge
            continue
    return removed


class ServerState:
    """What one running server holds: its temporary folder, uploads, jobs, and what it found to offer."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        parent = settings.temporary_parent or Path(tempfile.gettempdir())
        remove_stale_folders(parent)
        self.folder = Path(tempfile.mkdtemp(prefix=TEMPORARY_PREFIX, dir=parent))
        (self.folder / "owner.pid").write_text(str(os.getpid()))
        self.uploads = UploadStore(self.folder / "uploads", settings.max_upload_bytes)
        self.jobs = JobManager(self.folder / "jobs", workers=settings.workers, threads=settings.threads,
                               keep=settings.keep_jobs, on_end=self._job_ended)  # fmt: skip
        self.catalogue = Catalogue()
        self.clips: list[Clip] = []
        self.searches: list[SearchFolder] = []
        self._views: dict[str, tuple[float, SearchView]] = {}

    def _job_ended(self, job: Job) -> None:
        for upload in job.spec.uploads:
            self.uploads.remove(upload)

    def start(self) -> None:
        """Render the clips and look for networks and searches (blocking: run it in a thread)."""
        import torch

        torch.set_num_threads(self.settings.threads)
        if self.settings.clips:
            self.clips = render_clips(self.folder / "clips", self.settings.clips, self.settings.clip_frames)
        self.refresh()

    def refresh(self) -> None:
        self.catalogue = discover(self.settings.runs)
        self.searches = discover_searches(self.settings.runs)

    def stop(self) -> None:
        self.jobs.shutdown()
        self.uploads.clear()
        shutil.rmtree(self.folder, ignore_errors=True)

    def search(self, search_id: str) -> SearchView:
        """A search folder read (again when its file changed). Raises KeyError / ValueError naming it."""
        folder = next((s for s in self.searches if s.id == search_id), None)
        if folder is None:
            raise KeyError(f"search {search_id!r}: not among the {len(self.searches)} search folders found")
        changed = folder.file.stat().st_mtime
        cached = self._views.get(search_id)
        if cached is None or cached[0] != changed:
            cached = (changed, read_search_folder(folder))
            self._views[search_id] = cached
        return cached[1]

    def choices(self) -> dict[str, Any]:
        import cv2

        openvino = importlib.util.find_spec("openvino") is not None
        backends = [
            {"name": "torch", "available": True, "reason": None},
            {"name": "onnxruntime", "available": importlib.util.find_spec("onnxruntime") is not None,
             "reason": "pip install onnxruntime"},
            {"name": "openvino", "available": openvino,
             "reason": None if openvino else "pip install 'vipnas[openvino]'"},
        ]  # fmt: skip
        hog = hasattr(cv2, "HOGDescriptor")
        detectors = [
            {"id": "boxes", "label": "boxes file: the clip's ground truth, or a COCO/PoseTrack18 file you upload",
             "available": True, "reason": None},
            {"id": "hog", "label": "hog: OpenCV's people detector", "available": hog,
             "reason": None if hog else f"this OpenCV {cv2.__version__} has no HOGDescriptor"},
        ] + [{"id": f"extra-{i}", "label": spec, "available": True, "reason": None}
             for i, spec in enumerate(self.settings.detectors)]  # fmt: skip
        return {**self.catalogue.to_dict(), "backends": backends, "detectors": detectors,
                "clips": [clip.to_dict() for clip in self.clips],
                "max_upload_bytes": self.settings.max_upload_bytes}  # fmt: skip


def create_app(settings: ServeSettings | None = None) -> Starlette:
    """The app; its lifespan creates the server's temporary folder and removes it at shutdown."""
    settings = settings or ServeSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state = ServerState(settings)
        app.state.server = state
        try:
            await run_in_threadpool(state.start)
            yield
        finally:
            await run_in_threadpool(state.stop)

    def server(request: Request) -> ServerState:
        return request.app.state.server

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def choices(request: Request) -> Response:
        return JSONResponse(server(request).choices())

    async def refresh(request: Request) -> Response:
        await run_in_threadpool(server(request).refresh)
        return JSONResponse(server(request).choices())

    async def upload(request: Request) -> Response:
        state = server(request)
        kind = request.query_params.get("kind", "video")
        if "x-file-name" not in request.headers:  # a custom header: browsers let no other site's page send it
            return _error("an upload needs its file name in the X-File-Name header")
        name = unquote(request.headers["x-file-name"])
        length = request.headers.get("content-length")
        declared = int(length) if length and length.isdigit() else None
        try:
            path = await state.uploads.receive(request.stream(), name, kind, declared)
            record = await run_in_threadpool(state.uploads.check, path, kind)
        except UploadError as error:
            return _error(str(error), error.status)
        state.uploads.expire()
        return JSONResponse(record.to_dict())

    async def create_job(request: Request) -> Response:
        state = server(request)
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return _error("a job request must be sent as application/json")  # a cross-site form cannot send that
        try:
            body = await request.json()
            spec: JobSpec = job_spec(body, state.catalogue, state.clips, state.uploads, state.settings.detectors)
        except json.JSONDecodeError:
            return _error("the job request must be a JSON object")
        except (ValueError, UploadError) as error:
            return _error(str(error))
        job = state.jobs.submit(spec)
        return JSONResponse(job.summary(), status_code=201)

    def job_of(request: Request) -> Job:
        return server(request).jobs.get(request.path_params["job"])

    async def job_summary(request: Request) -> Response:
        return JSONResponse(job_of(request).summary())

    async def job_events(request: Request) -> Response:
        job = job_of(request)
        last = request.headers.get("last-event-id", "")
        start = int(last) + 1 if last.isdigit() else 0

        async def stream() -> AsyncIterator[str]:
            position = start
            while True:
                found = job.events_from(position)
                for event in found:
                    yield f"id: {position}\nevent: {event['type']}\ndata: {json.dumps(event)}\n\n"
                    position += 1
                    if event["type"] in ("done", "failed"):
                        return
                if not found:
                    await asyncio.sleep(POLL_SECONDS)

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    async def job_file(request: Request) -> Response:
        job, kind = job_of(request), request.path_params["kind"]
        if kind not in OUTPUTS:
            return _error(f"output {kind!r}: expected one of {', '.join(OUTPUTS)}", 404)
        path = job.files.get(kind)
        if path is None or not path.is_file():
            return _error(f"job {job.id}: no {kind} output (the job is {job.state})", 404)
        name = Path(job.spec.input_name).stem + SUFFIXES[kind]
        return FileResponse(path, filename=name)

    async def delete_job(request: Request) -> Response:
        server(request).jobs.delete(request.path_params["job"])
        return JSONResponse({"deleted": request.path_params["job"]})

    async def searches(request: Request) -> Response:
        return JSONResponse({"searches": [s.to_dict() for s in server(request).searches]})

    async def search(request: Request) -> Response:
        view = await run_in_threadpool(server(request).search, request.path_params["search"])
        return JSONResponse(points(view))

    async def candidate(request: Request) -> Response:
        state = server(request)
        view = await run_in_threadpool(state.search, request.path_params["search"])
        index = request.path_params["index"]
        detail = await run_in_threadpool(candidate_detail, view, index, state.catalogue.checkpoints)
        return JSONResponse(detail)

    async def figure(request: Request) -> Response:
        state = server(request)
        view = await run_in_threadpool(state.search, request.path_params["search"])
        png = await run_in_threadpool(figure_png, view, request.path_params["index"], state.folder / "figures")
        return Response(png, media_type="image/png", headers={"Cache-Control": "max-age=3600"})

    async def arch_file(request: Request) -> Response:
        view = await run_in_threadpool(server(request).search, request.path_params["search"])
        index = request.path_params["index"]
        if not 0 <= index < len(view.candidates):
            return _error(f"candidate {index}: {view.folder.label} has candidates 0..{len(view.candidates) - 1}", 404)
        name = f"candidate_{index}_{'temporal_' if view.kind == 'temporal' else ''}arch.json"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        text = json.dumps(view.candidates[index].arch.to_dict(), indent=2) + "\n"
        return Response(text, media_type="application/json", headers=headers)

    async def not_found(request: Request, error: Exception) -> Response:
        text = str(error) if isinstance(error, OSError) else str(error.args[0]) if error.args else "not found"
        return _error(text, 404)

    async def bad_value(request: Request, error: Exception) -> Response:
        return _error(str(error), 400)

    routes = [
        Route("/", index),
        Route("/api/choices", choices),
        Route("/api/refresh", refresh, methods=["POST"]),
        Route("/api/uploads", upload, methods=["POST"]),
        Route("/api/jobs", create_job, methods=["POST"]),
        Route("/api/jobs/{job}", job_summary),
        Route("/api/jobs/{job}", delete_job, methods=["DELETE"]),
        Route("/api/jobs/{job}/events", job_events),
        Route("/api/jobs/{job}/files/{kind}", job_file),
        Route("/api/searches", searches),
        Route("/api/searches/{search}", search),
        Route("/api/searches/{search}/candidates/{index:int}", candidate),
        Route("/api/searches/{search}/candidates/{index:int}/figure.png", figure),
        Route("/api/searches/{search}/candidates/{index:int}/arch.json", arch_file),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    handlers = {KeyError: not_found, FileNotFoundError: not_found, ValueError: bad_value}
    hosts = list(settings.allowed_hosts) if settings.allowed_hosts is not None else ["*"]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=hosts)]
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers, middleware=middleware)  # type: ignore[arg-type]
