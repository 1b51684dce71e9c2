"""Export of a searched sub-network: extract it from a supernet checkpoint, re-estimate its BatchNorm statistics
on the supernet's training data, and save it as a standalone static checkpoint (optionally ONNX too)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from vipnas.models.checkpoint import model_from_payload, read_checkpoint
from vipnas.models.hrnet_network import HRNetNetwork
from vipnas.models.pose import PoseNetwork
from vipnas.space.arch import Arch
from vipnas.space.hrnet import HRNetArch

__all__ = ["calibration_batches_for", "extract_from_checkpoint"]

logger = logging.getLogger("vipnas.extract")


def calibration_batches_for(payload: dict[str, Any], metadata: Any, *, images: int | None = None) -> list | None:
    """The fixed BN-recalibration batches of the training run that wrote ``payload`` (``None`` when the checkpoint
    carries no training config, e.g. a bare model checkpoint), cropped as ``metadata.codec`` says (UDP's affine)."""
    if "config" not in payload:
        return None
    from dataclasses import replace

    from vipnas.config import config_from_dict
    from vipnas.engine.build import build_calibration_batches, prepare_data

    config = config_from_dict(payload["config"], where="checkpoint config")
    config = replace(config, data=replace(config.data, codec=metadata.codec, sigma=metadata.sigma))
    paths = prepare_data(config)
    return build_calibration_batches(config, metadata, paths, num_images=images)


def extract_from_checkpoint(
    path: str | Path, arch: Arch | HRNetArch, *, recalibrate: bool = True, calibration_images: int | None = None
) -> tuple[PoseNetwork | HRNetNetwork, dict[str, Any]]:
    """Extract ``arch`` from the supernet checkpoint at ``path`` (a :class:`~vipnas.models.supernet.PoseSupernet`'s
    or an :class:`~vipnas.models.hrnet_supernet.HRNetSupernet`'s).

    Returns:
        The static network (eval mode) and provenance to store with it (source, whether BN was recalibrated).

    Raises:
        ValueError: the checkpoint is not a supernet's, or the arch lies outside its search space (an
            :class:`~vipnas.space.search_space.InvalidArchError` naming the field, also for an arch of another
            family).
    """
    from vipnas.models.hrnet_supernet import HRNetSupernet
    from vipnas.models.supernet import PoseSupernet

    payload = read_checkpoint(path)
    if payload["kind"] != "supernet":
        raise ValueError(f"{path} holds a {payload['kind']}, not a supernet: there is nothing to extract from")
    supernet = model_from_payload(payload, source=str(path))
    assert isinstance(supernet, PoseSupernet | HRNetSupernet)
    supernet.space.validate(arch)
    subnet = supernet.extract_subnet(arch).eval()
    provenance: dict[str, Any] = {"extracted_from": str(path), "bn_recalibrated": False}
    if recalibrate:
        batches = calibration_batches_for(payload, subnet.metadata, images=calibration_images)
        if batches is None:
            logger.warning(
                "%s has no training config: the BatchNorm statistics stay the supernet's shared ones; fine-tune or "
                "recalibrate before trusting accuracy",
                path,
            )
        else:
            from vipnas.engine.batchnorm import recalibrate_bn

            recalibrate_bn(subnet, None, batches)
            provenance.update(bn_recalibrated=True, calibration_images=sum(len(b) for b in batches))
    return subnet, provenance
