"""MPII Human Pose in the JSON form SimpleBaseline and MMPose converted it to (16 joints, 1-based MATLAB pixels).

Each record: ``{"image", "center", "scale", "joints", "joints_vis"}`` with ``scale`` in units of 200 pixels. As in
MMPose, the centre moves 15·scale pixels down to include the legs, both are shifted to 0-based pixels, and the
person box is the square of side ``scale·200`` around that centre (the pipeline then pads it by 1.25).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vipnas.data.coco import require
from vipnas.data.files import read_json
from vipnas.data.metadata import MPII
from vipnas.data.records import ImageRecord, PoseAnnotations, PoseInstance

__all__ = ["load_mpii"]

_PIXEL_STD = 200.0  # MPII's person scale unit


def load_mpii(annotation_file: str | Path, image_root: str | Path) -> PoseAnnotations:
    """Load an MPII JSON annotation list.

    Image ids are the numeric file stems (``005808361.jpg`` → 5808361); annotation ids are record indices.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: a record lacks a key or does not have 16 joints.
    """
    path = Path(annotation_file)
    data = read_json(path)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of MPII records")
    images: dict[int, ImageRecord] = {}
    instances = []
    for index, record in enumerate(data):
        where = f"{path}: record [{index}]"
        require(record, ("image", "center", "scale", "joints"), where)
        where = f"{where} (image {record['image']})"
        joints = np.asarray(record["joints"], dtype=np.float64)
        visible = np.asarray(record.get("joints_vis", np.ones(len(joints))), dtype=np.float64)
        if joints.shape != (MPII.num_joints, 2) or visible.shape != (MPII.num_joints,):
            raise ValueError(
                f"{where}: expected {MPII.num_joints} MPII joints as [[x, y], ...] and as many joints_vis, "
                f"got joints of shape {joints.shape} and joints_vis of shape {visible.shape}"
            )
        stem = Path(str(record["image"])).stem
        image_id = int(stem) if stem.isdigit() else index
        image = images.setdefault(image_id, ImageRecord(image_id=image_id, path=Path(image_root) / record["image"]))
        try:
            side = float(record["scale"]) * _PIXEL_STD
            center = np.asarray(record["center"], dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: scale must be a number and center [x, y], got {record['scale']!r}, "
                             f"{record['center']!r}") from None  # fmt: skip
        if not (np.isfinite(side) and side > 0):
            raise ValueError(f"{where}: scale {record['scale']!r} must be a positive number (person size / 200 px)")
        if center.shape != (2,) or not np.isfinite(center).all():
            raise ValueError(f"{where}: center must be 2 finite numbers [x, y], got {record['center']!r}")
        if center[0] != -1:
            center[1] += 15.0 / _PIXEL_STD * side
        center -= 1.0
        visible = np.minimum(visible, 1.0).clip(min=0.0)
        instances.append(
            PoseInstance(
                image=image,
                annotation_id=index,
                box=np.array([center[0] - side / 2, center[1] - side / 2, side, side]),
                keypoints=np.where(visible[:, None] > 0, joints - 1.0, 0.0),
                visible=visible,
                area=side * side * 0.53,  # MMPose's MPII area estimate
            )
        )
    return PoseAnnotations(MPII, path, images, instances)
