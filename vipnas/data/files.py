"""Reading and writing dataset files: JSON and images with errors that name the file, atomic writes."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vipnas.permissions import new_file_mode

__all__ = [
    "encode_jpeg",
    "file_digest",
    "read_image",
    "read_image_size",
    "read_json",
    "write_bytes_atomic",
    "write_json_atomic",
]


def file_digest(path: str | Path) -> str:
    """``sha256:<hex>`` of a file's bytes (read in 1 MiB blocks): what provenance records carry."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def read_json(path: str | Path) -> Any:
    """Load a JSON file.

    Raises:
        FileNotFoundError: the file does not exist (the message names it).
        ValueError: the file is not valid JSON (the message names it and the position).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"annotation file {path} does not exist")
    try:
        with path.open("rb") as handle:
            return json.load(handle)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None


def read_image(path: str | Path, record: str = "") -> np.ndarray:
    """Read an image as (H, W, 3) uint8 RGB, ignoring EXIF orientation (annotations refer to the stored pixels).

    Args:
        path: image file.
        record: what refers to the file (e.g. ``"image id 785 in person_keypoints_val2017.json"``), for errors.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file exists but cannot be decoded as an image, or is a truncated JPEG (which libjpeg
            would decode with its lower part grey, warning only on stderr without naming the file).
    """
    where = f" (referenced by {record})" if record else ""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file {path} does not exist{where}")
    data = path.read_bytes()
    if data[:2] == b"\xff\xd8" and not _has_end_of_image(data):
        raise ValueError(
            f"image file {path} is a truncated JPEG: no end-of-image marker (FF D9) after its last scan "
            f"({len(data):,} bytes; an interrupted copy or download?){where}"
        )
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise ValueError(f"image file {path} cannot be decoded as an image{where}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _has_end_of_image(data: bytes) -> bool:
    """Whether a JPEG's last start-of-scan marker (FF DA) is followed by an end-of-image marker (FF D9). Inside
    entropy-coded data every FF byte is followed by 00 or a restart marker, so neither marker occurs there by
    chance; an EXIF thumbnail's own FF D9 comes before the main image's scans, and bytes some cameras append
    after the end-of-image are allowed."""
    return data.rfind(b"\xff\xd9") > data.rfind(b"\xff\xda") >= 0


def read_image_size(path: str | Path) -> tuple[int, int] | None:
    """(width, height) of a JPEG or PNG file read from its header (without decoding the pixels); ``None`` when the
    file is missing, of another format, or its header is unreadable."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(26)
            if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
                return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
            if head[:2] != b"\xff\xd8":
                return None
            stream.seek(2)
            while True:  # JPEG segments until a start-of-frame marker (SOF0..SOF15 but DHT, JPG, DAC)
                marker = stream.read(2)
                if len(marker) < 2 or marker[0] != 0xFF:
                    return None
                if marker[1] in (0xD8, 0x01) or 0xD0 <= marker[1] <= 0xD7:  # no length field
                    continue
                length = int.from_bytes(stream.read(2), "big")
                if 0xC0 <= marker[1] <= 0xCF and marker[1] not in (0xC4, 0xC8, 0xCC):
                    frame = stream.read(5)  # precision, height, width
                    return int.from_bytes(frame[3:5], "big"), int.from_bytes(frame[1:3], "big")
                if length < 2:
                    return None
                stream.seek(length - 2, os.SEEK_CUR)
    except OSError:
        return None


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write bytes through a temporary file in the same folder and ``os.replace``, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.chmod(temporary, new_file_mode())  # mkstemp creates 0600; give the usual permissions
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write JSON deterministically (fixed key order as given, compact separators) and atomically."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    write_bytes_atomic(path, text.encode("ascii"))


def encode_jpeg(image_rgb: np.ndarray, quality: int = 90) -> bytes:
    """Encode an (H, W, 3) uint8 RGB image as baseline JPEG bytes (libjpeg is deterministic for fixed input)."""
    ok, buffer = cv2.imencode(".jpg", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"JPEG encoding failed for an image of shape {image_rgb.shape}")
    return buffer.tobytes()
