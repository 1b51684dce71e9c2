"""Build what training needs from a :class:`~vipnas.config.Config`: model, data, loaders, optimizer.

These builders are also the way other tools (search, demo) get the same data and model a training run used.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from vipnas.config import Config
from vipnas.data.augment import AugmentConfig
from vipnas.data.records import PoseAnnotations

__all__ = [
    "DataPaths",
    "ShardSampler",
    "TrainSampler",
    "VideoGroundTruth",
    "build_calibration_batches",
    "build_clip_dataset",
    "build_dataset_codec",
    "build_model",
    "build_optimizer",
    "build_train_dataset",
    "build_val_dataset",
    "load_key_network",
    "prepare_data",
]

logger = logging.getLogger("vipnas.train")


@dataclass(frozen=True)
class DataPaths:
    """Resolved annotation files and image folders of the train and val splits."""

    train_annotations: Path
    train_images: Path
    val_annotations: Path
    val_images: Path
    val_detections: Path | None


def prepare_data(config: Config, *, is_main: bool = True) -> DataPaths:
    """Resolve the data paths of ``config``; for SynthPose, generate the dataset first if it is not there yet.

    Generation happens on the calling process only when ``is_main``; other ranks must wait at a barrier (the
    trainer does) before reading.
    """
    data = config.data
    if data.source == "synthpose":
        from vipnas.data.synthpose.generate import SynthPoseLayout, generate

        layout = SynthPoseLayout(synthpose_root(config))
        if is_main and not _synthpose_ready(layout, data):
            logger.info(
                "generating SynthPose (%s, %d images, seed %d) into %s",
                data.synthpose_level,
                data.synthpose_images,
                data.synthpose_seed,
                layout.root,
            )
            generate(
                layout.root,
                images=data.synthpose_images,
                seed=data.synthpose_seed,
                level=data.synthpose_level,
                test_fraction=data.synthpose_test_fraction,
                progress=config.runtime.progress,
            )
        detections = layout.detections("val") if data.val_detections else None  # the simulated detector
        return DataPaths(
            layout.annotations("train"),
            layout.images("train"),
            layout.annotations("val"),
            layout.images("val"),
            detections,
        )
    root = Path(data.root)
    return DataPaths(
        root / data.train_annotations,
        root / data.train_images,
        root / data.val_annotations,
        root / data.val_images,
        root / data.val_detections if data.val_detections else None,
    )


def synthpose_root(config: Config) -> Path:
    """The SynthPose folder of ``config``: ``data.root``, else
    ``data/synthpose-<level>-<images>-seed<seed>[-test<percent>]``."""
    data = config.data
    if data.root:
        return Path(data.root)
    test = f"-test{round(100 * data.synthpose_test_fraction)}" if data.synthpose_test_fraction else ""
    return Path(f"data/synthpose-{data.synthpose_level}-{data.synthpose_images}-seed{data.synthpose_seed}{test}")


_SYNTHPOSE_ENTRIES = {"images", "annotations", "posetrack", "manifest.json"}


def _synthpose_ready(layout: Any, data: Any) -> bool:
    """True when ``layout`` holds the SynthPose dataset ``data`` asks for; False when there is nothing there yet
    (or a generation of it was interrupted: the manifest is written last). Anything else there is a named error,
    never overwritten: another size, seed, level or test split, or files that are not SynthPose's."""
    from vipnas.data.synthpose.generate import split_counts

    root = layout.root
    if not layout.manifest.is_file():
        foreign = sorted(p.name for p in root.iterdir() if p.name not in _SYNTHPOSE_ENTRIES) if root.is_dir() else []
        if foreign:
            raise ValueError(
                f"data.root {root} is not empty and holds no SynthPose manifest (found {', '.join(foreign[:5])}); "
                "point data.root at an empty or new folder"
            )
        return False
    manifest = json.loads(layout.manifest.read_text())
    wanted = {
        "seed": data.synthpose_seed,
        "images": split_counts(data.synthpose_images, 0.2, data.synthpose_test_fraction),
        "level": data.synthpose_level,
    }
    found = {"seed": manifest.get("seed"), "images": manifest.get("images"), "level": manifest.get("level", "hard")}
    differ = [f"{key} {found[key]} (config: {wanted[key]})" for key in wanted if found[key] != wanted[key]]
    if differ:
        raise ValueError(
            f"data.root {root} holds another SynthPose dataset: {'; '.join(differ)}. It is not overwritten: "
            "point data.root at a new folder (or leave it empty for one named after the settings)"
        )
    return True


