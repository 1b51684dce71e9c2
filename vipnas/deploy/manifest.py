"""``deployment.json``: what an exported deployment is, what produced it, and what was measured on it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FORMAT", "MANIFEST", "PRECISIONS", "Deployment", "is_deployment", "read_deployment"]

FORMAT = "vipnas-deployment"
FORMAT_VERSION = 1
MANIFEST = "deployment.json"

# runtime -> precisions it deploys. OpenVINO's bf16 is its CPU plugin's inference precision on the fp32 IR (its
# default on CPUs with AVX-512 bf16 or AMX, such as this project's: fp32 must be asked for); int8 is NNCF's
# post-training quantisation with the rest of the graph at fp32. ONNX Runtime's int8 is static QDQ (signed
# 8-bit activations and per-channel weights).
PRECISIONS: dict[str, tuple[str, ...]] = {"onnxruntime": ("fp32", "int8"), "openvino": ("fp32", "bf16", "int8")}


@dataclass(frozen=True)
class Deployment:
    """One deployment folder's manifest.

    Attributes:
        backend, precision: the runtime (:data:`PRECISIONS`) and precision.
        file: the network file inside the folder (``model.onnx``, ``model_int8.onnx`` or ``model.xml``).
        metadata: the network's :class:`~vipnas.models.metadata.ModelMetadata` as a dict (input size,
            normalisation, joints, codec, arch).
        frame: a T-ViPNet's frame choice (spatial arch, fusion point, op); ``None`` for an S-ViPNet.
        provenance: what produced it (checkpoint digest, runtime, precision, calibration and check data,
            thresholds, tool versions); a folder is reused only for the same provenance.
        checks: what was measured: output agreement with the torch network, and the AP of both when validation
            data was given (``accuracy``), and whether a refused precision was forced.
        files: ``sha256:`` digest of every file of the folder the deployment reads.
    """

    backend: str
    precision: str
    file: str
    metadata: dict[str, Any]
    frame: dict[str, Any] | None
    provenance: dict[str, Any]
    checks: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    @property
    def temporal(self) -> bool:
        return self.frame is not None

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data: Any, source: str = MANIFEST) -> Deployment:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"{source}: not a vipnas deployment manifest (expected format {FORMAT!r})")
        if int(data.get("format_version", 0)) > FORMAT_VERSION:
            raise ValueError(
                f"{source}: deployment format version {data['format_version']}; this vipnas reads up to "
                f"{FORMAT_VERSION}"
            )
        missing = [name for name in ("backend", "precision", "file", "metadata", "provenance") if name not in data]
        if missing:
            raise ValueError(f"{source}: missing field(s) {', '.join(missing)}")
        backend, precision = data["backend"], data["precision"]
        if backend not in PRECISIONS or precision not in PRECISIONS[backend]:
            choices = "; ".join(f"{b}: {', '.join(p)}" for b, p in PRECISIONS.items())
            raise ValueError(f"{source}: backend/precision {backend!r}/{precision!r}; expected one of {choices}")
        return cls(
            backend=backend,
            precision=precision,
            file=str(data["file"]),
            metadata=dict(data["metadata"]),
            frame=data.get("frame"),
            provenance=dict(data["provenance"]),
            checks=dict(data.get("checks") or {}),
            files=dict(data.get("files") or {}),
        )


def is_deployment(path: str | Path) -> bool:
    """Whether ``path`` is a deployment folder (holds ``deployment.json``)."""
    return Path(path).is_dir() and (Path(path) / MANIFEST).is_file()


def read_deployment(folder: str | Path, *, verify: bool = True) -> Deployment:
    """The manifest of deployment ``folder``; with ``verify`` the network file's digest is checked (a file
    replaced or truncated after the export is a named error, not a different network run silently)."""
    from vipnas.data.files import file_digest, read_json

    folder = Path(folder)
    manifest = folder / MANIFEST
    if not manifest.is_file():
        raise FileNotFoundError(f"{folder}: not a deployment folder (no {MANIFEST}; vipnas export writes one)")
    deployment = Deployment.from_dict(read_json(manifest), str(manifest))
    if verify:
        for name, expected in deployment.files.items():
            path = folder / name
            if not path.is_file():
                raise FileNotFoundError(f"{manifest}: its file {name} is missing")
            if file_digest(path) != expected:
                raise ValueError(f"{path}: changed since it was exported ({MANIFEST} records {expected})")
    return deployment
