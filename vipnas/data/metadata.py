"""Per-dataset keypoint metadata in one place: joint names, flip pairs, OKS sigmas, skeleton and colours.

Every loader, codec, evaluator and drawing function reads joint facts from here, never from its own copy.
Sigmas are the COCO evaluator's per-joint falloff constants (``k_i`` in the OKS formula of the ViPNAS paper
§4.1); PoseTrack18 uses the COCO values for its 17 slots, as MMPose does.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["COCO", "CROWDPOSE", "DATASETS", "MPII", "POSETRACK18", "DatasetInfo", "get_dataset_info"]


@dataclass(frozen=True)
class DatasetInfo:
    """Keypoint facts of one dataset.

    Attributes:
        name: short upper-case name (``COCO``, ``POSETRACK18``, ``MPII``, ``CROWDPOSE``).
        joint_names: one name per joint, in annotation order.
        flip_pairs: (left, right) index pairs swapped by a horizontal flip; joints on the centre line are absent.
        sigmas: OKS falloff constant per joint (COCO evaluator convention, not yet doubled).
        skeleton: (a, b) index pairs drawn as limbs.
        limb_colors: one BGR colour per skeleton link, for drawing.
        joint_colors: one BGR colour per joint, for drawing.
    """

    name: str
    joint_names: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    sigmas: tuple[float, ...]
    skeleton: tuple[tuple[int, int], ...]
    limb_colors: tuple[tuple[int, int, int], ...]
    joint_colors: tuple[tuple[int, int, int], ...]

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def flip_index(self) -> list[int]:
        """Permutation that maps joint ``j`` of a flipped image to its mirrored joint."""
        index = list(range(self.num_joints))
        for left, right in self.flip_pairs:
            index[left], index[right] = right, left
        return index

    def __post_init__(self) -> None:
        count = len(self.joint_names)
        assert len(self.sigmas) == count, self.name
        assert len(self.joint_colors) == count, self.name
        assert len(self.limb_colors) == len(self.skeleton), self.name
        seen: set[int] = set()
        for left, right in self.flip_pairs:
            assert left not in seen and right not in seen and left != right, self.name
            seen.update((left, right))
        for a, b in self.skeleton:
            assert 0 <= a < count and 0 <= b < count, self.name


_ORANGE, _GREEN, _BLUE, _WHITE = (0, 128, 255), (0, 255, 0), (255, 128, 0), (255, 255, 255)


def _side_color(name: str) -> tuple[int, int, int]:
    if name.startswith(("left", "l_")):
        return _GREEN
    if name.startswith(("right", "r_")):
        return _ORANGE
    return _BLUE


def _info(
    name: str,
    joint_names: tuple[str, ...],
    sigmas: tuple[float, ...],
    skeleton: tuple[tuple[int, int], ...],
) -> DatasetInfo:
    index = {joint: i for i, joint in enumerate(joint_names)}
    pairs = []
    for joint in joint_names:
        for left_prefix, right_prefix in (("left_", "right_"), ("l_", "r_")):
            if joint.startswith(left_prefix):
                pairs.append((index[joint], index[right_prefix + joint[len(left_prefix) :]]))
    limb_colors = []
    for a, b in skeleton:
        color_a, color_b = _side_color(joint_names[a]), _side_color(joint_names[b])
        limb_colors.append(color_a if color_a == color_b else _BLUE)
    return DatasetInfo(
        name=name,
        joint_names=joint_names,
        flip_pairs=tuple(pairs),
        sigmas=sigmas,
        skeleton=skeleton,
        limb_colors=tuple(limb_colors),
        joint_colors=tuple(_side_color(joint) for joint in joint_names),
    )


_COCO_SIGMAS = (
    0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072,
    0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089,
)  # fmt: skip
_LIMBS = ((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8), (7, 9), (8, 10))

# fmt: off
COCO = _info(
    "COCO",
    (
        "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
        "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
        "left_knee", "right_knee", "left_ankle", "right_ankle",
    ),
    _COCO_SIGMAS,
    (*_LIMBS, (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6)),
)

# PoseTrack18 reuses COCO's 17 slots, but slots 1 and 2 are head_bottom and head_top on the centre line:
# they have no flip partner (MMPose 0.x listed them as a pair, which mirrors the head upside down).
POSETRACK18 = _info(
    "POSETRACK18",
    (
        "nose", "head_bottom", "head_top", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
        "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
        "left_knee", "right_knee", "left_ankle", "right_ankle",
    ),
    _COCO_SIGMAS,
    (*_LIMBS, (0, 1), (1, 2), (1, 5), (1, 6)),
)

MPII = _info(
    "MPII",
    (
        "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax",
        "upper_neck", "head_top", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist",
    ),
    (
        0.089, 0.083, 0.107, 0.107, 0.083, 0.089, 0.026, 0.026,
        0.026, 0.026, 0.062, 0.072, 0.179, 0.179, 0.072, 0.062,
    ),
    (
        (0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9),
        (7, 12), (12, 11), (11, 10), (7, 13), (13, 14), (14, 15),
    ),
)

CROWDPOSE = _info(
    "CROWDPOSE",
    (
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
        "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "top_head", "neck",
    ),
    (0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089, 0.079, 0.079),
    (
        (12, 13), (13, 0), (13, 1), (0, 2), (2, 4), (1, 3), (3, 5),
        (0, 6), (1, 7), (6, 7), (6, 8), (8, 10), (7, 9), (9, 11),
    ),
)
# fmt: on


DATASETS: dict[str, DatasetInfo] = {info.name: info for info in (COCO, POSETRACK18, MPII, CROWDPOSE)}


def get_dataset_info(name: str) -> DatasetInfo:
    """Return the metadata of a dataset by name (case-insensitive; ``POSETRACK`` is an alias of ``POSETRACK18``).

    Raises:
        ValueError: the name is not a known dataset.
    """
    key = name.upper().replace("-", "").replace("_", "")
    if key == "POSETRACK":
        key = "POSETRACK18"
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(DATASETS)}")
    return DATASETS[key]