def _load(config: Config, annotations: Path, images: Path) -> PoseAnnotations:
    if config.data.source == "mpii":
        from vipnas.data.mpii import load_mpii

        return load_mpii(annotations, images)
    if _is_video_folder(config, annotations):
        from vipnas.data.posetrack import load_posetrack_videos

        return load_posetrack_videos(annotations, images)
    from vipnas.data.coco import load_coco

    return load_coco(annotations, images, config.data.dataset)


def build_model(config: Config, load_from: str | Path | None = None) -> nn.Module:
    """The network or supernet ``config.model`` names, freshly initialised (weights are loaded by the caller).

    ``model.name`` may be a registered name, an arch JSON, a vipnas checkpoint (its architecture), or ``""`` for
    the architecture of ``load_from``. Its metadata records the codec it is trained with (``data.codec``,
    ``data.sigma``), so every checkpoint of the run says how to decode it.
    """
    from vipnas.data.metadata import get_dataset_info
    from vipnas.models.checkpoint import read_checkpoint
    from vipnas.models.pose import build_static, init_weights
    from vipnas.models.registry import create_model
    from vipnas.models.supernet import PoseSupernet
    from vipnas.space.arch import Arch
    from vipnas.space.search_space import SearchSpace

    if config.temporal.key:
        return _build_temporal_supernet(config, load_from)
    info = get_dataset_info(config.data.dataset)
    options: dict[str, Any] = {
        "num_joints": info.num_joints,
        "input_size": config.model.input_size,
        "dataset": info.name,
    }
    name = config.model.name
    if not name:
        if load_from is None:
            raise ValueError(
                "model.name is empty, which means 'the architecture of --load-from', but no --load-from given"
            )
        name = str(load_from)
    if name.endswith((".pth", ".pt", ".ckpt")) or (Path(name).is_file() and not name.endswith(".json")):
        payload = read_checkpoint(name)
        if payload["kind"] in ("t_vipnet", "temporal_supernet"):
            raise ValueError(
                f"model.name {name} is a {payload['kind']} checkpoint: a temporal run also needs temporal.key, the "
                "trained S-ViPNet (see docs/training.md, Temporal training)"
            )
        if payload["kind"] == "supernet":
            model: nn.Module = PoseSupernet(SearchSpace.from_dict(payload["space"]), **options)
        elif payload.get("arch") is None:
            raise ValueError(f"{name}: a network checkpoint needs its arch")
        else:
            model = build_static(
                Arch.from_dict(payload["arch"]), name=payload["metadata"].get("name", "subnet"), **options
            )
    else:
        model = create_model(name, **options)
    if config.model.init != "normal":  # constructors initialise N(0, 0.001)
        init_weights(model, config.model.init)
    typed = cast(Any, model)
    typed.metadata = replace(typed.metadata, codec=config.data.codec, sigma=config.data.sigma)
    return model


def load_key_network(config: Config) -> nn.Module:
    """The frozen key network of a temporal run: the S-ViPNet checkpoint ``temporal.key`` (in eval mode).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a network checkpoint with an arch (a supernet, a T-ViPNet, ...), or corrupt.
    """
    from vipnas.models.checkpoint import model_from_payload, read_checkpoint

    path = config.temporal.key
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"temporal.key {path} does not exist; it is the trained S-ViPNet checkpoint that starts every clip "
            "(see docs/training.md, Temporal training)"
        )
    payload = read_checkpoint(path)
    if payload["kind"] != "network" or payload.get("arch") is None:
        found = payload["kind"] if payload["kind"] != "network" else "network without an arch"
        raise ValueError(
            f"temporal.key {path} holds a {found} checkpoint; the key network is a trained S-ViPNet: a network "
            "checkpoint of an arch (a static run's last.pth, or `vipnas extract` output)"
        )
    return model_from_payload(payload, source=path).eval()


