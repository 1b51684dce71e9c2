"""Which recipe learns fastest per second on this CPU: the largest ``mobilenetv3_tiny`` network trained alone on
SynthPose from scratch, one run per recipe, then COCO AP (flip test, ground-truth boxes) on validation images.

    python benchmarks/train_recipe_sweep.py                                   # the sweep of docs/training.md
    python benchmarks/train_recipe_sweep.py --only "batch=16 lr=4e-3 iters=1200"
    python benchmarks/train_recipe_sweep.py --jobs 1 --threads 2              # one run at a time

Every run: He init, Adam, linear warm-up (100 iterations) then cosine to 0 at ``iters``, light augmentation (flip
and scale), the given codec and σ; SynthPose ``--images`` images with a 10 % test split. Runs go ``--jobs`` at a
time with ``--threads`` torch threads each; their wall times compare within one sweep on one machine only.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _machine import footer, header

SWEEP = [
    "batch=32 lr=4e-3 iters=600",
    "batch=32 lr=8e-3 iters=600",
    "batch=32 lr=4e-3 iters=600 sigma=3",
    "batch=16 lr=4e-3 iters=1200",
    "batch=16 lr=8e-3 iters=1200",
    "batch=8 lr=4e-3 iters=2400",
    "batch=32 lr=4e-3 iters=1200",
    "batch=32 lr=4e-3 iters=1200 level=medium",
    "batch=32 lr=4e-3 iters=1200 size=64,64",
]
DEFAULTS = {
    "batch": "32",
    "lr": "4e-3",
    "iters": "600",
    "sigma": "2",
    "level": "easy",
    "size": "128,96",
    "codec": "dark",
    "seed": "0",
}


def run_one(recipe: dict[str, str], work: Path, images: int, val_limit: int, threads: int) -> dict:
    """Train and evaluate one recipe in this process."""
    import torch

    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    from vipnas.codec import codec_for_model
    from vipnas.config import load_config
    from vipnas.data.dataset import build_loader
    from vipnas.data.metadata import COCO
    from vipnas.engine.build import build_val_dataset, prepare_data
    from vipnas.engine.trainer import train
    from vipnas.evaluation.inference import run_inference
    from vipnas.evaluation.pipeline import evaluate_predictions
    from vipnas.models.checkpoint import load_model
    from vipnas.models.registry import create_model
    from vipnas.space.arch import save_arch

    height, width = (int(v) for v in recipe["size"].split(","))
    arch = work.parent / "largest.json"
    save_arch(create_model("mobilenetv3_tiny_supernet").space.largest(), arch)
    config = load_config(
        "synthpose_s_vipnas_mbv3",
        [
            f"model.name='{arch}'",
            f"model.input_size=({height}, {width})",
            f"data.synthpose_level='{recipe['level']}'",
            f"data.synthpose_images={images}",
            "data.synthpose_test_fraction=0.1",
            f"data.batch_size={recipe['batch']}",
            "data.num_workers=0",
            f"data.codec='{recipe['codec']}'",
            f"data.sigma={recipe['sigma']}",
            f"data.val_limit={val_limit}",
            f"optimizer.lr={recipe['lr']}",
            f"schedule.max_iters={recipe['iters']}",
            "schedule.epochs=100000",
            "schedule.warmup_iters=100",
            "schedule.policy='cosine'",
            "schedule.milestones=()",
            f"runtime.seed={recipe['seed']}",
            "runtime.validate=False",
            f"runtime.threads={threads}",
            "data.augment.rotation_prob=0.0",
            "data.augment.half_body_prob=0.0",
            "data.augment.shift_prob=0.0",
        ],
    )
    began = time.perf_counter()
    result = train(config, work_dir=work, resume_from="auto")
    wall = time.perf_counter() - began
    model = load_model(result.last_checkpoint)
    dataset, ground_truth = build_val_dataset(config, model.metadata, prepare_data(config))
    batches = list(build_loader(dataset, batch_size=64, num_workers=0))
    predictions = run_inference(
        model, batches, flip=True, flip_index=COCO.flip_index(), codec=codec_for_model(model.metadata)
    )
    with contextlib.redirect_stdout(io.StringIO()):
        metrics = evaluate_predictions("COCO", ground_truth, predictions)
    return {
        **recipe,
        "train_wall_s": round(wall, 1),
        "AP": round(float(metrics["AP"]), 4),
        "AP50": round(float(metrics["AP50"]), 4),
    }


def parse(text: str) -> dict[str, str]:
    recipe = dict(DEFAULTS)
    for item in text.split():
        key, value = item.split("=", 1)
        if key not in DEFAULTS:
            raise SystemExit(f"unknown recipe key {key!r}; expected some of {', '.join(DEFAULTS)}")
        recipe[key] = value
    return recipe


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", default=None, help="one recipe, e.g. 'batch=16 lr=4e-3'")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--images", type=int, default=1500)
    parser.add_argument("--val-limit", type=int, default=200)
    parser.add_argument("--out", default="work_dirs/recipe_sweep")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: run one recipe and print it
    args = parser.parse_args()
    out = Path(args.out)
    if args.one is not None:
        recipe = parse(args.one)
        name = "-".join(f"{k}{v}" for k, v in recipe.items()).replace(",", "x")
        print("RESULT " + json.dumps(run_one(recipe, out / name, args.images, args.val_limit, args.threads)))
        return 0
    start = header(f"training recipe sweep ({args.jobs} runs at a time, {args.threads} thread(s) each)")
    recipes = args.only or SWEEP
    # generate the data of every level once, before parallel runs read it
    from vipnas.config import load_config
    from vipnas.engine.build import prepare_data

    for level in sorted({parse(r)["level"] for r in recipes}):
        prepare_data(
            load_config(
                "synthpose_s_vipnas_mbv3",
                [
                    f"data.synthpose_level='{level}'",
                    f"data.synthpose_images={args.images}",
                    "data.synthpose_test_fraction=0.1",
                ],
            )
        )
    pending, running, results = list(recipes), [], []
    environment = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    while pending or running:
        while pending and len(running) < args.jobs:
            recipe = pending.pop(0)
            command = [
                sys.executable,
                __file__,
                "--one",
                recipe,
                "--out",
                str(out),
                "--images",
                str(args.images),
                "--val-limit",
                str(args.val_limit),
                "--threads",
                str(args.threads),
            ]
            running.append(
                subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=environment)
            )
        process = running.pop(0)
        output, _ = process.communicate()
        line = next((line for line in output.splitlines() if line.startswith("RESULT ")), None)
        if line is None:
            print(f"a run failed (exit {process.returncode})")
            return 1
        results.append(json.loads(line[7:]))
        r = results[-1]
        print(
            f"{r['level']:6s} {r['size']:>7s} batch {r['batch']:>2s} lr {r['lr']:>5s} σ {r['sigma']} "
            f"{r['iters']:>5s} iters: {r['train_wall_s']:6.1f} s, AP {r['AP']:.4f}, AP50 {r['AP50']:.4f}",
            flush=True,
        )
    footer(start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
