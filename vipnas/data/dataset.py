"""The top-down dataset: one person per sample, cropped by one affine, with heatmap targets from a codec.

Randomness is per sample: sample ``i`` of epoch ``e`` draws from ``numpy.random.default_rng((seed, e, i))``, so
augmentation is reproducible and independent of the number of loader workers. Call :meth:`set_epoch` before each
epoch (workers are re-created each epoch unless ``persistent_workers`` is set, and then copy the new epoch).
"""

from __future__ import annotations

from typing import Any, Protocol

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from vipnas.data.augment import AugmentConfig, CropParams, sample_crop
from vipnas.data.files import read_image
from vipnas.data.records import PoseAnnotations, PoseInstance
from vipnas.data.sample import Sample, collate
from vipnas.data.transforms import (
    box_xywh_to_center_scale,
    get_affine_matrix,
    get_udp_affine_matrix,
    invert_affine,
    transform_points,
)

__all__ = [
    "IMAGENET_MEAN_RGB",
    "IMAGENET_STD_RGB",
    "HeatmapCodec",
    "TopDownDataset",
    "build_loader",
    "crop_image",
    "describe_loader",
]

IMAGENET_MEAN_RGB = (123.675, 116.28, 103.53)
IMAGENET_STD_RGB = (58.395, 57.12, 57.375)


class HeatmapCodec(Protocol):
    """What the dataset needs of a codec (``vipnas.codec.MSRAHeatmap``, ``UDPHeatmap``)."""

    def encode(self, keypoints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


def crop_image(
    image: np.ndarray, params: CropParams, input_size: tuple[int, int], *, udp: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Crop (and mirror) one image with the sampled parameters in a single ``cv2.warpAffine``.

    Args:
        image: (H, W, 3) uint8 original image.
        params: crop parameters; with ``flip`` their centre is in the mirrored image.
        input_size: network input (width, height).
        udp: use the unbiased (UDP) affine instead of MMPose's default.

    Returns:
        crop: (height, width, 3) uint8.
        forward: (2, 3) map from original-image pixels to input pixels (the mirror folded in).
    """
    matrix_fn = get_udp_affine_matrix if udp else get_affine_matrix
    forward = matrix_fn(params.center, params.scale, params.rotation, input_size)
    if params.flip:  # x → W - 1 - x, then the crop: one warp instead of a flip copy and a warp
        mirror = np.array([[-1.0, 0.0, image.shape[1] - 1.0], [0.0, 1.0, 0.0]])
        forward = np.c_[forward[:, :2] @ mirror[:, :2], forward[:, :2] @ mirror[:, 2] + forward[:, 2]]
    crop = cv2.warpAffine(image, forward, (int(input_size[0]), int(input_size[1])), flags=cv2.INTER_LINEAR)
    return crop, forward


def normalize(crop: np.ndarray, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 RGB → (3, H, W) float32 tensor, (pixel - mean) / std."""
    pixels = (crop.astype(np.float32) - mean) / std
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))


