"""Uploaded files of ``vipnas serve``: stored in the server's temporary folder under a size limit, checked by
content, removed when the job that read them ends (or unused after :data:`UNUSED_SECONDS`).

A video is accepted when its first bytes carry a known container signature (:func:`video_container`) and the
runtime's :func:`~vipnas.runtime.video_io.open_frames` decodes its first frame; a boxes file when the runtime's
``gt:`` detector reads it (COCO / PoseTrack18 annotations or detection results). Every refusal is an
:class:`UploadError` whose one-line message names the uploaded file and what was expected.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["KINDS", "UNUSED_SECONDS", "Upload", "UploadError", "UploadStore", "safe_name", "video_container"]

KINDS = ("video", "boxes")
UNUSED_SECONDS = 15 * 60


class UploadError(ValueError):
    """An upload refused; ``status`` is the HTTP status that says why (400, 413 too large, 415 wrong content)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def video_container(head: bytes) -> str | None:
    """The container that a file's first bytes (at least 12; 189 for MPEG-TS) announce, or None."""
    if len(head) >= 12 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"):
        return "MP4/QuickTime"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "AVI"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "Matroska/WebM"
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):
        return "MPEG"
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return "MPEG-TS"
    if head[:3] == b"FLV":
        return "FLV"
    if head[:8] == bytes.fromhex("3026b2758e66cf11"):
        return "ASF/WMV"
    if head[:4] == b"OggS":
        return "Ogg"
    return None


def safe_name(name: str, default: str = "upload") -> str:
    """The last part of an uploaded file's name with every character but letters, digits, ``.``, ``_`` and
    ``-`` replaced by ``_`` (at most 80 characters; never empty, never hidden)."""
    base = re.split(r"[\\/]", name or "")[-1]
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", base)[-80:].lstrip(".")
    return cleaned or default


@dataclass(frozen=True)
class Upload:
    """One stored upload: ``id``, ``kind`` (:data:`KINDS`), the cleaned ``name``, its ``path``, ``size`` in bytes
    and ``details`` (a video's frames, size and fps; a boxes file's frames)."""

    id: str
    kind: str
    name: str
    path: Path
    size: int
    created: float
    details: dict[str, Any]

    def public(self, message: str) -> str:
        """``message`` with the stored path replaced by the uploaded file's name."""
        return message.replace(str(self.path), self.name)

    def to_dict(self) -> dict[str, Any]:
        return {"upload": self.id, "kind": self.kind, "name": self.name, "bytes": self.size, **self.details}


