"""``vipnas info``: parameters, MACs and the architecture of a named model, an arch file or a checkpoint."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from vipnas.commands import positive_int

if TYPE_CHECKING:
    from vipnas.models.complexity import Complexity

HELP = "print parameters, MACs and the architecture of a model, arch JSON or checkpoint"
EXAMPLES = [
    "vipnas info s_vipnas_res50",
    "vipnas info s_vipnas_mbv3 --input-size 384 288 --json",
    "vipnas info mobilenetv3_supernet",
    "vipnas info hrnet_w32",
    "vipnas info hrnet_w32_supernet --input-size 128 96",
    "vipnas info runs/search/best_arch.json",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="registered model name, arch JSON file, or vipnas checkpoint")
    parser.add_argument("--input-size", nargs=2, type=int, metavar=("H", "W"), default=None, help="input height width")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--num-joints", type=positive_int, default=None, help="heatmaps (default 17, or the checkpoint's)"
    )


def run(args: argparse.Namespace) -> int:
    from vipnas.models.checkpoint import load_model
    from vipnas.models.complexity import arch_complexity
    from vipnas.models.hrnet_complexity import hrnet_complexity
    from vipnas.models.hrnet_supernet import HRNetSupernet
    from vipnas.models.pose import check_input_size
    from vipnas.models.registry import ARCH_OF, HRNET_ARCH_OF, HRNET_SPACE_OF, MODELS, SPACE_OF, load_any_arch
    from vipnas.models.supernet import PoseSupernet
    from vipnas.space.arch import Arch
    from vipnas.space.blocks import check_buildable
    from vipnas.space.hrnet import HRNetArch

    source = args.model
    arch, space, metadata = None, None, None
    if source in ARCH_OF or source in HRNET_ARCH_OF:
        arch = ARCH_OF.get(source) or HRNET_ARCH_OF[source]
    elif source in SPACE_OF or source in HRNET_SPACE_OF:
        space = SPACE_OF.get(source) or HRNET_SPACE_OF[source]
    elif source.endswith(".json"):
        arch = load_any_arch(source)
    elif Path(source).is_file():
        model = load_model(source)
        metadata = model.metadata
        if isinstance(model, PoseSupernet | HRNetSupernet):
            space = model.space
        else:
            arch = model.arch
    else:
        raise ValueError(f"{source!r} is neither a registered model ({', '.join(MODELS)}), an arch JSON nor a file")

    input_size = (
        check_input_size(tuple(args.input_size))
        if args.input_size
        else (metadata.input_size if metadata else (256, 192))
    )
    num_joints = args.num_joints or (metadata.num_joints if metadata else 17)

    def complexity_of(arch: Arch | HRNetArch) -> Complexity:
        if isinstance(arch, HRNetArch):  # HRNetArch checks its structure when it is made: it can be built
            return hrnet_complexity(arch, num_joints=num_joints, input_size=input_size)
        return arch_complexity(arch, num_joints=num_joints, input_size=input_size)

    if arch is not None:
        if isinstance(arch, Arch):
            try:  # an arch file may lie outside every search space; it must still describe a network that exists
                check_buildable(arch, num_joints=num_joints)
            except ValueError as error:
                raise ValueError(f"{source}: {error}") from None
        complexity = complexity_of(arch)
        counted = "conv" if isinstance(arch, HRNetArch) else "conv + deconv + GC matmul"
        result = {
            "model": source,
            "params": complexity.params,
            "macs": complexity.macs,
            "input_size": list(input_size),
            "num_joints": num_joints,
            "arch": arch.to_dict(),
        }
        if args.json:
            print(json.dumps(result))
        else:
            print(
                f"{source}: {complexity.params:,} parameters, {complexity.macs / 1e9:.4f} G MACs "
                f"at {input_size[0]}x{input_size[1]} ({counted} multiply-accumulates)"
            )
            print(arch.describe())
        return 0
    assert space is not None
    largest, smallest = complexity_of(space.largest()), complexity_of(space.smallest())
    result = {
        "model": source,
        "space": space.name,
        "archs": space.size(),
        "params": largest.params,
        "macs": largest.macs,
        "smallest_params": smallest.params,
        "smallest_macs": smallest.macs,
        "input_size": list(input_size),
        "num_joints": num_joints,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{source}: supernet of search space {space.name!r} ({space.size():.3e} archs)")
        print(f"  largest : {largest.params:,} parameters, {largest.macs / 1e9:.4f} G MACs")
        print(f"  smallest: {smallest.params:,} parameters, {smallest.macs / 1e9:.4f} G MACs")
        print("largest arch:\n" + space.largest().describe())
    return 0
