"""Validation during training: heatmap loss and, through the evaluator (``vipnas.evaluation``), keypoint AP.

Every rank evaluates a disjoint shard of the validation crops; loss sums are all-reduced and predictions gathered
on rank 0, which computes AP; every rank returns the same metrics. A supernet is validated per sub-network
(``supernet.val_archs``): the sub-network is extracted (a copy, so the supernet's training state is untouched), its
BatchNorm statistics are recalibrated on a fixed cached set of training crops, and then it is evaluated.
"""

from __future__ import annotations

import logging
import tempfile
from typing import Any

import torch
from torch import nn

from vipnas.engine.batchnorm import recalibrate_bn
from vipnas.engine.build import VideoGroundTruth
from vipnas.engine.distributed import all_gather_object, all_reduce_sum, broadcast_object, get_rank, get_world_size
from vipnas.engine.losses import keypoint_mse_loss

__all__ = ["PRIMARY_METRICS", "Validator"]

# The accuracy metric of each protocol, higher is better: COCO-style AP, PoseTrack18 mAP (poseval), MPII PCKh.
PRIMARY_METRICS = ("AP", "Total", "PCKh")

logger = logging.getLogger("vipnas.train")


class Validator:
    """Validation loss and AP of a model on the validation split.

    Args:
        config: the run's config.
        metadata: the model's metadata (input size, normalisation).
        paths: resolved data paths.
        device: where to run.
    """

    def __init__(self, config: Any, metadata: Any, paths: Any, device: torch.device) -> None:
        from vipnas.codec import UDPHeatmap
        from vipnas.engine.build import ShardSampler, build_val_dataset, make_loader

        self.config = config
        self.metadata = metadata
        self.paths = paths
        self.device = device
        dataset, self.ground_truth = build_val_dataset(config, metadata, paths)
        self.codec = dataset.codec  # the config's codec: targets of the loss, crops and decoding of the AP
        if len(dataset) == 0:
            raise ValueError(f"the validation split {paths.val_annotations} has no persons with keypoints")
        shard = ShardSampler(len(dataset), num_replicas=get_world_size(), rank=get_rank())
        self.loader = make_loader(dataset, shard, config.data.val_batch_size, config, drop_last=False)
        self.ap_loader = self.loader
        if paths.val_detections is not None:
            from vipnas.data.coco import load_detections
            from vipnas.data.dataset import TopDownDataset

            boxes = load_detections(paths.val_detections, dataset.annotations)
            kept = {i.image.image_id for i in dataset.annotations.instances} if config.data.val_limit else None
            if kept is not None:
                boxes.instances = [i for i in boxes.instances if i.image.image_id in kept]
            crops = TopDownDataset(
                boxes,
                input_size=dataset.input_size,
                padding=config.data.padding,
                udp=isinstance(self.codec, UDPHeatmap),
                mean=metadata.mean,
                std=metadata.std,
            )
            shard = ShardSampler(len(crops), num_replicas=get_world_size(), rank=get_rank())
            self.ap_loader = make_loader(crops, shard, config.data.val_batch_size, config, drop_last=False)
        # AP needs the whole ground truth of the images used; MPII's PCKh needs every record predicted
        self.with_ap = not (config.data.source == "mpii" and config.data.val_limit)
        self._calibration: list[torch.Tensor] | None = None

    @property
    def calibration_batches(self) -> list[torch.Tensor]:
        """The fixed BN-recalibration crops, loaded on first use and kept."""
        if self._calibration is None:
            from vipnas.engine.build import build_calibration_batches

            self._calibration = build_calibration_batches(self.config, self.metadata, self.paths)
        return self._calibration

    @torch.no_grad()
    def loss(self, model: nn.Module) -> float:
        """Mean target-weighted heatmap MSE over the validation crops (all ranks together)."""
        totals = torch.zeros(2, dtype=torch.float64, device=self.device)  # (Σ loss · n, n); nccl needs the GPU
        for batch in self.loader:
            heatmaps = model(batch.image.to(self.device))  # (N, K, h, w)
            loss = keypoint_mse_loss(heatmaps, batch.heatmaps.to(self.device), batch.target_weight.to(self.device))
            totals += torch.tensor([loss.item() * len(batch), len(batch)], dtype=torch.float64, device=self.device)
        all_reduce_sum(totals)
        return float(totals[0] / totals[1])

    def average_precision(self, model: nn.Module) -> dict[str, float]:
        """The dataset's metrics, computed on rank 0: COCO AP/AR for COCO-style files (COCO, CrowdPose, merged
        PoseTrack18), poseval's mAP (``Head`` ... ``Total``, percent) for a PoseTrack18 folder, PCKh for MPII."""
        from vipnas.evaluation import PosePredictions, run_inference
        from vipnas.evaluation.coco import evaluate_coco, load_coco_ground_truth
        from vipnas.evaluation.pipeline import evaluate_predictions
        from vipnas.evaluation.posetrack import evaluate_posetrack

        part = None
        if len(self.ap_loader):  # a rank's shard of a tiny split can be empty
            part = run_inference(
                model, self.ap_loader, flip=self.config.runtime.val_flip, codec=self.codec, device=self.device
            )
        parts = all_gather_object(part)
        metrics: dict[str, float] | None = None
        if get_rank() == 0:
            predictions = PosePredictions.concatenate([p for p in parts if p is not None])
            dataset = self.config.data.dataset
            if isinstance(self.ground_truth, VideoGroundTruth):  # poseval mAP on the official per-video files
                with tempfile.TemporaryDirectory(prefix="vipnas-posetrack-") as folder:
                    metrics = evaluate_posetrack(
                        self.ground_truth.folder, predictions, folder, image_ids=self.ground_truth.image_ids
                    )
            elif isinstance(self.ground_truth, dict):
                ground_truth = load_coco_ground_truth(self.ground_truth, dataset)
                metrics = evaluate_coco(ground_truth, predictions, dataset)
            else:
                metrics = evaluate_predictions(dataset, self.ground_truth, predictions)
            metrics = {key: float(value) for key, value in metrics.items() if isinstance(value, (int, float))}
        return broadcast_object(metrics)

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """``{"loss": ..., "AP": ..., ...}`` of a static network (put in eval mode, then restored)."""
        training = model.training
        model.eval()
        try:
            metrics = {"loss": self.loss(model)}
            if self.with_ap:
                metrics.update(self.average_precision(model))
        finally:
            model.train(training)
        return metrics

    def validate(self, model: nn.Module) -> dict[str, float]:
        """Metrics of a network, or ``{"<arch>/<metric>": ...}`` per validated sub-network of a supernet (each
        extracted and BN-recalibrated first)."""
        from vipnas.models.hrnet_supernet import HRNetSupernet
        from vipnas.models.supernet import PoseSupernet

        if not isinstance(model, PoseSupernet | HRNetSupernet):
            return self.evaluate(model)
        results: dict[str, float] = {}
        for name in self.config.supernet.val_archs:
            arch = model.space.largest() if name == "largest" else model.space.smallest()
            subnet = model.extract_subnet(arch).to(self.device)
            recalibrate_bn(subnet, None, self.calibration_batches)
            for key, value in self.evaluate(subnet).items():
                results[f"{name}/{key}"] = value
        return results
