"""Preprocessing and output metadata that travels with a model's weights (timm's ``pretrained_cfg`` idea).

Every model vipnas builds or loads carries one :class:`ModelMetadata` as ``model.metadata``, so a checkpoint
alone says how to feed the network and how to read its heatmaps.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

IMAGENET_MEAN_RGB = (123.675, 116.28, 103.53)
IMAGENET_STD_RGB = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class ModelMetadata:
    """How to feed a pose network and read its output.

    Attributes:
        name: model name (a registered name such as ``s_vipnas_res50``, or ``subnet`` for an extracted arch).
        num_joints: heatmap channels K.
        input_size: network input (height, width) in pixels, e.g. (256, 192).
        heatmap_stride: input pixels per heatmap pixel (4 for the deconvolution head).
        mean: per-channel mean subtracted from RGB pixels on the 0-255 scale.
        std: per-channel divisor applied after the mean, 0-255 scale.
        color_order: channel order the network expects (always ``RGB``: images are converted after reading).
        dataset: name of the keypoint convention the heatmaps follow (``COCO``, ``POSETRACK18``, ...).
        codec: heatmap codec the network was trained with (``msra``, ``dark``, ``udp``; see
            ``vipnas.codec.build_codec``): how to crop for it and decode its heatmaps. Checkpoints older than the
            field read as ``msra``.
        sigma: Gaussian σ (heatmap pixels) of the codec's training targets.
        arch: the architecture as a JSON-ready dict, or ``None`` for networks outside a search space.
    """

    name: str
    num_joints: int = 17
    input_size: tuple[int, int] = (256, 192)
    heatmap_stride: int = 4
    mean: tuple[float, float, float] = IMAGENET_MEAN_RGB
    std: tuple[float, float, float] = IMAGENET_STD_RGB
    color_order: str = "RGB"
    dataset: str = "COCO"
    codec: str = "msra"
    sigma: float = 2.0
    arch: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def heatmap_size(self) -> tuple[int, int]:
        """Heatmap (height, width)."""
        return self.input_size[0] // self.heatmap_stride, self.input_size[1] // self.heatmap_stride

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelMetadata:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(
                f"model metadata has unknown fields {sorted(unknown)}; expected a subset of {sorted(known)}"
            )
        values = dict(data)
        for key in ("input_size", "mean", "std"):
            if key in values:
                values[key] = tuple(values[key])
        if "sigma" in values:
            values["sigma"] = float(values["sigma"])
        return cls(**values)
