"""Named models in one plain dict, and :func:`create_model` for names, archs and arch files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from vipnas.models.hrnet_network import HRNetNetwork, build_hrnet_network
from vipnas.models.hrnet_supernet import HRNetSupernet
from vipnas.models.pose import PoseNetwork, build_static
from vipnas.models.supernet import PoseSupernet
from vipnas.space.arch import Arch
from vipnas.space.archs import arch_from_dict, load_any_arch
from vipnas.space.hrnet import HRNET_W32_ARCH, HRNET_W32_SPACE, HRNetArch
from vipnas.space.spaces import (
    CPU_EFFICIENT_REALTIME_SPACE,
    CPU_EFFICIENT_SPACE,
    CPU_EFFICIENT_TINY_SPACE,
    MOBILENETV3_SPACE,
    MOBILENETV3_TINY_SPACE,
    RESNET50_SPACE,
    S_VIPNAS_MBV3_ARCH,
    S_VIPNAS_RES50_ARCH,
    SBL_RES50_ARCH,
)

__all__ = ["MODELS", "build_network", "create_model", "list_models", "load_any_arch"]


def _static(arch: Arch, name: str) -> Callable[..., nn.Module]:
    def build(**options: Any) -> PoseNetwork:
        return build_static(arch, name=name, **options)

    build.__doc__ = f"{name}: static network of the arch\n{arch.describe()}"
    return build


MODELS: dict[str, Callable[..., nn.Module]] = {
    # the official searched networks (MMPose ViPNAS_ResNet(depth=50) / ViPNAS_MobileNetV3 + ViPNASHead)
    "s_vipnas_res50": _static(S_VIPNAS_RES50_ARCH, "s_vipnas_res50"),
    "s_vipnas_mbv3": _static(S_VIPNAS_MBV3_ARCH, "s_vipnas_mbv3"),
    # the hand-crafted baseline: SimpleBaseline ResNet-50 (three 256-filter deconvolutions)
    "sbl_res50": _static(SBL_RES50_ARCH, "sbl_res50"),
    # supernets of the ViPNAS search spaces (Tables A1-A2)
    "resnet50_supernet": lambda **options: PoseSupernet(RESNET50_SPACE, **options),
    "mobilenetv3_supernet": lambda **options: PoseSupernet(MOBILENETV3_SPACE, **options),
    # a scaled-down MobileNetV3 space with every searchable dimension, for tests and quick demos
    "mobilenetv3_tiny_supernet": lambda **options: PoseSupernet(MOBILENETV3_TINY_SPACE, **options),
    # the CPU-efficient space (dense / depthwise convs, large kernels, upsampling head) and its scaled-down twin
    "cpu_efficient_supernet": lambda **options: PoseSupernet(CPU_EFFICIENT_SPACE, **options),
    "cpu_efficient_tiny_supernet": lambda **options: PoseSupernet(CPU_EFFICIENT_TINY_SPACE, **options),
    # its sub-space sized for real time at 256x192 (RTMPose-t's latency on OpenVINO)
    "cpu_efficient_realtime_supernet": lambda **options: PoseSupernet(CPU_EFFICIENT_REALTIME_SPACE, **options),
    # HRNet-W32 (MMPose's td-hm_hrnet-w32 network) and the supernet of its Table A3 space
    "hrnet_w32": lambda **options: build_hrnet_network(HRNET_W32_ARCH, name="hrnet_w32", **options),
    "hrnet_w32_supernet": lambda **options: HRNetSupernet(HRNET_W32_SPACE, **options),
}

ARCH_OF = {"s_vipnas_res50": S_VIPNAS_RES50_ARCH, "s_vipnas_mbv3": S_VIPNAS_MBV3_ARCH, "sbl_res50": SBL_RES50_ARCH}
SPACE_OF = {
    "resnet50_supernet": RESNET50_SPACE,
    "mobilenetv3_supernet": MOBILENETV3_SPACE,
    "mobilenetv3_tiny_supernet": MOBILENETV3_TINY_SPACE,
    "cpu_efficient_supernet": CPU_EFFICIENT_SPACE,
    "cpu_efficient_tiny_supernet": CPU_EFFICIENT_TINY_SPACE,
    "cpu_efficient_realtime_supernet": CPU_EFFICIENT_REALTIME_SPACE,
}
# HRNet is not walked block by block (vipnas.space.blocks), so its archs and spaces are kept apart from the above,
# whose users (MMPose conversion, arch_complexity, temporal search) handle those families only
HRNET_ARCH_OF = {"hrnet_w32": HRNET_W32_ARCH}
HRNET_SPACE_OF = {"hrnet_w32_supernet": HRNET_W32_SPACE}


def list_models() -> list[str]:
    return list(MODELS)


def create_model(
    name_or_arch: str | Path | Arch | HRNetArch | dict,
    *,
    num_joints: int = 17,
    input_size: tuple[int, int] = (256, 192),
    dataset: str = "COCO",
) -> nn.Module:
    """Build a named model, a supernet, or the static network of an arch.

    Args:
        name_or_arch: a registered name (``s_vipnas_res50``, ``s_vipnas_mbv3``, ``sbl_res50``, ``hrnet_w32``,
            ``resnet50_supernet``, ``mobilenetv3_supernet``, ``hrnet_w32_supernet``, ...), an :class:`Arch` or
            :class:`HRNetArch`, an arch dict, or the path of an arch JSON file.
        num_joints: heatmaps K.
        input_size: network input (height, width), multiples of 32.
        dataset: keypoint convention recorded in the metadata.

    Returns:
        A freshly initialised model (training mode) with ``model.metadata``.

    Raises:
        ValueError: unknown name (with close matches) or malformed arch.
    """
    options: dict[str, Any] = {"num_joints": num_joints, "input_size": tuple(input_size), "dataset": dataset}
    arch: Arch | HRNetArch
    if isinstance(name_or_arch, Arch | HRNetArch):
        arch = name_or_arch
    elif isinstance(name_or_arch, dict):
        arch = arch_from_dict(name_or_arch)
    else:
        name = str(name_or_arch)
        if name in MODELS:
            return MODELS[name](**options)
        if not (name.endswith(".json") or Path(name).is_file()):
            import difflib

            close = difflib.get_close_matches(name, MODELS, n=2)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise ValueError(
                f"unknown model {name!r}.{hint} Known models: {', '.join(MODELS)}; or pass an arch JSON file."
            )
        arch = load_any_arch(name)
    return build_network(arch, **options)


def build_network(
    arch: Arch | HRNetArch,
    *,
    num_joints: int = 17,
    input_size: tuple[int, int] = (256, 192),
    name: str = "subnet",
    dataset: str = "COCO",
) -> PoseNetwork | HRNetNetwork:
    """The static network of an arch of any family (:func:`vipnas.models.pose.build_static` for ResNet, MobileNetV3
    and CPU-efficient archs, :func:`vipnas.models.hrnet_network.build_hrnet_network` for HRNet archs), initialised
    like every vipnas network.

    Raises:
        TypeError: ``arch`` is neither an :class:`Arch` nor an :class:`HRNetArch`.
    """
    size = (int(input_size[0]), int(input_size[1]))
    if isinstance(arch, HRNetArch):
        return build_hrnet_network(arch, num_joints=num_joints, input_size=size, name=name, dataset=dataset)
    if isinstance(arch, Arch):
        return build_static(arch, num_joints=num_joints, input_size=size, name=name, dataset=dataset)
    raise TypeError(f"build_network needs an Arch or an HRNetArch, got {type(arch).__name__}")
