"""Candidate evaluation for the search: extract the sub-network, re-estimate its BatchNorm statistics on a fixed
cached set of training crops, and compute AP on cached validation crops (ground-truth boxes) with the
evaluator (:mod:`vipnas.evaluation`).

Everything an evaluation reads is prepared once (crops decoded, batched and kept in memory), so the cost of a
candidate is one BN pass plus one inference pass.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path
from typing import Any

import torch

from vipnas.models.hrnet_supernet import HRNetSupernet
from vipnas.models.supernet import PoseSupernet
from vipnas.space.arch import Arch
from vipnas.space.hrnet import HRNetArch

__all__ = ["SupernetEvaluator"]

logger = logging.getLogger("vipnas.search")


class SupernetEvaluator:
    """``evaluator(arch) -> metrics`` for the archs of one supernet.

    Args:
        supernet: the trained supernet, a :class:`PoseSupernet` or an :class:`HRNetSupernet` (not modified:
            candidates are extracted copies).
        calibration_batches: fixed training images for BN recalibration ((N, 3, H, W) tensors or Batches).
        val_batches: validation crops as :class:`vipnas.data.Batch` objects (ground-truth or detector boxes).
        ground_truth: the validation annotation (path, dict or a loaded pycocotools ``COCO``).
        dataset: joint convention (``COCO``, ``CROWDPOSE``, ``POSETRACK18``, ``MPII``).
        flip: flip test, as in the final evaluation.
        codec: heatmap decoder matching the crops of ``val_batches`` (default: the codec the supernet's metadata
            records, see :func:`vipnas.codec.codec_for_model`).
        settings: what else the metrics depend on that the batches do not show (data root, annotation digests,
            ``val_limit``, ``calibration_images``...), reported by :meth:`provenance`; :meth:`from_checkpoint`
            fills it.

    Raises:
        TypeError: ``supernet`` is not a supernet.
    """

    def __init__(
        self,
        supernet: PoseSupernet | HRNetSupernet,
        *,
        calibration_batches: list[Any],
        val_batches: list[Any],
        ground_truth: Any,
        dataset: str = "COCO",
        flip: bool = True,
        codec: Any = None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        from vipnas.codec import codec_for_model
        from vipnas.data.metadata import get_dataset_info
        from vipnas.evaluation import load_coco_ground_truth

        if not isinstance(supernet, PoseSupernet | HRNetSupernet):
            raise TypeError(f"SupernetEvaluator needs a PoseSupernet or HRNetSupernet, got {type(supernet).__name__}")
        self.supernet = supernet.eval()
        self.calibration_batches = calibration_batches
        self.val_batches = val_batches
        self.info = get_dataset_info(dataset)
        self.flip = flip
        self.settings = dict(settings or {})
        self.codec = codec if codec is not None else codec_for_model(supernet.metadata)
        self.ground_truth = ground_truth
        if self.info.name != "MPII" and not (isinstance(ground_truth, str | Path) and Path(ground_truth).is_dir()):
            with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress lines
                self.ground_truth = load_coco_ground_truth(ground_truth, self.info.name)

    def provenance(self) -> dict[str, Any]:
        """What this evaluator's metrics depend on besides the arch and the supernet's weights (JSON-ready): the
        dataset, the flip test, the numbers of calibration and validation crops, the codec, and :attr:`settings`.
        Part of a search store's provenance (:func:`vipnas.nas.search.search_provenance`)."""
        described: dict[str, Any] = {
            "dataset": self.info.name,
            "flip": self.flip,
            "calibration_crops": sum(len(batch) for batch in self.calibration_batches),
            "val_crops": sum(len(batch) for batch in self.val_batches),
        }
        codec = getattr(self, "codec", None)
        if codec is not None:
            described["codec"] = repr(codec)
        return {**described, **self.settings}

    @torch.no_grad()
    def __call__(self, arch: Arch | HRNetArch) -> dict[str, float]:
        from vipnas.engine.batchnorm import recalibrate_bn

        subnet = self.supernet.extract_subnet(arch).eval()
        recalibrate_bn(subnet, None, self.calibration_batches)
        return self.evaluate_network(subnet)

    @torch.no_grad()
    def evaluate_network(self, model: torch.nn.Module) -> dict[str, float]:
        """Metrics of any network (e.g. a fine-tuned subnet) on the same cached validation crops."""
        from vipnas.evaluation.inference import run_inference
        from vipnas.evaluation.pipeline import evaluate_predictions

        predictions = run_inference(
            model.eval(), self.val_batches, flip=self.flip, flip_index=self.info.flip_index(), codec=self.codec
        )
        with contextlib.redirect_stdout(io.StringIO()):
            metrics = evaluate_predictions(self.info.name, self.ground_truth, predictions)
        return {key: float(value) for key, value in metrics.items()}

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        *,
        calibration_images: int | None = None,
        val_limit: int | None = None,
        flip: bool = True,
        codec: str | None = None,
        is_main: bool = True,
    ) -> SupernetEvaluator:
        """Build the evaluator of a supernet checkpoint written by ``vipnas train``: its resolved config says where
        the training and validation data are (SynthPose is generated if missing, on the main process only), its
        metadata which codec to crop and decode with (``codec`` overrides it: ``msra``, ``dark`` or ``udp``)."""
        from dataclasses import replace

        from vipnas.config import config_from_dict
        from vipnas.data.dataset import build_loader
        from vipnas.engine.build import build_calibration_batches, build_val_dataset, prepare_data
        from vipnas.models.checkpoint import model_from_payload, read_checkpoint

        payload = read_checkpoint(path)
        if payload["kind"] != "supernet":
            raise ValueError(f"{path} holds a {payload['kind']}, not a supernet: there is nothing to search")
        if "config" not in payload:
            raise ValueError(
                f"{path} has no training config, so the search does not know its data; use a checkpoint written by "
                "`vipnas train`"
            )
        supernet = model_from_payload(payload, source=str(path))
        assert isinstance(supernet, PoseSupernet | HRNetSupernet)
        config = config_from_dict(payload["config"], where=f"{path}: config")
        if val_limit is not None:
            config = replace(config, data=replace(config.data, val_limit=val_limit))
        metadata = supernet.metadata  # the codec it was trained with (msra for checkpoints older than the field)
        config = replace(config, data=replace(config.data, codec=codec or metadata.codec, sigma=metadata.sigma))
        paths = prepare_data(config, is_main=is_main)
        calibration = build_calibration_batches(config, supernet.metadata, paths, num_images=calibration_images)
        dataset, ground_truth = build_val_dataset(config, metadata, paths)
        loader = build_loader(dataset, batch_size=config.data.val_batch_size, num_workers=config.data.num_workers)
        val_batches = list(loader)
        logger.info(
            "search data: %d calibration crops, %d validation crops (%s)",
            sum(len(b) for b in calibration),
            len(dataset),
            paths.val_annotations,
        )
        from vipnas.data.files import file_digest

        settings = {
            "val_limit": config.data.val_limit,
            "calibration_images": calibration_images or config.supernet.calibration_images,
            "calibration_seed": config.runtime.seed,
            "data_root": str(config.data.root),  # the images; the annotation files by content
            "val_annotations_digest": file_digest(paths.val_annotations),
            "train_annotations_digest": file_digest(paths.train_annotations),  # the calibration crops come from it
        }
        return cls(
            supernet,
            calibration_batches=calibration,
            val_batches=val_batches,
            ground_truth=ground_truth,
            dataset=config.data.dataset,
            flip=flip,
            codec=dataset.codec,
            settings=settings,
        )