def _check_key_metadata(config: Config, key: Any) -> None:
    """Refuse a config that contradicts the key network's metadata (input size, codec, σ, joints): the key's is the
    run's, and the resolved config (saved in every checkpoint) must say what the run did."""
    from vipnas.data.metadata import get_dataset_info

    meta, path = key.metadata, config.temporal.key
    problems = []
    if tuple(config.model.input_size) != tuple(meta.input_size):
        size, key_size = list(config.model.input_size), list(meta.input_size)
        problems.append(f"model.input_size={size} (the key network's: {key_size})")
    if config.data.codec != meta.codec:
        problems.append(f"data.codec={config.data.codec} (the key network's: {meta.codec})")
    if float(config.data.sigma) != float(meta.sigma):
        problems.append(f"data.sigma={config.data.sigma} (the key network's: {meta.sigma})")
    joints = get_dataset_info(config.data.dataset).joint_names
    try:
        key_joints = get_dataset_info(meta.dataset).joint_names
    except ValueError:
        key_joints = ()
    if joints != key_joints or len(joints) != meta.num_joints:
        problems.append(
            f"data.dataset={config.data.dataset} ({len(joints)} joints; the key network predicts the "
            f"{meta.num_joints} joints of {meta.dataset}: train the key on this dataset's joints)"
        )
    if problems:
        raise ValueError(
            f"temporal.key {path}: the config contradicts the key network, whose metadata is the run's: "
            + "; ".join(problems)
            + ". Set these to the key network's values (they are what it was trained with)"
        )


def _temporal_search_space(config: Config, load_from: str | Path | None) -> Any:
    """The spatial search space ``model.name`` names in a temporal run (a registered supernet, or a supernet or
    temporal supernet checkpoint; ``""``: the ``--load-from`` checkpoint's)."""
    from vipnas.models.checkpoint import read_checkpoint
    from vipnas.models.registry import SPACE_OF
    from vipnas.space.search_space import SearchSpace

    name = config.model.name or (str(load_from) if load_from is not None else "")
    if name in SPACE_OF:
        return SPACE_OF[name]
    if name and not name.endswith(".json") and Path(name).is_file():
        payload = read_checkpoint(name)
        if payload["kind"] in ("supernet", "temporal_supernet"):
            return SearchSpace.from_dict(payload["space"])
    raise ValueError(
        f"model.name {name!r}: a temporal run (temporal.key set) needs the spatial search space's supernet, one of "
        f"{', '.join(SPACE_OF)}, or a supernet or temporal supernet checkpoint; a static network's name or arch is "
        "not a search space (the key network is temporal.key)"
    )


def _build_temporal_supernet(config: Config, load_from: str | Path | None) -> nn.Module:
    """The T-ViPNet supernet of a temporal run, loaded from the key network (its weights and metadata)."""
    from vipnas.models.temporal_supernet import TemporalSupernet
    from vipnas.space.search_space import InvalidArchError
    from vipnas.space.temporal import TemporalSpace

    key = load_key_network(config)
    space = _temporal_search_space(config, load_from)
    try:
        temporal = TemporalSpace(space, cast(Any, key).arch, config.temporal.length)
    except InvalidArchError as error:
        raise InvalidArchError(
            f"temporal.key {config.temporal.key}: the key network's arch is not in the {space.name!r} search space "
            f"of model.name {config.model.name!r}: {error}"
        ) from None
    _check_key_metadata(config, key)
    return TemporalSupernet.from_key_network(cast(Any, key), temporal)


def build_dataset_codec(config: Config, metadata: Any) -> Any:
    """The codec of ``config.data`` (name and σ) sized for ``metadata``: targets, crop affine and decoding of the
    datasets built here (a model trained by this config records the same in its metadata)."""
    from vipnas.codec import codec_for_model

    return codec_for_model(metadata, config.data.codec, sigma=config.data.sigma)


def build_train_dataset(config: Config, metadata: Any, paths: DataPaths, *, augment: bool = True) -> Any:
    """The training crops with heatmap targets of the config's codec (``augment=False``: the deterministic test
    crop)."""
    from vipnas.codec import UDPHeatmap
    from vipnas.data.dataset import TopDownDataset

    if config.temporal.key:
        return build_clip_dataset(config, metadata, paths, split="train", augment=augment)
    annotations = _load(config, paths.train_annotations, paths.train_images)
    if config.data.train_limit:
        annotations.instances = annotations.instances[: config.data.train_limit]
    codec = build_dataset_codec(config, metadata)
    return TopDownDataset(
        annotations,
        input_size=(metadata.input_size[1], metadata.input_size[0]),  # the dataset takes (width, height)
        codec=codec,
        augment=config.data.augment if augment else AugmentConfig.none(),
        padding=config.data.padding,
        udp=isinstance(codec, UDPHeatmap),  # UDP's targets are only unbiased with its crop affine
        mean=metadata.mean,
        std=metadata.std,
        seed=config.runtime.seed,
    )


