"""Frames in and video out for the pose runtime: video files, image folders and webcams; an interrupt-safe MP4 writer.

:func:`open_frames` opens a source and returns a :class:`FrameSource`, an iterable of :class:`Frame` (index, time,
BGR image) that is also a context manager::

    with open_frames("clip.mp4") as frames, VideoWriter("out.mp4", frames.fps, frames.size) as writer:
        for frame in frames:
            writer.write(draw(frame.image, poses(frame)))

Sources and their times:

* a video file (anything OpenCV's ``cv2.VideoCapture`` decodes): ``time_s = index / fps`` with the container's
  frame rate (``fps`` when the container states none); ``frame_count`` is the container's count (may be an
  estimate for some formats), None when it states none;
* a folder of images (``.jpg``, ``.jpeg``, ``.png``, ``.bmp``, any case), in natural order of their names
  (``frame2.png`` before ``frame10.png``), all of the first image's size: ``time_s = index / fps``, ``fps``
  default 30;
* a webcam, by index (an int, or a string of digits that names no existing path): ``time_s`` is the wall-clock
  time (``time.monotonic``) since the first frame; ``frame_count`` is None.

Every failure to open is one line naming the path (or camera) and what was expected: ``FileNotFoundError`` for a
missing path, ``ValueError`` for a zero-byte file, a file OpenCV cannot decode, an empty folder, an unreadable or
wrongly sized image of a folder (when iteration reaches it; zero-byte images are named at open), a webcam that
does not open. OpenCV is imported inside the functions that use it.
"""

from __future__ import annotations

import math
import os
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import numpy as np

__all__ = [
    "DEFAULT_FPS",
    "IMAGE_SUFFIXES",
    "Frame",
    "FrameSource",
    "VideoWriter",
    "natural_sort_key",
    "open_frames",
]

IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp")
DEFAULT_FPS = 30.0
_MAX_FPS = 1000.0  # containers stating more (or NaN, 0) are taken to state no rate


def natural_sort_key(name: str) -> tuple[Any, ...]:
    """Sort key that orders digit runs by value: ``frame2.png`` < ``frame10.png``; letters ignore case."""
    parts = re.split(r"(\d+)", name)
    return (*((int(part) if index % 2 else part.lower()) for index, part in enumerate(parts)), name)


@dataclass(frozen=True, eq=False)
class Frame:
    """One frame of a source.

    Attributes:
        index: 0-based position in the source.
        time_s: its time in seconds from the first frame (see the module for each source's clock).
        image: (H, W, 3) uint8 BGR.
    """

    index: int
    time_s: float
    image: np.ndarray


class _Reader(Protocol):
    def next_image(self) -> np.ndarray | None: ...

    def close(self) -> None: ...


class FrameSource:
    """Frames of a video file, an image folder or a webcam, read once, in order (made by :func:`open_frames`).

    Attributes:
        name: the file or folder name, or ``webcam N``.
        fps: frames per second used for ``time_s`` (the container's, or the default).
        frame_count: number of frames when known, else None.
        size: (width, height) of every frame.
    """

    def __init__(
        self,
        name: str,
        fps: float,
        frame_count: int | None,
        size: tuple[int, int],
        reader: _Reader,
        *,
        live: bool = False,
    ) -> None:
        self.name, self.fps, self.frame_count, self.size = name, fps, frame_count, size
        self._reader, self._live = reader, live
        self._next_index = 0
        self._start: float | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def read(self) -> Frame | None:
        """The next frame, or None at the end of the source."""
        if self._closed:
            raise ValueError(f"{self.name}: the frame source is closed")
        image = self._reader.next_image()
        if image is None:
            return None
        index = self._next_index
        self._next_index += 1
        if self._live:
            now = time.monotonic()
            self._start = now if self._start is None else self._start
            time_s = now - self._start
        else:
            time_s = index / self.fps
        return Frame(index, time_s, image)

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame

    def close(self) -> None:
        """Release the video or camera; closing twice is harmless."""
        if not self._closed:
            self._closed = True
            self._reader.close()

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        width, height = self.size
        return f"FrameSource({self.name!r}, {width}x{height}, {self.fps:g} fps, {self.frame_count} frames)"


