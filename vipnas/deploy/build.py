"""``vipnas export``: a static S-ViPNet or T-ViPNet deployed for ONNX Runtime or OpenVINO at a precision, with
its outputs and (given validation data) its AP checked before the folder is written.

Steps: fold BatchNorm into the convolutions (:func:`vipnas.models.fuse.fold_batchnorm`), export ONNX (checked
against PyTorch by :func:`vipnas.models.export.export_onnx`), then per runtime and precision

* ONNX Runtime fp32: that graph; int8: ``quant_pre_process`` (shape inference and ORT's graph optimisation, i.e.
  constant folding) then ``quantize_static`` in QDQ format, signed 8-bit activations and per-channel weights,
  min-max calibrated on ``calibration`` crops;
* OpenVINO fp32 / bf16: the IR ``convert_model`` makes (it folds constants), saved without fp16 compression; the
  precision is the inference hint the runtime compiles with (fp32 asked for: the CPU plugin's default here is
  bf16); int8: NNCF's post-training quantisation of that IR on the calibration crops (``nncf.quantize``, CPU
  target, default preset).

Calibration crops are the deterministic test crops of a training annotation set (ground-truth boxes, no
augmentation), ``count`` of them drawn with ``seed``; a T-ViPNet's second input, the previous frame's heatmaps, is
calibrated with the heatmaps its own spatial network gives on the same crop (what a perfect propagation from an
identical previous frame would feed it).

Checks, always: the deployed network against the torch network on the check crops (heatmap max |difference| and
keypoint displacement in input pixels; an fp32 deployment must agree to float rounding). With ``check`` data
(an S-ViPNet only): the AP (``AP``, PoseTrack ``Total`` or ``PCKh``) of both on it; a drop above ``max_drop``
(AP as a fraction) raises :class:`DeploymentRefusedError` unless ``force``. A low precision without check data is
refused too, unless forced: its accuracy would be assumed, not measured.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vipnas.deploy.manifest import MANIFEST, PRECISIONS, Deployment, read_deployment
from vipnas.permissions import current_umask

__all__ = ["Calibration", "CheckData", "DeploymentRefusedError", "export_deployment"]

# an fp32 deployment agrees with torch to float rounding: max |heatmap difference| within this of the peak
FP32_TOLERANCE = 1e-3


class DeploymentRefusedError(ValueError):
    """A precision's measured AP drop exceeds the threshold (or was not measured), and it was not forced."""


@dataclass(frozen=True)
class Calibration:
    """Crops for calibration (and the output check): ``count`` deterministic crops of ``annotation``."""

    dataset: str
    annotation: str
    images: str
    count: int = 300
    seed: int = 0


@dataclass(frozen=True)
class CheckData:
    """Validation data the AP of the torch and the deployed network are measured on."""

    dataset: str
    annotation: str
    images: str
    flip: bool = True


def weights_digest(model: nn.Module) -> str:
    """``sha256:`` of a network's arch and weights (every state tensor's name, shape, dtype and bytes)."""
    digest = hashlib.sha256()
    metadata = getattr(model, "metadata", None)
    digest.update(json.dumps(metadata.to_dict() if metadata is not None else None, sort_keys=True).encode())
    frame = getattr(model, "frame", None)
    digest.update(json.dumps(frame.to_dict() if frame is not None else None, sort_keys=True).encode())
    for name, tensor in model.state_dict().items():
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(value.shape)}:{value.dtype}".encode())
        digest.update(value.numpy().tobytes() if value.dtype != torch.bfloat16 else value.float().numpy().tobytes())
    return f"sha256:{digest.hexdigest()}"


def _versions(backend: str, precision: str) -> dict[str, str]:
    import onnx
    import onnxruntime

    from vipnas.version import __version__

    found = {"vipnas": __version__, "torch": torch.__version__.split("+")[0], "onnx": onnx.__version__}
    if backend == "onnxruntime":
        found["onnxruntime"] = onnxruntime.__version__
    else:
        import openvino

        found["openvino"] = openvino.__version__ if hasattr(openvino, "__version__") else openvino.get_version()
        if precision == "int8":
            import nncf

            found["nncf"] = nncf.__version__
    return found


def _data_record(data: Calibration | CheckData | None) -> dict[str, Any] | None:
    from vipnas.data.files import file_digest

    if data is None:
        return None
    record = asdict(data)
    annotation = Path(data.annotation)
    if annotation.is_file():
        record["annotation_digest"] = file_digest(annotation)
    elif annotation.is_dir():
        digests = {p.name: file_digest(p) for p in sorted(annotation.glob("*.json"))}
        record["annotation_digest"] = "sha256:" + hashlib.sha256(json.dumps(digests).encode()).hexdigest()
    else:
        raise FileNotFoundError(f"{data.annotation}: no such annotation file or folder")
    if not Path(data.images).is_dir():
        raise FileNotFoundError(f"{data.images}: no such image folder")
    return record


