"""Train the SynthPose supernet that ships in the package (``vipnas/pretrained/synthpose_tiny_supernet.pth``) and
that ``vipnas demo`` starts from: the demo's own supernet recipe (``vipnas.demo.supernet_config``), longer.

    python benchmarks/pretrain_supernet.py                         # the shipped one: the command in its .json
    python benchmarks/pretrain_supernet.py --iters 300 --out /tmp/p --no-install   # a short try
    python benchmarks/pretrain_supernet.py --supernet cpu_efficient_tiny_supernet --iters 2000 --no-install \
        --out runs/cpu-tiny-supernet          # another space under the same recipe, for comparisons

It prints the AP of the largest and smallest sub-networks (BN recalibrated) and of the mean-pose floor on the
validation and test splits, with the machine, threads and wall time; with ``--install`` (default) it writes the
weights-only checkpoint and its sidecar JSON (settings, command, seed, figures, digest) into ``vipnas/pretrained/``.
A killed run resumes from its work dir.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import asdict, replace

from _machine import footer, header


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters", type=int, default=None, help="sandwich steps (default: the demo's from scratch)")
    parser.add_argument(
        "--supernet",
        default=None,
        help="another supernet trained with the same recipe, e.g. cpu_efficient_tiny_supernet (not installed)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="work_dirs/pretrain_supernet", help="training work dir (resumable)")
    parser.add_argument("--install", action=argparse.BooleanOptionalAction, default=True, help="write to vipnas/")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    from vipnas.config import config_to_dict
    from vipnas.data.files import write_json_atomic
    from vipnas.demo import FULL, PRETRAINED, PRETRAINED_KEYS, demo_evaluators, file_digest, supernet_config
    from vipnas.engine.trainer import train
    from vipnas.models.checkpoint import load_model, save_model

    settings = replace(FULL, seed=args.seed, threads=args.threads, pretrained=False)
    if args.iters is not None:
        settings = replace(settings, supernet_iters=args.iters)
    if args.supernet is not None and args.supernet != settings.supernet:
        if args.install:
            parser.error("--supernet other than the demo's trains a comparison: add --no-install")
        settings = replace(settings, supernet=args.supernet)
    start = header(
        f"pretrain the demo's SynthPose supernet ({settings.supernet}): {settings.supernet_iters} sandwich steps, "
        f"seed {args.seed}"
    )
    config = supernet_config(settings)
    run = train(config, work_dir=args.out, resume_from="auto")
    wall = run.train_time  # the training time of the run (also of a run resumed here), not of this process
    supernet = load_model(run.last_checkpoint)
    search, test, floor = demo_evaluators(config, supernet, settings)
    space = supernet.space
    figures = {}
    for split, evaluator in (("val", search), ("test", test)):
        figures[split] = {
            "largest": round(evaluator(space.largest())["AP"], 4),
            "smallest": round(evaluator(space.smallest())["AP"], 4),
            "mean_pose": round(evaluator.evaluate_network(floor)["AP"], 4),
        }
        print(
            f"{split}: AP largest {figures[split]['largest']:.4f} | smallest {figures[split]['smallest']:.4f} | "
            f"mean pose {figures[split]['mean_pose']:.4f}"
        )
    print(f"training time {wall / 60:.1f} min (steps and data loading; {args.threads} threads in this process)")
    if args.install:
        save_model(supernet, PRETRAINED, config=config_to_dict(config))  # `vipnas search` finds its data
        command = "python benchmarks/pretrain_supernet.py " + shlex.join(sys.argv[1:])
        write_json_atomic(
            PRETRAINED.with_suffix(".json"),
            {
                "settings": {key: asdict(settings)[key] for key in PRETRAINED_KEYS},
                "recipe": {
                    key: asdict(settings)[key]
                    for key in ("supernet_iters", "lr", "warmup_iters", "batch_size", "num_random", "seed")
                },
                "command": command.strip(),
                "summary": f"{settings.supernet_iters} sandwich steps, seed {args.seed}, test AP largest "
                f"{figures['test']['largest']:.3f} / smallest {figures['test']['smallest']:.3f}",
                "AP": figures,
                "train_wall_s": round(wall, 1),
                "threads": args.threads,
                "sha256": file_digest(PRETRAINED),
            },
        )
        print(
            f"installed {PRETRAINED} ({PRETRAINED.stat().st_size / 1e3:.0f} kB) and {PRETRAINED.with_suffix('.json')}"
        )
    print(json.dumps(figures))
    footer(start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