# ----------------------------------------------------------------------------------------------- readers


class _CaptureReader:
    """Frames of a ``cv2.VideoCapture``; the first one was read at open to prove the source decodes."""

    def __init__(self, capture: Any, first: np.ndarray) -> None:
        self._capture = capture
        self._pending: np.ndarray | None = first

    def next_image(self) -> np.ndarray | None:
        if self._pending is not None:
            image, self._pending = self._pending, None
            return image
        ok, image = self._capture.read()
        return image if ok and image is not None else None

    def close(self) -> None:
        self._capture.release()


class _FolderReader:
    """The images of a folder, one file per frame, each checked to decode and to have the first one's size."""

    def __init__(self, files: list[Path], first: np.ndarray) -> None:
        self._files, self._position = files, 1
        self._pending: np.ndarray | None = first
        self._size = (first.shape[1], first.shape[0])

    def next_image(self) -> np.ndarray | None:
        if self._pending is not None:
            image, self._pending = self._pending, None
            return image
        if self._position >= len(self._files):
            return None
        path = self._files[self._position]
        image = _read_image(path, self._position)
        if (image.shape[1], image.shape[0]) != self._size:
            raise ValueError(
                f"{path}: image {self._position} of the folder is {image.shape[1]}x{image.shape[0]}, the first is "
                f"{self._size[0]}x{self._size[1]}; a folder of frames needs one size"
            )
        self._position += 1
        return image

    def close(self) -> None:
        self._files = []


def _read_image(path: Path, position: int) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path}: OpenCV cannot read image {position} of the folder (corrupt or not an image)")
    return image


def _container_fps(capture: Any, fallback: float) -> float:
    import cv2

    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    return fps if math.isfinite(fps) and 0 < fps <= _MAX_FPS else fallback


# ----------------------------------------------------------------------------------------------- opening


def _check_fps(fps: float | None) -> float:
    if fps is None:
        return DEFAULT_FPS
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be positive, got {fps}")
    return float(fps)


def open_frames(source: str | int | os.PathLike[str], *, fps: float | None = None) -> FrameSource:
    """Open a video file, a folder of images, or a webcam (see the module for each source's rules).

    Args:
        source: a path, or a webcam index (an int, or a string of digits that names no existing path).
        fps: frames per second of a folder (default 30), and the rate assumed for a video or a camera that
            states none.

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: a zero-byte file, a file OpenCV cannot decode as a video, a folder without images, a
            zero-byte image in a folder, a webcam that does not open or gives no frame.
    """
    rate = _check_fps(fps)
    if isinstance(source, bool):
        raise ValueError(f"source must be a path or a webcam index, got {source!r}")
    if isinstance(source, int) or (isinstance(source, str) and source.strip().isdigit() and not Path(source).exists()):
        return _open_webcam(int(source), rate)
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such video file or image folder")
    if path.is_dir():
        return _open_folder(path, rate)
    return _open_video(path, rate)


def _open_video(path: Path, fps: float) -> FrameSource:
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file (0 bytes); expected a video")
    import cv2

    capture = cv2.VideoCapture(str(path))
    ok, first = capture.read() if capture.isOpened() else (False, None)
    if not ok or first is None:
        capture.release()
        raise ValueError(f"{path}: OpenCV cannot decode this file as a video (corrupt, truncated, or not a video)")
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    size = (int(first.shape[1]), int(first.shape[0]))
    reader = _CaptureReader(capture, first)
    return FrameSource(path.name, _container_fps(capture, fps), count if count > 0 else None, size, reader)