class TopDownDataset(Dataset):
    """Person crops with targets, from any loaded annotation set (COCO, PoseTrack18, MPII, CrowdPose, SynthPose).

    Args:
        annotations: instances to crop (ground truth, or detector boxes from :func:`load_detections`).
        input_size: network input (width, height), e.g. (192, 256).
        codec: heatmap encoder (``MSRAHeatmap``/``UDPHeatmap``); ``None`` gives empty (K, 0, 0) targets.
        augment: random crop policy; ``None`` means the deterministic test crop.
        padding: box padding factor.
        udp: use the UDP affine (pair with ``UDPHeatmap``).
        mean: RGB mean on the 0-255 scale.
        std: RGB std on the 0-255 scale.
        seed: base of the per-sample random generators.
    """

    def __init__(
        self,
        annotations: PoseAnnotations,
        *,
        input_size: tuple[int, int] = (192, 256),
        codec: HeatmapCodec | None = None,
        augment: AugmentConfig | None = None,
        padding: float = 1.25,
        udp: bool = False,
        mean: tuple[float, float, float] = IMAGENET_MEAN_RGB,
        std: tuple[float, float, float] = IMAGENET_STD_RGB,
        seed: int = 0,
    ) -> None:
        if len(input_size) != 2 or min(input_size) <= 0:
            raise ValueError(f"input_size must be (width, height) in pixels, got {input_size}")
        self.annotations = annotations
        self.info = annotations.info
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.codec = codec
        self.augment = augment or AugmentConfig.none()
        self.padding = padding
        self.udp = udp
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draw of an epoch."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.annotations.instances)

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng((self.seed, self.epoch, index))

    def read(self, instance: PoseInstance) -> np.ndarray:
        image = instance.image
        record = f"image id {image.image_id}, annotation id {instance.annotation_id} in {self.annotations.source}"
        return read_image(image.path, record)

    def crop_params(self, instance: PoseInstance, image_width: int, rng: np.random.Generator) -> CropParams:
        """The crop of one instance: sampled when augmenting, else the padded box."""
        aspect = self.input_size[0] / self.input_size[1]
        if self.augment == AugmentConfig.none():
            center, scale = box_xywh_to_center_scale(instance.box, aspect, self.padding)
            return CropParams(center=center, scale=scale, rotation=0.0, flip=False)
        return sample_crop(
            instance.box,
            instance.keypoints,
            instance.visible,
            image_width,
            aspect_ratio=aspect,
            padding=self.padding,
            info=self.info,
            config=self.augment,
            rng=rng,
        )

    def make_sample(self, instance: PoseInstance, image: np.ndarray, params: CropParams) -> Sample:
        """Crop, move the keypoints, encode targets: everything after the random choice."""
        crop, forward = crop_image(image, params, self.input_size, udp=self.udp)
        keypoints = transform_points(instance.keypoints, forward)
        visible = instance.visible.copy()
        if params.flip:
            order = self.info.flip_index()
            keypoints, visible = keypoints[order], visible[order]
        keypoints[visible <= 0] = 0.0
        if self.codec is not None:
            heatmaps, weights = self.codec.encode(keypoints, visible)
        else:
            heatmaps, weights = np.zeros((self.info.num_joints, 0, 0), np.float32), visible.astype(np.float32)
        return Sample(
            image=normalize(crop, self.mean, self.std),
            heatmaps=torch.from_numpy(np.asarray(heatmaps, np.float32)),
            target_weight=torch.from_numpy(np.asarray(weights, np.float32).reshape(-1)),
            keypoints=keypoints.astype(np.float32),
            visible=visible.astype(np.float32),
            inverse_affine=invert_affine(forward),
            center=params.center,
            scale=params.scale,
            rotation=params.rotation,
            flip=params.flip,
            box_score=instance.box_score,
            area=instance.area,
            image_id=instance.image.image_id,
            annotation_id=instance.annotation_id,
            track_id=instance.track_id,
            image_path=str(instance.image.path),
            image_size=np.array([image.shape[1], image.shape[0]], np.int64),
        )

    def __getitem__(self, index: int) -> Sample:
        instance = self.annotations.instances[index]
        image = self.read(instance)
        params = self.crop_params(instance, image.shape[1], self.rng(index))
        return self.make_sample(instance, image, params)


def describe_loader(loader: Any) -> str:
    """What a loader reads, for error messages: its dataset's annotation file or folder and its size (through
    ``Subset`` wrappers), or ``"the loader"`` for anything else (a list of batches, say)."""
    dataset = getattr(loader, "dataset", None)
    while isinstance(dataset, torch.utils.data.Subset):
        dataset = dataset.dataset
    annotations = getattr(dataset, "annotations", None)
    source = getattr(annotations, "source", None)
    if source is None:
        return "the loader"
    count = len(loader.dataset) if hasattr(loader.dataset, "__len__") else "?"
    return f"the loader over {source} ({count} person instances)"


def build_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    shuffle: bool = False,
    num_workers: int = 0,
    seed: int = 0,
    drop_last: bool = False,
    sampler: Sampler | None = None,
    pin_memory: bool = False,
    persistent_workers: bool = False,
    **kwargs: Any,
) -> DataLoader:
    """A ``DataLoader`` yielding :class:`~vipnas.data.sample.Batch` objects.

    The shuffle order comes from a ``torch.Generator`` seeded with ``seed`` (pass a ``DistributedSampler`` as
    ``sampler`` for multi-process training). Workers are forked and keep OpenCV's default threads: calling
    ``cv2.setNumThreads`` in a forked worker can deadlock once the parent has used OpenCV's thread pool.
    """
    generator = torch.Generator()
    generator.manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle if sampler is None else False,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate,
        drop_last=drop_last,
        pin_memory=pin_memory,
        persistent_workers=persistent_workers and num_workers > 0,
        generator=generator,
        **kwargs,
    )
