"""Architectures as data and the ViPNAS search spaces."""

from vipnas.space.arch import Arch, HeadArch, StageArch, StemArch, load_arch, save_arch
from vipnas.space.family import FAMILY_SPECS, MOBILENETV3, RESNET, FamilySpec
from vipnas.space.search_space import HeadSpace, InvalidArchError, SearchSpace, StageSpace, StemSpace
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
    "FamilySpec",
    "HeadArch",
    "HeadSpace",
    "InvalidArchError",
    "SearchSpace",
    "StageArch",
    "StageSpace",
    "StemArch",
    "StemSpace",
    "get_search_space",
    "load_arch",
    "save_arch",
    "space_for_family",
]
