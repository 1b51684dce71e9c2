"""Automatic computation allocation (ViPNAS §3.3, eq. 3): search the T-ViPNet of every non-key frame under a budget.

A candidate is a :class:`~vipnas.space.temporal.TemporalArch`. Its cost (:meth:`TemporalBudget.cost`) is the
per-frame average over the key frame and its T followers — MACs (the figure the paper's Table 1 reports) and,
with a latency table built with ``--fusion``, predicted latency — plus the parameters of all T+1 deployed
networks; the sum over the T+1 frames is the average times T+1. Random search (the paper's) and evolution run
through the same machinery as the spatial search (:mod:`vipnas.nas.search`: deterministic for a seed, a store
with provenance, resumable, split over ``torchrun`` ranks).

:class:`TemporalEvaluator` scores a candidate by propagating over validation clips: frame 0 through the S-ViPNet,
frame t through the extracted T-ViPNet of frame t fed with frame t-1's heatmaps warped into its crop; BatchNorm
statistics of every T-ViPNet are re-estimated first by the same propagation over training clips. Clips start on
key frames every T+1 frames of a track (as the runtime schedules them), so every predicted person of a frame sits
at the same position of its clip. It reports PoseTrack mAP (vipnas's poseval) over the non-key frames (``Total``,
the objective by default) and over all frames (``Total_all``), without the flip test (a flipped crop would need
flipped propagated heatmaps too).
"""

from __future__ import annotations

import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from vipnas.engine.propagation import propagate
from vipnas.models.complexity import temporal_complexity
from vipnas.nas.budget import Budget
from vipnas.space.temporal import FUSION_OPS, FUSION_POINTS, FrameChoice, TemporalArch, TemporalSpace

__all__ = [
    "FrameByFrameEvaluator",
    "SingleFrame",
    "TemporalBudget",
    "TemporalCost",
    "TemporalEvaluator",
    "align_on_key_frames",
    "clip_evaluator",
    "evaluator_from_checkpoint",
    "plot_allocation",
]


@dataclass(frozen=True)
class TemporalCost:
    """``macs`` and ``latency_ms``: per-frame averages over the T+1 frames; ``params``: all T+1 networks;
    ``frame_macs``: per frame, key frame first."""

    macs: int
    params: int
    latency_ms: float | None
    frame_macs: tuple[int, ...]

    @property
    def total_macs(self) -> int:
        return sum(self.frame_macs)


@dataclass(frozen=True)
class TemporalBudget(Budget):
    """Upper bounds on a temporal arch's per-frame average MACs / latency and total parameters (``None``: none).

    A :class:`vipnas.nas.budget.Budget` whose :meth:`cost` is a temporal arch's (the latency table must be built
    with ``--fusion``), so the spatial search strategies run unchanged.
    """

    per = " per frame"
    table_command = "vipnas latency-table --fusion"

    def cost(self, arch: TemporalArch, *, latency: bool = True) -> TemporalCost:  # type: ignore[override]
        frames = temporal_complexity(arch, num_joints=self.num_joints, input_size=self.input_size)
        latency_ms = None
        if latency and self.latency_table is not None:
            latency_ms = statistics.fmean(self.latency_table.predict_temporal(arch))
        macs = tuple(frame.macs for frame in frames)
        return TemporalCost(round(sum(macs) / len(macs)), sum(frame.params for frame in frames), latency_ms, macs)

    def cheapest(self, space: TemporalSpace) -> TemporalArch:
        """The temporal arch of least per-frame MACs: every frame the smallest CNN with its cheapest fusion."""
        smallest = space.frame_space.smallest()
        options = [FrameChoice(smallest, point, op) for point in FUSION_POINTS for op in FUSION_OPS]
        best = min(options, key=lambda frame: self.cost(space.uniform(frame)).macs)
        return space.uniform(best)


def _frame_view(batch: Any, t: int) -> SimpleNamespace:
    """Frame ``t`` of a batch of clips, with the fields :meth:`PosePredictions.from_crops` reads."""
    pick = lambda name: np.asarray(getattr(batch, name))[:, t]  # noqa: E731
    return SimpleNamespace(
        image_id=pick("image_id"), inverse_affine=pick("inverse_affine"), box_score=pick("box_score"),
        scale=pick("scale"), annotation_id=pick("annotation_id"), flip=pick("flip"),
    )  # fmt: skip


