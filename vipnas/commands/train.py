"""``vipnas train``: train a network or a supernet from a preset or YAML config, in one process or under torchrun."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

HELP = "train a pose network or a ViPNAS supernet (single process, or torchrun for several)"
EXAMPLES = [
    "vipnas train synthpose_mbv3_supernet                       # SynthPose supernet, minutes on 2 CPU cores",
    "vipnas train synthpose_s_vipnas_mbv3 --validate --set schedule.epochs=5",
    "vipnas train synthpose_mbv3_supernet --resume-from auto    # continue work_dirs/<name>/checkpoints/last.pth",
    "vipnas train s_vipnas_res50_coco --set data.root=data/coco --validate --autoscale-lr",
    "torchrun --nproc-per-node 8 -m vipnas train mobilenetv3_supernet_coco --set data.root=data/coco",
    "vipnas train synthpose_s_vipnas_mbv3 --set model.name=best_arch.json --load-from supernet.pth",
    "vipnas train --list                                        # the presets",
    "vipnas train synthpose_mbv3_supernet --print-config --set optimizer.lr=2e-3",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", help="preset name (see --list) or YAML file")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. optimizer.lr=1e-3 (Python literal; repeatable)",
    )
    parser.add_argument("--work-dir", default=None, help="run folder (default work_dirs/<config name>)")
    parser.add_argument(
        "--resume-from",
        default=None,
        metavar="CKPT",
        help="continue a run: weights, optimizer, schedule, epoch and RNG states ('auto': last.pth "
        "of the work dir); without CONFIG the checkpoint's config is used",
    )
    parser.add_argument(
        "--load-from",
        default=None,
        metavar="CKPT",
        help="initialise weights only from a vipnas checkpoint (a supernet's for an arch in its space)",
    )
    parser.add_argument("--seed", type=int, default=None, help="= --set runtime.seed=N")
    parser.add_argument("--deterministic", action="store_true", help="deterministic kernels (bitwise reproducible)")
    parser.add_argument("--validate", action="store_true", help="evaluate at runtime.val_interval (loss and AP)")
    parser.add_argument(
        "--autoscale-lr",
        action="store_true",
        help="lr × batch_size × processes / optimizer.base_batch_size (linear scaling rule)",
    )
    parser.add_argument("--print-config", action="store_true", help="print the resolved config as YAML and exit")
    parser.add_argument("--list", action="store_true", help="list the presets and exit")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def resolve_config(args: argparse.Namespace) -> Any:
    """The config of the command line: preset/file (or the resumed checkpoint's) + --set + flag overrides."""
    from vipnas.config import apply_overrides, config_from_dict, load_config

    overrides = list(args.overrides)
    if args.seed is not None:
        overrides.append(f"runtime.seed={args.seed}")
    if args.deterministic:
        overrides.append("runtime.deterministic=True")
    if args.validate:
        overrides.append("runtime.validate=True")
    if args.config is not None:
        return load_config(args.config, overrides)
    if args.resume_from and args.resume_from != "auto":
        from vipnas.engine.checkpoint import read_training_checkpoint

        payload = read_training_checkpoint(args.resume_from)
        config = config_from_dict(payload.get("config") or {}, where=f"{args.resume_from}:config")
        return apply_overrides(config, overrides)
    raise ValueError("give a CONFIG (a preset name or YAML file; see `vipnas train --list`), or --resume-from CKPT")


def run(args: argparse.Namespace) -> int:
    from vipnas.config import dump_config, list_presets, preset_path

    if args.list:
        for name in list_presets():
            with open(preset_path(name), encoding="utf-8") as stream:
                first = (stream.readline().lstrip("# ").strip()) or ""
            print(f"{name:32s} {first}")
        return 0
    config = resolve_config(args)
    if args.print_config:
        print(dump_config(config), end="")
        return 0
    from vipnas.commands import writable_folder
    from vipnas.engine.trainer import train

    writable_folder(args.work_dir or Path("work_dirs") / config.name, "--work-dir")  # the trainer's default
    result = train(
        config,
        work_dir=args.work_dir,
        resume_from=args.resume_from,
        load_from=args.load_from,
        autoscale_lr=args.autoscale_lr,
    )
    return 0 if result.iteration > 0 else 1