def calibration_inputs(model: nn.Module, data: Calibration) -> list[dict[str, np.ndarray]]:
    """``data.count`` calibration inputs of batch 1 (``image``, and a T-ViPNet's ``previous_heatmaps``)."""
    from vipnas.codec import UDPHeatmap, codec_for_model
    from vipnas.data.dataset import TopDownDataset
    from vipnas.evaluation.pipeline import load_ground_truth

    metadata = model.metadata  # type: ignore[union-attr]
    annotations = load_ground_truth(data.dataset, data.annotation, data.images)
    height, width = metadata.input_size
    udp = isinstance(codec_for_model(metadata), UDPHeatmap)
    crops = TopDownDataset(annotations, input_size=(width, height), udp=udp, mean=metadata.mean, std=metadata.std)
    if len(crops) == 0:
        raise ValueError(f"{data.annotation}: no person instance to calibrate on")
    chosen = np.random.default_rng(data.seed).permutation(len(crops))[: data.count]
    inputs = []
    temporal = hasattr(model, "fusion")
    for index in sorted(int(i) for i in chosen):
        image = crops[index].image[None].numpy()
        item = {"image": image}
        if temporal:
            with torch.no_grad():
                item["previous_heatmaps"] = model.network(torch.from_numpy(image)).numpy()  # type: ignore[union-attr]
        inputs.append(item)
    return inputs


def _random_inputs(model: nn.Module, count: int = 16) -> list[dict[str, np.ndarray]]:
    from vipnas.models.export import _examples, _inputs

    generator = torch.Generator().manual_seed(0)
    out = []
    for _ in range(count):
        tensors = _examples(model, 1, generator)
        out.append({name: t.numpy() for name, t in zip(_inputs(model), tensors, strict=True)})
    return out


def _agreement(model: nn.Module, deployed: Any, inputs: list[dict[str, np.ndarray]]) -> dict[str, float]:
    """Heatmap and keypoint agreement of the deployed network with the torch network on ``inputs``."""
    from vipnas.codec import codec_for_model

    codec = codec_for_model(model.metadata)  # type: ignore[union-attr]
    worst, peak, shifts = 0.0, 0.0, []
    for item in inputs:
        tensors = [torch.from_numpy(item[name]) for name in item]
        with torch.no_grad():
            expected = model(*tensors).numpy()
        got = deployed(*tensors).numpy()
        if got.shape != expected.shape:
            raise ValueError(f"deployed output shape {got.shape} differs from torch's {expected.shape}")
        worst = max(worst, float(np.abs(got - expected).max()))
        peak = max(peak, float(np.abs(expected).max()))
        ours, _ = codec.decode(got)
        theirs, _ = codec.decode(expected)
        shifts.append(np.linalg.norm(ours - theirs, axis=-1).reshape(-1))
    distance = np.concatenate(shifts)
    return {
        "crops": len(inputs),
        "heatmap_max_abs_difference": worst,
        "heatmap_peak": peak,
        "keypoint_shift_mean_px": float(distance.mean()),
        "keypoint_shift_max_px": float(distance.max()),
        "keypoints_within_1px": float(np.mean(distance <= 1.0)),
    }


def _headline(dataset: str, metrics: dict[str, Any]) -> tuple[str, float]:
    """The protocol's headline metric, as a fraction (poseval's mAP and PCKh are percentages)."""
    for name, scale in (("AP", 1.0), ("Total", 0.01), ("PCKh", 0.01)):
        if name in metrics:
            return name, float(metrics[name]) * scale
    raise ValueError(f"no headline metric among {sorted(metrics)} for {dataset}")


def _accuracy(model: nn.Module, deployed: Any, check: CheckData) -> dict[str, Any]:
    from vipnas.evaluation.pipeline import evaluate_model

    results = {}
    for name, network in (("torch_fp32", model), ("deployed", deployed)):
        metrics, _ = evaluate_model(network, check.dataset, check.annotation, check.images, flip=check.flip)
        metric, value = _headline(check.dataset, metrics)
        results[name] = value
    return {"metric": metric, **results, "drop": results["torch_fp32"] - results["deployed"]}


def _check_target(out: Path, provenance: dict[str, Any]) -> Deployment | None:
    """``None`` when ``out`` may be written; the existing deployment when it was made from the same provenance;
    an error when it holds anything else."""
    if not out.exists():
        return None
    if out.is_file():
        raise FileExistsError(f"--out {out}: is a file, expected a folder for the deployment")
    if (out / MANIFEST).is_file():
        existing = read_deployment(out)
        if existing.provenance == provenance:
            return existing
        changed = sorted(
            k for k in {*provenance, *existing.provenance} if provenance.get(k) != existing.provenance.get(k)
        )
        raise FileExistsError(
            f"--out {out}: holds a deployment made differently ({', '.join(changed)} differ); choose another --out "
            "or remove it"
        )
    if any(out.iterdir()):
        raise FileExistsError(f"--out {out}: not empty and not a deployment; choose another folder")
    return None