class TemporalEvaluator:
    """``evaluator(temporal_arch) -> {"Total", "Total_all", ...}`` for the T-ViPNets of one temporal supernet.

    Args:
        supernet: the trained ``TemporalSupernet`` (not modified: candidates are extracted copies).
        key: the S-ViPNet of the key frames (eval mode).
        calibration_batches: batches of training clips (``ClipDataset``, no augmentation) for BN recalibration.
        val_batches: batches of validation clips starting on key frames (see the module docstring).
        ground_truth: the validation videos' folder of official per-video files.
        codec: the heatmap decoder of the crops.
        settings: what else the metrics depend on (for the store's provenance).
    """

    def __init__(
        self,
        supernet: Any,
        key: torch.nn.Module,
        *,
        calibration_batches: list[Any],
        val_batches: list[Any],
        ground_truth: Any,
        codec: Any,
        settings: dict[str, Any] | None = None,
    ) -> None:
        from vipnas.codec import UDPHeatmap

        self.supernet, self.key = supernet.eval(), key.eval()
        self.calibration_batches, self.val_batches = calibration_batches, val_batches
        self.ground_truth, self.codec = ground_truth, codec
        self.udp = isinstance(codec, UDPHeatmap)
        self.settings = dict(settings or {})

    def provenance(self) -> dict[str, Any]:
        return {
            "calibration_clips": sum(len(batch.image) for batch in self.calibration_batches),
            "val_clips": sum(len(batch.image) for batch in self.val_batches),
            "codec": repr(self.codec),
            "flip": False,
            **self.settings,
        }

    @torch.no_grad()
    def networks(self, arch: TemporalArch) -> list[Any]:
        """The extracted, BN-recalibrated T-ViPNets of ``arch`` (eval mode)."""
        from torch import nn

        networks = [self.supernet.extract(frame) for frame in arch.frames]
        norms = [m for net in networks for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
        for norm in norms:  # cumulative averages over the calibration clips, as vipnas.engine.batchnorm does
            norm.reset_running_stats()
            norm.momentum = None
        for net in networks:
            net.train()
        for batch in self.calibration_batches:
            propagate(self.key, networks, batch.image, batch.inverse_affine, udp=self.udp)
        for net in networks:
            net.eval()
        return networks

    @torch.no_grad()
    def __call__(self, arch: TemporalArch) -> dict[str, float]:
        return self.evaluate_networks(self.networks(arch))

    @torch.no_grad()
    def evaluate_networks(self, networks: list[Any], key: Any = None) -> dict[str, float]:
        """PoseTrack mAP of the key network (``key``, default this evaluator's) + ``networks`` (one per non-key
        frame, called ``network(crops, heatmaps)``) on the cached validation clips."""
        from vipnas.evaluation.instances import PosePredictions
        from vipnas.evaluation.posetrack import evaluate_posetrack

        key = self.key if key is None else key
        parts: list[list[PosePredictions]] = [[] for _ in range(len(networks) + 1)]
        for batch in self.val_batches:
            for t, heatmaps in enumerate(propagate(key, networks, batch.image, batch.inverse_affine, udp=self.udp)):
                keypoints, scores = self.codec.decode(heatmaps.float().numpy())
                parts[t].append(PosePredictions.from_crops(keypoints, scores, _frame_view(batch, t)))
        per_frame = [PosePredictions.concatenate(p) for p in parts]
        non_key = PosePredictions.concatenate(per_frame[1:])
        everything = PosePredictions.concatenate(per_frame)
        metrics: dict[str, float] = {}
        with tempfile.TemporaryDirectory(prefix="vipnas-temporal-") as folder:
            for suffix, predictions in (("", non_key), ("_all", everything)):
                images = {int(i) for i in predictions.image_ids}
                found = evaluate_posetrack(
                    self.ground_truth, predictions, f"{folder}/{suffix or 'nonkey'}", image_ids=images
                )
                metrics.update({f"{name}{suffix}": float(v) for name, v in found.items() if isinstance(v, float | int)})
        return metrics


class SingleFrame(torch.nn.Module):
    """A spatial network in a non-key frame's place without temporal fusion: ``forward(crops, heatmaps)`` ignores
    the propagated heatmaps (S-ViPNAS run on every frame, Fig. 6a's baseline)."""

    def __init__(self, network: torch.nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, crops: torch.Tensor, heatmaps: torch.Tensor) -> torch.Tensor:
        return self.network(crops)


class FrameByFrameEvaluator:
    """Spatial archs of a spatial supernet scored on the clips of a :class:`TemporalEvaluator`, frame by frame.

    ``evaluator(arch)``: the S-ViPNet of ``arch`` on every frame of every clip (S-ViPNAS applied to each frame
    independently, as the paper's Table 3 baseline), so ``Total_all`` is its video mAP; :meth:`without_fusion`: a
    temporal arch's key network on the key frames and each frame's spatial arch, from this supernet, on its frame
    with no fusion (Fig. 6a's baseline). BatchNorm statistics of each extracted network are re-estimated on every
    frame of the temporal evaluator's calibration clips (as :func:`vipnas.engine.batchnorm.recalibrate_bn` does for
    the spatial search).
    """

    def __init__(self, supernet: Any, clips: TemporalEvaluator) -> None:
        self.supernet, self.clips = supernet.eval(), clips
        self.frames = [batch.image.flatten(0, 1) for batch in clips.calibration_batches]

    def provenance(self) -> dict[str, Any]:
        return {**self.clips.provenance(), "frame_by_frame": True}

    @torch.no_grad()
    def network(self, arch: Any) -> torch.nn.Module:
        """The extracted, BN-recalibrated static network of ``arch`` (eval mode)."""
        from vipnas.engine.batchnorm import recalibrate_bn

        network = self.supernet.extract_subnet(arch)
        return recalibrate_bn(network, None, self.frames).eval()

    @torch.no_grad()
    def __call__(self, arch: Any) -> dict[str, float]:
        network = self.network(arch)
        frames = max(len(batch.image[0]) for batch in self.clips.val_batches) - 1
        return self.clips.evaluate_networks([SingleFrame(network)] * frames, key=network)

    @torch.no_grad()
    def without_fusion(self, arch: TemporalArch, key: Any = None) -> dict[str, float]:
        """``arch``'s frames as spatial networks of this supernet (no fusion) after its key network (``key``, default
        the temporal evaluator's)."""
        networks = {frame.arch: SingleFrame(self.network(frame.arch)) for frame in arch.frames}
        return self.clips.evaluate_networks([networks[frame.arch] for frame in arch.frames], key=key)


def align_on_key_frames(dataset: Any) -> Any:
    """Keep the clips of ``dataset`` (a ``ClipDataset``) that start on a key frame: frame index a multiple of its
    clip length T+1, as the runtime schedules key frames. Returns the dataset."""
    frames = dataset.frames
    dataset.clips = [clip for clip in dataset.clips if clip[0].image.frame_index % frames == 0]
    if not dataset.clips:
        raise ValueError(f"no clip of {frames} frames starts on a key frame (frame index a multiple of {frames})")
    return dataset


def evaluator_from_checkpoint(
    path: str | Path,
    *,
    length: int | None = None,
    calibration_clips: int = 32,
    val_limit: int | None = None,
    is_main: bool = True,
) -> TemporalEvaluator:
    """The evaluator of a temporal supernet checkpoint written by ``vipnas train`` (its config says where the key
    network and the videos are), for T-ViPNets of ``length`` non-key frames (default: the trained T; the fusion
    modules are shared by every frame, so one supernet serves T = 2, 3, 4 ... as the paper's Table 4 does).

    Raises:
        ValueError: not a temporal supernet checkpoint, no training config, validation annotations that are not a
            PoseTrack18 folder of per-video files.
    """
    from dataclasses import replace

    from vipnas.config import config_from_dict
    from vipnas.data.files import file_digest
    from vipnas.engine.build import load_key_network, prepare_data
    from vipnas.models.checkpoint import model_from_payload, read_checkpoint
    from vipnas.models.temporal_supernet import TemporalSupernet

    payload = read_checkpoint(path)
    if payload["kind"] != "temporal_supernet":
        raise ValueError(f"{path} holds a {payload['kind']}, not a temporal supernet: there is no allocation to search")
    if "config" not in payload:
        raise ValueError(
            f"{path} has no training config (where are its key network and videos?); use one written by `vipnas train`"
        )
    supernet = model_from_payload(payload, source=str(path))
    assert isinstance(supernet, TemporalSupernet)
    config = config_from_dict(payload["config"], where=f"{path}: config")
    length = length or supernet.space.length
    if length != supernet.space.length:
        supernet.space = TemporalSpace(supernet.space.space, supernet.space.key, length)
    # clip_evaluator sets the clip length and stride and takes every training clip; here only the validation limit
    limit = val_limit if val_limit is not None else config.data.val_limit
    config = replace(config, data=replace(config.data, val_limit=limit))
    paths = prepare_data(config, is_main=is_main)
    if not Path(paths.val_annotations).is_dir():
        raise ValueError(
            f"data.val_annotations {paths.val_annotations} is not a folder of PoseTrack18 per-video files: the "
            "allocation search scores PoseTrack mAP on them"
        )
    settings = {
        "length": length,
        "data_root": str(config.data.root),
        "key": file_digest(config.temporal.key),
        "calibration_clips_requested": calibration_clips,
        "val_limit": config.data.val_limit,
    }
    return clip_evaluator(
        supernet, load_key_network(config), config, paths, length=length, calibration_clips=calibration_clips,
        settings=settings,
    )  # fmt: skip


def clip_evaluator(
    supernet: Any,
    key: torch.nn.Module,
    config: Any,
    paths: Any,
    *,
    length: int | None = None,
    calibration_clips: int = 32,
    settings: dict[str, Any] | None = None,
) -> TemporalEvaluator:
    """The :class:`TemporalEvaluator` of ``supernet`` for T = ``length`` (default its space's) on the clips of
    ``paths.val_annotations`` (a PoseTrack18 folder of per-video files) that start on key frames, with
    ``calibration_clips`` training clips (evenly spaced over ``paths.train_annotations``) for BatchNorm; ``config``
    gives the data settings (``data.val_limit``, ``data.val_batch_size``, ``temporal.clip_step``)."""
    from dataclasses import replace

    from vipnas.codec import codec_for_model
    from vipnas.data.dataset import build_loader
    from vipnas.data.files import file_digest
    from vipnas.engine.build import build_clip_dataset

    length = length or supernet.space.length
    config = replace(config, temporal=replace(config.temporal, length=length, clip_stride=length + 1))
    config = replace(config, data=replace(config.data, train_limit=0))
    metadata = supernet.metadata
    calibration = build_clip_dataset(config, metadata, paths, split="train", augment=False)
    calibration.clips = calibration.clips[:: max(1, len(calibration.clips) // calibration_clips)][:calibration_clips]
    validation = align_on_key_frames(build_clip_dataset(config, metadata, paths, split="val", augment=False))
    batch = config.data.val_batch_size
    settings = {
        **(settings or {}),
        "length": length,
        "val_annotations_digest": _folder_digest(Path(paths.val_annotations), file_digest),
    }
    return TemporalEvaluator(
        supernet,
        key,
        calibration_batches=list(build_loader(calibration, batch_size=batch, num_workers=0)),
        val_batches=list(build_loader(validation, batch_size=batch, num_workers=0)),
        ground_truth=paths.val_annotations,
        codec=codec_for_model(metadata),
        settings=settings,
    )


def _folder_digest(folder: Path, digest: Any) -> str:
    import hashlib

    joined = "".join(f"{p.name}:{digest(p)}" for p in sorted(folder.glob("*.json")))
    return f"sha256:{hashlib.sha256(joined.encode()).hexdigest()}"


def plot_allocation(arch: TemporalArch, frame_macs: tuple[int, ...], path: str | Path) -> Path:
    """A bar chart of the MACs of each frame (key frame first), labelled with each T-ViPNet's fusion choice."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = ["key"] + [f"t{i}: F{f.fusion} {f.op}" for i, f in enumerate(arch.frames, start=1)]
    figure, axis = plt.subplots(figsize=(1.6 + 1.1 * len(labels), 3.2))
    axis.bar(range(len(labels)), [m / 1e6 for m in frame_macs], color=["#555"] + ["#3a7"] * len(arch.frames))
    axis.set_xticks(range(len(labels)), labels)
    axis.set_ylabel("M MACs")
    axis.set_title("computation per frame (T-ViPNAS allocation)")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