class UploadStore:
    """Uploads under ``folder`` (one sub-folder per upload), each at most ``max_bytes``."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder, self.max_bytes = folder, max_bytes
        self.folder.mkdir(parents=True, exist_ok=True)
        self._uploads: dict[str, Upload] = {}  # stored, not yet taken by a job
        self._taken: dict[str, Upload] = {}
        self._lock = threading.Lock()

    async def receive(self, chunks: AsyncIterator[bytes], name: str, kind: str, declared: int | None) -> Path:
        """Stream a request body to a new file; returns its path (call :meth:`check` next, in a thread).

        Raises:
            UploadError: an unknown kind (400), a body over the limit (413: nothing is kept).
        """
        if kind not in KINDS:
            raise UploadError(f"upload kind {kind!r}: expected one of {', '.join(KINDS)}")
        limit = f"{self.max_bytes / 2**20:.0f} MiB"
        if declared is not None and declared > self.max_bytes:
            raise UploadError(f"{safe_name(name)}: {declared} bytes is over the upload limit of {limit}", 413)
        folder = self.folder / uuid.uuid4().hex[:12]
        folder.mkdir()
        path = folder / safe_name(name, "video" if kind == "video" else "boxes.json")
        received = 0
        try:
            with open(path, "wb") as stream:
                async for chunk in chunks:
                    received += len(chunk)
                    if received > self.max_bytes:
                        raise UploadError(f"{path.name}: more than {limit}, the upload limit", 413)
                    stream.write(chunk)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return path

    def check(self, path: Path, kind: str) -> Upload:
        """Check a received file by content and keep it; a refused one is removed.

        Raises:
            UploadError: empty, not a video (415), a video OpenCV cannot decode (415), not a boxes file (415).
        """
        try:
            size = path.stat().st_size
            if size == 0:
                raise UploadError(f"{path.name}: empty file (0 bytes); expected a {kind} file")
            details = _check_video(path) if kind == "video" else _check_boxes(path)
        except UploadError as error:
            shutil.rmtree(path.parent, ignore_errors=True)
            raise UploadError(str(error).replace(str(path), path.name), error.status) from None
        except (ValueError, FileNotFoundError) as error:  # the runtime's own one-line errors
            shutil.rmtree(path.parent, ignore_errors=True)
            raise UploadError(str(error).replace(str(path), path.name), 415) from None
        upload = Upload(path.parent.name, kind, path.name, path, size, time.time(), details)
        with self._lock:
            self._uploads[upload.id] = upload
        return upload

    def get(self, upload_id: str, kind: str) -> Upload:
        """The stored upload ``upload_id`` of ``kind``.

        Raises:
            UploadError: no such upload (it expired, or a job already used it), or one of another kind.
        """
        with self._lock:
            upload = self._uploads.get(upload_id)
        if upload is None or upload.kind != kind:
            raise UploadError(
                f"{kind} upload {upload_id!r}: no such upload (it expired or a job took it: upload again)"
            )
        return upload

    def take(self, upload_id: str) -> None:
        """Give an upload to a job: no other job can have it, and it no longer expires."""
        with self._lock:
            if upload_id in self._uploads:
                self._taken[upload_id] = self._uploads.pop(upload_id)

    def remove(self, upload_id: str) -> None:
        """Delete an upload's file (removing one twice is harmless)."""
        with self._lock:
            upload = self._uploads.pop(upload_id, None) or self._taken.pop(upload_id, None)
        if upload is not None:
            shutil.rmtree(upload.path.parent, ignore_errors=True)

    def expire(self, now: float | None = None) -> None:
        """Delete uploads no job took within :data:`UNUSED_SECONDS`."""
        now = time.time() if now is None else now
        with self._lock:
            old = [key for key, upload in self._uploads.items() if now - upload.created > UNUSED_SECONDS]
        for key in old:
            self.remove(key)

    def clear(self) -> None:
        """Delete every upload."""
        with self._lock:
            keys = [*self._uploads, *self._taken]
        for key in keys:
            self.remove(key)
        shutil.rmtree(self.folder, ignore_errors=True)


def _check_video(path: Path) -> dict[str, Any]:
    from vipnas.runtime.video_io import open_frames

    with open(path, "rb") as stream:
        head = stream.read(512)
    container = video_container(head)
    if container is None:
        raise UploadError(
            f"{path.name}: not a video by its content (no MP4/QuickTime, AVI, Matroska/WebM, MPEG, FLV, ASF or Ogg "
            "signature in its first bytes); expected a video file",
            415,
        )
    with open_frames(path) as source:  # ValueError when OpenCV cannot decode a frame
        width, height = source.size
        return {"container": container, "frames": source.frame_count, "width": width, "height": height,
                "fps": round(source.fps, 3)}  # fmt: skip


def _check_boxes(path: Path) -> dict[str, Any]:
    from vipnas.runtime.detectors import GroundTruthDetector

    with open(path, "rb") as stream:
        head = stream.read(64).lstrip()
    if not head.startswith((b"{", b"[")):
        raise UploadError(f"{path.name}: not JSON; expected a COCO/PoseTrack18 annotations or detections file", 415)
    return {"frames": len(GroundTruthDetector.from_file(path).frame_indices)}