def _open_folder(path: Path, fps: float) -> FrameSource:
    files = sorted(
        (item for item in path.iterdir() if item.is_file() and item.suffix.lower() in IMAGE_SUFFIXES),
        key=lambda item: natural_sort_key(item.name),
    )
    if not files:
        raise ValueError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    empty = [item.name for item in files if item.stat().st_size == 0]
    if empty:
        raise ValueError(f"{path / empty[0]}: empty image file (0 bytes) in the folder of frames")
    first = _read_image(files[0], 0)
    size = (int(first.shape[1]), int(first.shape[0]))
    return FrameSource(path.name or str(path), fps, len(files), size, _FolderReader(files, first))


def _open_webcam(index: int, fps: float) -> FrameSource:
    import cv2

    capture = cv2.VideoCapture(index)
    if not capture.isOpened():
        capture.release()
        raise ValueError(f"webcam {index}: OpenCV cannot open this camera (no camera at this index, or it is busy)")
    ok, first = capture.read()
    if not ok or first is None:
        capture.release()
        raise ValueError(f"webcam {index}: the camera opened but gives no frames")
    size = (int(first.shape[1]), int(first.shape[0]))
    reader = _CaptureReader(capture, first)
    return FrameSource(f"webcam {index}", _container_fps(capture, fps), None, size, reader, live=True)


# ----------------------------------------------------------------------------------------------- writer


class VideoWriter:
    """An MP4 (``mp4v``) writer that only puts a complete file at ``path``: use it as a context manager.

    Frames go to a hidden temporary file beside ``path`` (``.NAME.<random>.partial.mp4``, the same folder, so the
    rename is atomic); :meth:`close` finishes the file and renames it to ``path``. Leaving the ``with`` block
    closes the writer however it is left: an exception, KeyboardInterrupt included, still leaves at ``path`` a
    valid MP4 of the frames written so far (and propagates). A writer closed without frames leaves no file.

    Attributes:
        path: the final file.
        fps: frames per second of the video.
        size: (width, height) every frame must have.
        frame_count: frames written so far.
    """

    def __init__(self, path: str | os.PathLike[str], fps: float, size: tuple[int, int]) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() != ".mp4":
            raise ValueError(f"{self.path}: expected a .mp4 path for an MP4 video")
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"{self.path}: no such folder {self.path.parent} to write the video in")
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"{self.path}: fps must be positive, got {fps}")
        width, height = (int(value) for value in size)
        if width <= 0 or height <= 0:
            raise ValueError(f"{self.path}: size must be (width, height) in positive pixels, got {size}")
        self.fps, self.size, self.frame_count = float(fps), (width, height), 0
        self._partial = self.path.with_name(f".{self.path.stem}.{uuid.uuid4().hex[:8]}.partial.mp4")
        import cv2

        self._writer: Any = cv2.VideoWriter(str(self._partial), cv2.VideoWriter.fourcc(*"mp4v"), self.fps, self.size)
        if not self._writer.isOpened():
            self._writer.release()
            self._partial.unlink(missing_ok=True)
            raise ValueError(f"{self.path}: OpenCV cannot write an MP4 (mp4v) video of {width}x{height} here")
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def write(self, image: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 BGR frame of the writer's size."""
        if self._closed:
            raise ValueError(f"{self.path}: the writer is closed")
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            found = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
            raise ValueError(f"{self.path}: frame {self.frame_count} must be a (H, W, 3) uint8 BGR array, got {found}")
        width, height = self.size
        if image.shape[:2] != (height, width):
            raise ValueError(
                f"{self.path}: frame {self.frame_count} is {image.shape[1]}x{image.shape[0]}; "
                f"the video is {width}x{height}"
            )
        self._writer.write(np.ascontiguousarray(image))
        self.frame_count += 1

    def close(self) -> None:
        """Finish the file and move it to ``path`` (nothing is left when no frame was written); idempotent."""
        if self._closed:
            return
        self._closed = True
        self._writer.release()
        if self.frame_count > 0:
            os.replace(self._partial, self.path)
        else:
            self._partial.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        width, height = self.size
        return f"VideoWriter({str(self.path)!r}, {width}x{height}, {self.fps:g} fps, {self.frame_count} frames)"