def build_clip_dataset(
    config: Config, metadata: Any, paths: DataPaths, *, split: str = "train", augment: bool = True
) -> Any:
    """Clips of T+1 = ``temporal.length + 1`` frames of one track (:class:`vipnas.data.clips.ClipDataset`) from the
    ``split`` videos, each frame cropped from its own box; ``data.train_limit`` / ``data.val_limit`` keep the first
    N clips. ``augment=False``: each frame's plain padded box, no jitter.

    Raises:
        ValueError: the annotations hold no videos (``temporal training needs videos: ...``), or no track is
            annotated on T+1 frames ``temporal.clip_step`` apart.
    """
    from vipnas.codec import UDPHeatmap
    from vipnas.data.clips import ClipDataset

    data, temporal = config.data, config.temporal
    annotations_path, images = (
        (paths.train_annotations, paths.train_images) if split == "train" else (paths.val_annotations, paths.val_images)
    )
    annotations = _load(config, annotations_path, images)
    if not annotations.tracks():
        still = f" (data.source {data.source!r} gives still images)" if data.source in ("synthpose", "mpii") else ""
        raise ValueError(
            f"temporal training needs videos: the {split} annotations {annotations_path}{still} hold no tracked "
            "persons in video frames. Give data.dataset POSETRACK18 and a PoseTrack18 folder of per-video files "
            f"(data.{split}_annotations), e.g. SynthPose's videos: `vipnas synth --out DIR --videos N`, then "
            f"data.source coco, data.root DIR/posetrack, data.{split}_annotations annotations/{split}, "
            f"data.{split}_images ."
        )
    codec = build_dataset_codec(config, metadata)
    dataset = ClipDataset(
        annotations,
        frames=temporal.length + 1,
        step=temporal.clip_step,
        stride=temporal.clip_stride,
        jitter_shift=temporal.jitter_shift,
        jitter_scale=temporal.jitter_scale,
        input_size=(metadata.input_size[1], metadata.input_size[0]),  # the dataset takes (width, height)
        codec=codec,
        augment=data.augment if augment else AugmentConfig.none(),
        padding=data.padding,
        udp=isinstance(codec, UDPHeatmap),
        mean=metadata.mean,
        std=metadata.std,
        seed=config.runtime.seed,
    )
    if not dataset.clips:
        raise ValueError(
            f"temporal training: no track of the {split} videos {annotations_path} is annotated on "
            f"{temporal.length + 1} frames {temporal.clip_step} apart (temporal.length {temporal.length}, "
            "temporal.clip_step); lower them or give longer videos"
        )
    limit = data.train_limit if split == "train" else data.val_limit
    if limit:
        dataset.clips = dataset.clips[:limit]
    return dataset


@dataclass(frozen=True)
class VideoGroundTruth:
    """PoseTrack18 validation ground truth: the folder of official per-video files, evaluated with poseval's
    mAP (``Total``), restricted to ``image_ids`` (``data.val_limit``) when given."""

    folder: Path
    image_ids: frozenset[int] | None = None


def _is_video_folder(config: Config, annotations: Path) -> bool:
    """PoseTrack18 annotations given as the official folder of per-video files (not the merged COCO-style file)."""
    from vipnas.data.metadata import get_dataset_info

    return get_dataset_info(config.data.dataset).name == "POSETRACK18" and Path(annotations).is_dir()


