"""Top-down inference over a loader: network (with flip test), decode, back-project into the image."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from vipnas.codec import MSRAHeatmap, UDPHeatmap, build_codec
from vipnas.data.dataset import describe_loader
from vipnas.evaluation.flip import flip_test
from vipnas.evaluation.instances import PosePredictions

__all__ = ["run_inference"]


@torch.no_grad()
def run_inference(
    model: torch.nn.Module,
    loader: Iterable[Any],
    *,
    flip: bool = True,
    flip_index: Sequence[int] | None = None,
    shift_heatmap: bool | None = None,
    codec: MSRAHeatmap | UDPHeatmap | None = None,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> PosePredictions:
    """Predict every crop of a loader and return the persons in image coordinates.

    Args:
        model: heatmap network, (N, 3, H, W) → (N, K, H/s, W/s); put in eval mode here.
        loader: yields :class:`vipnas.data.Batch` objects (``image``, ``inverse_affine``, ``scale``, ``box_score``,
            ``image_id``, ``annotation_id``, ``flip``), e.g. ``build_loader(TopDownDataset(...))``.
        flip: average with the mirrored crop's heatmaps.
        flip_index: heatmap channel permutation for the flip; default from ``loader.dataset.info`` or the
            model's ``metadata.dataset``.
        shift_heatmap: shift flipped heatmaps one pixel (default: True, False for a UDP codec).
        codec: heatmap decoder; default: the codec the model's metadata records (``codec``, ``sigma``; ``msra``
            when it records none), sized from the first batch. The loader's crops must match it (UDP affine for
            ``udp``).
        device: where the network runs.
        progress: show a tqdm bar.

    Returns:
        One prediction per crop: keypoints in image pixels, heatmap-maximum scores, the box score, the padded crop
        area ``scale_w · scale_h`` (the OKS-NMS scale), image and annotation ids.
    """
    model.eval().to(device)
    if flip_index is None:
        info = getattr(getattr(loader, "dataset", None), "info", None)
        if info is None:
            from vipnas.data.metadata import get_dataset_info

            info = get_dataset_info(str(getattr(model, "metadata").dataset))  # noqa: B009
        flip_index = info.flip_index()
    metadata = getattr(model, "metadata", None)
    default_codec = str(getattr(metadata, "codec", "msra"))  # when no codec is given
    if shift_heatmap is None:  # UDP's flip maps heatmap pixels onto pixels exactly: no shift
        shift_heatmap = not isinstance(codec, UDPHeatmap) if codec is not None else default_codec != "udp"
    source = describe_loader(loader)
    if progress:
        from tqdm import tqdm

        loader = tqdm(loader, desc="inference", unit="batch")
    parts = []
    for batch in loader:
        images = batch.image.to(device)
        heatmaps = flip_test(model, images, flip_index, shift_heatmap=shift_heatmap) if flip else model(images)
        heatmaps = heatmaps.float().cpu().numpy()  # (N, K, h, w)
        if codec is None:
            codec = build_codec(
                default_codec,
                input_size=(images.shape[-1], images.shape[-2]),
                heatmap_size=(heatmaps.shape[-1], heatmaps.shape[-2]),
                sigma=float(getattr(metadata, "sigma", 2.0)),
            )
        keypoints, scores = codec.decode(heatmaps)  # (N, K, 2) input pixels, (N, K)
        mirrored = np.asarray(batch.flip, dtype=bool)
        if mirrored.any():  # a mirrored crop's channels name mirrored joints: swap them back
            keypoints[mirrored] = keypoints[mirrored][:, list(flip_index)]
            scores[mirrored] = scores[mirrored][:, list(flip_index)]
        parts.append(PosePredictions.from_crops(keypoints, scores, batch))
    if not parts:
        raise ValueError(f"{source} yielded no batches: nothing to evaluate")
    return PosePredictions.concatenate(parts)
