"""``vipnas info``: parameters, MACs and the architecture of a named model, an arch file or a checkpoint."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vipnas.commands import positive_int

HELP = "print parameters, MACs and the architecture of a model, arch JSON or checkpoint"
EXAMPLES = [
    "vipnas info s_vipnas_res50",
    "vipnas info s_vipnas_mbv3 --input-size 384 288 --json",
    "vipnas info mobilenetv3_supernet",
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
    from vipnas.models.pose import check_input_size
    from vipnas.models.registry import ARCH_OF, MODELS, SPACE_OF
    from vipnas.models.supernet import PoseSupernet
    from vipnas.space.arch import load_arch
    from vipnas.space.blocks import check_buildable

    source = args.model
    arch, space, metadata = None, None, None
    if source in ARCH_OF:
        arch = ARCH_OF[source]
    elif source in SPACE_OF:
        space = SPACE_OF[source]
    elif source.endswith(".json"):
        arch = load_arch(source)
    elif Path(source).is_file():
        model = load_model(source)
        metadata = model.metadata
        if isinstance(model, PoseSupernet):
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
    if arch is not None:
        try:  # an arch file may lie outside every search space; it must still describe a network that exists
            check_buildable(arch, num_joints=num_joints)
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from None
        complexity = arch_complexity(arch, num_joints=num_joints, input_size=input_size)
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
                f"at {input_size[0]}x{input_size[1]} (conv + deconv + GC matmul multiply-accumulates)"
            )
            print(arch.describe())
        return 0
    assert space is not None
    largest = arch_complexity(space.largest(), num_joints=num_joints, input_size=input_size)
    smallest = arch_complexity(space.smallest(), num_joints=num_joints, input_size=input_size)
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