def build_val_dataset(config: Config, metadata: Any, paths: DataPaths) -> tuple[Any, Any]:
    """Validation crops (ground-truth boxes, with targets for the loss) and, for COCO-style AP, the ground truth
    restricted to the images used (``data.val_limit`` keeps the first N images and all their persons); for a
    PoseTrack18 folder of per-video files, a :class:`VideoGroundTruth` (poseval mAP on those files). The
    dataset's ``codec`` is the config's, for the targets and for decoding."""
    from vipnas.codec import UDPHeatmap
    from vipnas.data.dataset import TopDownDataset

    annotations = _load(config, paths.val_annotations, paths.val_images)
    ground_truth: Any = paths.val_annotations
    if _is_video_folder(config, paths.val_annotations):
        ground_truth = VideoGroundTruth(paths.val_annotations)
    if config.data.val_limit:
        kept = set(list(annotations.images)[: config.data.val_limit])
        annotations.instances = [i for i in annotations.instances if i.image.image_id in kept]
        if isinstance(ground_truth, VideoGroundTruth):
            ground_truth = VideoGroundTruth(paths.val_annotations, frozenset(kept))
        elif config.data.source != "mpii":
            ground_truth = json.loads(Path(paths.val_annotations).read_text())
            ground_truth["images"] = [im for im in ground_truth["images"] if im["id"] in kept]
            ground_truth["annotations"] = [a for a in ground_truth["annotations"] if a["image_id"] in kept]
    codec = build_dataset_codec(config, metadata)
    dataset = TopDownDataset(
        annotations,
        input_size=(metadata.input_size[1], metadata.input_size[0]),
        codec=codec,
        padding=config.data.padding,
        udp=isinstance(codec, UDPHeatmap),
        mean=metadata.mean,
        std=metadata.std,
    )
    return dataset, ground_truth


class TrainSampler(DistributedSampler):
    """``DistributedSampler`` (shuffled per ``set_epoch``, same permutation on every rank, disjoint shards) that
    can start in the middle of an epoch, so a resumed run sees exactly the batches the interrupted one would."""

    def __init__(self, dataset: Any, *, num_replicas: int, rank: int, seed: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=True)
        self.start = 0

    def set_start(self, start: int) -> None:
        """Skip the first ``start`` indices of this rank's shard in the current epoch."""
        self.start = int(start)

    def __iter__(self) -> Iterator[int]:
        return iter(list(super().__iter__())[self.start :])

    def __len__(self) -> int:
        return self.num_samples - self.start


class ShardSampler(Sampler[int]):
    """Indices ``rank, rank + world, ...`` in order: every sample once over all ranks (no padding), for evaluation."""

    def __init__(self, length: int, *, num_replicas: int, rank: int) -> None:
        self.indices = list(range(rank, length, num_replicas))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def build_calibration_batches(
    config: Config, metadata: Any, paths: DataPaths, *, num_images: int | None = None, batch_size: int | None = None
) -> list[torch.Tensor]:
    """A fixed list of training batches for BN recalibration: the test crops (no augmentation) of a seeded random
    subset of the training persons, identical on every rank and in every call with the same config."""
    from vipnas.data.dataset import build_loader
    from vipnas.engine.batchnorm import collect_batches

    dataset = build_train_dataset(config, metadata, paths, augment=False)
    count = min(num_images or config.supernet.calibration_images, len(dataset))
    generator = torch.Generator().manual_seed(config.runtime.seed)
    subset = torch.utils.data.Subset(dataset, torch.randperm(len(dataset), generator=generator)[:count].tolist())
    size = batch_size or config.data.val_batch_size
    loader = build_loader(subset, batch_size=size, num_workers=config.data.num_workers)
    return collect_batches(loader, (count + size - 1) // size)


def build_optimizer(config: Config, model: nn.Module, lr: float) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD over every parameter of ``model`` with the base rate ``lr``."""
    settings = config.optimizer
    parameters = list(model.parameters())
    if settings.name == "adam":
        return torch.optim.Adam(parameters, lr=lr, betas=settings.betas, weight_decay=settings.weight_decay)
    if settings.name == "adamw":
        return torch.optim.AdamW(parameters, lr=lr, betas=settings.betas, weight_decay=settings.weight_decay)
    return torch.optim.SGD(parameters, lr=lr, momentum=settings.momentum, weight_decay=settings.weight_decay)


def make_loader(dataset: Any, sampler: Sampler, batch_size: int, config: Config, *, drop_last: bool) -> DataLoader:
    from vipnas.data.dataset import build_loader

    return build_loader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=config.data.num_workers,
        seed=config.runtime.seed,
        drop_last=drop_last,
        pin_memory=torch.cuda.is_available(),
    )
