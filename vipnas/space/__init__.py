"""Architectures as data and the ViPNAS search spaces."""

from vipnas.space.arch import Arch, HeadArch, StageArch, StemArch, load_arch, save_arch
from vipnas.space.blocks import BlockSpec, FeatureInfo, arch_blocks, feature_info
from vipnas.space.family import FAMILY_SPECS, MOBILENETV3, RESNET, FamilySpec
from vipnas.space.search_space import (
    HeadChoice,
    HeadSpace,
    InvalidArchError,
    SearchSpace,
    StageSpace,
    StemSpace,
    TailChoice,
    WidthChoice,
)
from vipnas.space.spaces import (
    MOBILENETV3_SPACE,
    MOBILENETV3_TINY_SPACE,
    RESNET50_SPACE,
    S_VIPNAS_MBV3_ARCH,
    S_VIPNAS_RES50_ARCH,
    SBL_RES50_ARCH,
    SEARCH_SPACES,
    get_search_space,
    space_for_family,
)

__all__ = [
    "FAMILY_SPECS",
    "MOBILENETV3",
    "MOBILENETV3_SPACE",
    "MOBILENETV3_TINY_SPACE",
    "RESNET",
    "RESNET50_SPACE",
    "SBL_RES50_ARCH",
    "SEARCH_SPACES",
    "S_VIPNAS_MBV3_ARCH",
    "S_VIPNAS_RES50_ARCH",
    "Arch",
    "BlockSpec",
    "FamilySpec",
    "FeatureInfo",
    "HeadArch",
    "HeadChoice",
    "HeadSpace",
    "InvalidArchError",
    "SearchSpace",
    "StageArch",
    "StageSpace",
    "StemArch",
    "StemSpace",
    "TailChoice",
    "WidthChoice",
    "arch_blocks",
    "feature_info",
    "get_search_space",
    "load_arch",
    "save_arch",
    "space_for_family",
]