def export_deployment(
    model: nn.Module,
    out: str | Path,
    *,
    backend: str,
    precision: str = "fp32",
    calibration: Calibration | None = None,
    check: CheckData | None = None,
    max_drop: float = 0.01,
    force: bool = False,
    threads: int = 1,
) -> Deployment:
    """Deploy ``model`` (a static network with ``metadata``: a ``PoseNetwork`` or a ``TemporalNetwork``) to
    folder ``out`` for ``backend`` at ``precision``; returns its manifest (the existing one when ``out`` was
    made from the same network and settings).

    Raises:
        ValueError: unknown backend/precision, int8 without calibration data, an fp32 deployment that disagrees.
        DeploymentRefusedError: the AP drop exceeds ``max_drop`` (or a low precision was not measured), unless forced.
        FileExistsError: ``out`` holds something else.
    """
    from vipnas.data.files import file_digest, write_json_atomic
    from vipnas.deploy.network import load_deployment
    from vipnas.models.export import convert_openvino, export_onnx, quantize_onnxruntime_int8
    from vipnas.models.fuse import fold_batchnorm

    if backend not in PRECISIONS:
        raise ValueError(f"backend {backend!r}: choose one of {', '.join(PRECISIONS)}")
    if precision not in PRECISIONS[backend]:
        raise ValueError(f"precision {precision!r} for {backend}: choose one of {', '.join(PRECISIONS[backend])}")
    if precision == "int8" and calibration is None:
        raise ValueError("int8 needs calibration data (--calibration ANNOTATION --calibration-images DIR)")
    temporal = hasattr(model, "fusion")
    if check is not None and temporal:
        raise ValueError("the AP check runs S-ViPNets; a T-ViPNet's outputs are checked against torch instead")
    if not 0 <= max_drop <= 1:
        raise ValueError(f"max_drop {max_drop}: expected an AP fraction in [0, 1]")
    metadata = model.metadata  # type: ignore[union-attr]
    provenance = {
        "network": weights_digest(model),
        "backend": backend,
        "precision": precision,
        "calibration": _data_record(calibration) if precision == "int8" else None,
        "check": _data_record(check),
        "max_drop": max_drop,
        "versions": _versions(backend, precision),
    }
    provenance = json.loads(json.dumps(provenance))  # as the manifest will read it back
    out = Path(out)
    existing = _check_target(out, provenance)
    if existing is not None:
        return existing
    model = fold_batchnorm(copy.deepcopy(model).eval()).eval()
    inputs = calibration_inputs(model, calibration) if calibration is not None else _random_inputs(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        export_onnx(model, work / "model.onnx")  # checked against PyTorch in ONNX Runtime
        if backend == "onnxruntime":
            file = "model.onnx"
            if precision == "int8":
                scratch = Path(tempfile.mkdtemp(prefix="vipnas-quantize-"))
                try:
                    quantize_onnxruntime_int8(work / "model.onnx", work / "model_int8.onnx", inputs, scratch)
                finally:
                    shutil.rmtree(scratch, ignore_errors=True)
                (work / "model.onnx").unlink()
                file = "model_int8.onnx"
        else:
            file = "model.xml"
            convert_openvino(work / "model.onnx", work / file, precision, inputs)
            (work / "model.onnx").unlink()
        files = {p.name: file_digest(p) for p in sorted(work.iterdir()) if p.is_file()}
        frame = json.loads(json.dumps(model.frame.to_dict())) if temporal else None  # type: ignore[union-attr]
        described = json.loads(json.dumps(metadata.to_dict()))
        deployment = Deployment(backend, precision, file, described, frame, provenance, {}, files)
        write_json_atomic(work / MANIFEST, deployment.to_dict())
        deployed = load_deployment(work, threads=threads)
        checks: dict[str, Any] = {"agreement": _agreement(model, deployed, inputs[:64])}
        agreement = checks["agreement"]
        if precision == "fp32" and agreement["heatmap_max_abs_difference"] > FP32_TOLERANCE * agreement["heatmap_peak"]:
            raise ValueError(
                f"the {backend} fp32 deployment differs from torch: max |heatmap difference| "
                f"{agreement['heatmap_max_abs_difference']:.3g} (peak {agreement['heatmap_peak']:.3g})"
            )
        refusal = None
        if check is not None:
            checks["accuracy"] = accuracy = _accuracy(model, deployed, check)
            if accuracy["drop"] > max_drop:
                refusal = (
                    f"{backend} {precision} loses {accuracy['drop']:.4f} {accuracy['metric']} on {check.annotation} "
                    f"({accuracy['torch_fp32']:.4f} -> {accuracy['deployed']:.4f}), more than --max-drop {max_drop}"
                )
        elif precision != "fp32":
            refusal = (
                f"{backend} {precision}: its accuracy is not measured; give validation data (--val ANNOTATION "
                "--val-images DIR) to measure its AP drop"
            )
        if refusal is not None and not force:
            raise DeploymentRefusedError(f"{refusal}; --force exports it anyway")
        checks["forced"] = refusal if refusal is not None else None
        deployment = Deployment(backend, precision, file, described, frame, provenance, checks, files)
        write_json_atomic(work / MANIFEST, deployment.to_dict())
        os.chmod(work, 0o777 & ~current_umask())  # mkdtemp made it 0700
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.replace(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return deployment
