"""A job request from the video page, checked field by field into a :class:`~vipnas.serve.jobs.JobSpec`.

The request is JSON::

    {"video": {"upload": ID} | {"clip": ID}, "boxes": ID | null, "model": ID, "temporal": ID | null,
     "length": T, "detector": "boxes" | "hog" | "extra-N", "every": N, "backend": "torch" | ...,
     "max_frames": N | null, "smooth": false}

Ids are those ``GET /api/choices`` and ``POST /api/uploads`` gave: the page never names a path. Every refusal is a
``ValueError`` naming the field, the value and what is allowed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vipnas.serve.clips import Clip
from vipnas.serve.jobs import JobSpec
from vipnas.serve.models import Catalogue
from vipnas.serve.uploads import UploadStore

__all__ = ["MAX_EVERY", "job_spec"]

MAX_EVERY = 1000
BACKENDS = ("torch", "onnxruntime", "openvino")


def _integer(body: dict[str, Any], key: str, low: int, high: int, default: int | None) -> int | None:
    value = body.get(key, default)
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().lstrip("-").isdigit():
        raise ValueError(f"{key}: expected an integer in {low}..{high}, got {value!r}")
    number = int(value)
    if not low <= number <= high:
        raise ValueError(f"{key}: {number} is outside {low}..{high}")
    return number


def job_spec(
    body: Any, catalogue: Catalogue, clips: Sequence[Clip], uploads: UploadStore, detectors: Sequence[str]
) -> JobSpec:
    """The job ``body`` asks for.

    Raises:
        ValueError: a missing or unknown field value (an unknown model, clip or upload, T above the folder's,
            a detector that needs a boxes file without one).
    """
    if not isinstance(body, dict):
        raise ValueError(f"the job request must be a JSON object, got {type(body).__name__}")
    video = body.get("video")
    used: list[str] = []
    clip = None
    if isinstance(video, dict) and video.get("clip"):
        clip = next((c for c in clips if c.id == video["clip"]), None)
        if clip is None:
            raise ValueError(f"video.clip {video['clip']!r}: no such clip; expected one of {[c.id for c in clips]}")
        source, name = clip.frames, f"{clip.id}.mp4"
    elif isinstance(video, dict) and video.get("upload"):
        upload = uploads.get(str(video["upload"]), "video")
        source, name = upload.path, upload.name
        used.append(upload.id)
    else:
        raise ValueError("video: expected {'upload': ID} (POST /api/uploads?kind=video first) or {'clip': ID}")
    network = catalogue.network(str(body.get("model") or ""))
    t_vipnets: tuple[Any, ...] = ()
    if body.get("temporal"):
        folder = catalogue.temporal_folder(str(body["temporal"]))
        length = _integer(body, "length", 0, folder.length, folder.length)
        t_vipnets = folder.networks[:length]
    detector_id = str(body.get("detector") or "boxes")
    if detector_id == "boxes":
        if body.get("boxes"):
            boxes = uploads.get(str(body["boxes"]), "boxes")
            used.append(boxes.id)
            detector = f"gt:{boxes.path}"
        elif clip is not None:
            detector = f"gt:{clip.truth}"
        else:
            raise ValueError(
                "detector 'boxes': upload a boxes file (COCO/PoseTrack18 JSON) with the video, or choose another "
                "detector"
            )
    elif detector_id == "hog":
        detector = "hog"
    elif detector_id.startswith("extra-") and detector_id[6:].isdigit() and int(detector_id[6:]) < len(detectors):
        detector = detectors[int(detector_id[6:])]
    else:
        extras = [f"extra-{i}" for i in range(len(detectors))]
        raise ValueError(f"detector {detector_id!r}: expected one of {['boxes', 'hog', *extras]}")
    backend = str(body.get("backend") or "torch")
    if backend not in BACKENDS:
        raise ValueError(f"backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    every = _integer(body, "every", 1, MAX_EVERY, 1)
    max_frames = _integer(body, "max_frames", 1, 1_000_000, None)
    for upload_id in used:  # only now: a refused request leaves its uploads usable by the next one
        uploads.take(upload_id)
    return JobSpec(
        input=source, input_name=name, model_path=network.path, model_kind=network.kind, t_vipnets=t_vipnets,
        detector=detector, every=every or 1, backend=backend, max_frames=max_frames, smooth=bool(body.get("smooth")),
        uploads=tuple(used),
    )  # fmt: skip
