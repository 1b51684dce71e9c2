"""The main job on the embedded default: the whole spatial ViPNAS pipeline on SynthPose, end to end.

1. generate SynthPose (if not there yet);
2. train a MobileNetV3-family supernet briefly (sandwich rule + in-place distillation);
3. random-search it under a MACs budget (BN recalibrated per candidate, AP on validation crops);
4. extract the best arch and a hand-shrunk baseline of the same MACs (every dimension scaled uniformly);
5. fine-tune both briefly;
6. evaluate them with the largest and smallest sub-networks, measure single-thread CPU latency, and write a
   table, JSON and plots to one folder.

The full run uses the ``mobilenetv3_tiny`` space (the MobileNetV3 space's structure and every searchable
dimension at about 1/5 the width) at 128x96, which learns measurably in minutes on 2 CPU cores; ``--quick`` is
the same pipeline shrunk to finish in about a minute (for the test suite).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["FULL", "QUICK", "DemoSettings", "demo_overrides", "run_demo"]

logger = logging.getLogger("vipnas.demo")


@dataclass(frozen=True)
class DemoSettings:
    """Sizes of one demo run."""

    supernet: str = "mobilenetv3_tiny_supernet"
    input_size: tuple[int, int] = (128, 96)
    synthpose_images: int = 1500
    batch_size: int = 32
    supernet_iters: int = 1100
    finetune_iters: int = 150
    candidates: int = 40
    budget_fraction: float = 0.35  # MACs budget: smallest + fraction x (largest - smallest)
    val_limit: int = 100  # validation images used by the search and the final table
    calibration_images: int = 128
    sigma: float = 3.0  # a wide target at 32x24 heatmaps: learns faster in a short CPU run
    seed: int = 0


FULL = DemoSettings()
QUICK = DemoSettings(
    input_size=(64, 64),
    synthpose_images=100,
    batch_size=16,
    supernet_iters=30,
    finetune_iters=10,
    candidates=6,
    val_limit=10,
    calibration_images=32,
)


def demo_overrides(settings: DemoSettings, data_root: str | Path) -> list[str]:
    """The ``--set`` overrides every training run of the demo shares (data, targets, augmentation, seed)."""
    height, width = settings.input_size
    return [
        f"model.input_size=({height}, {width})",
        f"data.root='{data_root}'",
        f"data.synthpose_images={settings.synthpose_images}",
        f"data.synthpose_seed={settings.seed}",
        f"data.batch_size={settings.batch_size}",
        "data.num_workers=0",
        f"data.val_limit={settings.val_limit}",
        f"data.sigma={settings.sigma}",
        # light augmentation: in a run of minutes rotation and half-body crops slow learning more than they help
        "data.augment.rotation_prob=0.0",
        "data.augment.half_body_prob=0.0",
        "data.augment.shift_prob=0.0",
        f"runtime.seed={settings.seed}",
        "runtime.validate=False",
        "runtime.log_interval=50",
    ]


def _latency_ms(model: Any, input_size: tuple[int, int]) -> float:
    from vipnas.nas.latency import make_runner, measure_latency

    return measure_latency(make_runner(model, (1, 3, *input_size), "torch", threads=1), repeats=10, min_seconds=0.2)


def run_demo(
    out_dir: str | Path = "runs/demo", settings: DemoSettings = FULL, *, data_root: str | Path | None = None
) -> dict:
    """Run the pipeline; returns (and writes to ``out_dir/demo.json``) the comparison table and timings."""
    from vipnas.config import load_config
    from vipnas.engine.trainer import train
    from vipnas.models.checkpoint import load_model, save_model
    from vipnas.models.complexity import arch_complexity
    from vipnas.nas.baseline import hand_shrunk_arch
    from vipnas.nas.budget import Budget
    from vipnas.nas.evaluate import SupernetEvaluator
    from vipnas.nas.extract import extract_from_checkpoint
    from vipnas.nas.report import draw_arch, write_json, write_search_outputs
    from vipnas.nas.search import ResultStore, random_search
    from vipnas.space.arch import save_arch

    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    root = Path(data_root or f"data/synthpose-{settings.synthpose_images}-seed{settings.seed}")
    common = demo_overrides(settings, root)
    timings: dict[str, float] = {}

    def stage(name: str, begin: float) -> None:
        timings[name] = round(time.perf_counter() - begin, 1)
        print(f"[demo] {name}: {timings[name]:.0f} s (total {time.perf_counter() - started:.0f} s)", flush=True)

    # 1-2. data and supernet ------------------------------------------------------------------------------
    begin = time.perf_counter()
    config = load_config(
        "synthpose_mbv3_supernet",
        [
            *common,
            f"model.name='{settings.supernet}'",
            f"schedule.max_iters={settings.supernet_iters}",
            "schedule.epochs=1000",  # max_iters ends the run; a constant rate suits a run of minutes
            "schedule.milestones=()",
            "schedule.warmup_iters=0",
            f"supernet.calibration_images={settings.calibration_images}",
        ],
    )
    supernet_run = train(config, work_dir=out / "supernet", resume_from="auto")
    stage("supernet training (incl. SynthPose generation)", begin)

    # 3. search ---------------------------------------------------------------------------------------------
    begin = time.perf_counter()
    evaluator = SupernetEvaluator.from_checkpoint(
        supernet_run.last_checkpoint, calibration_images=settings.calibration_images
    )
    supernet = evaluator.supernet
    space, size = supernet.space, settings.input_size
    low = arch_complexity(space.smallest(), input_size=size).macs
    high = arch_complexity(space.largest(), input_size=size).macs
    budget = Budget(max_macs=low + settings.budget_fraction * (high - low), input_size=size)
    result = random_search(
        space,
        evaluator,
        budget,
        num_candidates=settings.candidates,
        seed=settings.seed,
        store=ResultStore(out / "search" / "store.json"),
    )
    write_search_outputs(out / "search", result)
    best = result.best
    stage(f"random search ({len(result.candidates)} candidates, {budget.describe()})", begin)

    # 4-5. extract the searched arch and the hand-shrunk baseline, fine-tune both ------------------------------
    begin = time.perf_counter()
    baseline_arch = hand_shrunk_arch(space, best.macs, input_size=size)
    finetuned: dict[str, Any] = {}
    for name, arch in (("searched", best.arch), ("baseline", baseline_arch)):
        save_arch(arch, out / f"{name}_arch.json")
        draw_arch(arch, out / f"{name}_arch.png", f"{name} arch")
        subnet, provenance = extract_from_checkpoint(
            supernet_run.last_checkpoint, arch, calibration_images=settings.calibration_images
        )
        save_model(subnet, out / f"{name}_extracted.pth", provenance=provenance)
        finetune = load_config(
            "synthpose_s_vipnas_mbv3",
            [
                *common,
                f"model.name='{out / f'{name}_arch.json'}'",
                f"schedule.max_iters={settings.finetune_iters}",
                "schedule.warmup_iters=0",
                "optimizer.lr=5e-4",
            ],
        )
        run = train(
            finetune, work_dir=out / f"finetune_{name}", load_from=out / f"{name}_extracted.pth", resume_from="auto"
        )
        finetuned[name] = load_model(run.last_checkpoint)
    stage("extraction + fine-tuning of searched and baseline", begin)

    # 6. the table ---------------------------------------------------------------------------------------------
    begin = time.perf_counter()
    rows = []
    for name, arch in (
        ("largest", space.largest()),
        ("smallest", space.smallest()),
        ("baseline", baseline_arch),
        ("searched", best.arch),
    ):
        cost = arch_complexity(arch, input_size=size)
        metrics = evaluator(arch)  # supernet weights, BN recalibrated
        row = {
            "network": name,
            "macs": cost.macs,
            "params": cost.params,
            "AP_supernet": metrics["AP"],
            "AP50_supernet": metrics["AP50"],
            "arch": arch.to_dict(),
        }
        static = finetuned.get(name) or supernet.extract_subnet(arch)
        row["latency_ms"] = _latency_ms(static, size)
        if name in finetuned:
            tuned = evaluator.evaluate_network(finetuned[name])
            row.update(AP_finetuned=tuned["AP"], AP50_finetuned=tuned["AP50"])
        rows.append(row)
    stage("evaluation and latency", begin)
    summary = {
        "settings": asdict(settings),
        "budget": budget.describe(),
        "rows": rows,
        "timings_s": timings,
        "wall_time_s": round(time.perf_counter() - started, 1),
        "evaluation": f"COCO AP on the first {settings.val_limit} SynthPose validation images "
        "(ground-truth boxes, flip test)",
    }
    write_json(summary, out / "demo.json")
    _plot(rows, result.candidates, out / "comparison.png")
    print(format_table(rows, summary))
    return summary


def format_table(rows: list[dict], summary: dict) -> str:
    """The comparison table as text."""
    settings = summary["settings"]
    height, width = settings["input_size"]
    lines = [
        f"ViPNAS demo on SynthPose ({settings['supernet']}, input {height}x{width}; search budget {summary['budget']})",
        f"{'network':10s} {'M MACs':>8s} {'k params':>9s} {'ms (1 thr)':>10s} "
        f"{'AP supernet':>12s} {'AP50 supernet':>14s} {'AP fine-tuned':>14s} {'AP50 fine-tuned':>16s}",
    ]
    for row in rows:
        tuned = (
            f"{row['AP_finetuned']:14.4f} {row['AP50_finetuned']:16.4f}"
            if "AP_finetuned" in row
            else f"{'-':>14s} {'-':>16s}"
        )
        lines.append(
            f"{row['network']:10s} {row['macs'] / 1e6:8.2f} {row['params'] / 1e3:9.1f} "
            f"{row['latency_ms']:10.2f} {row['AP_supernet']:12.4f} {row['AP50_supernet']:14.4f} {tuned}"
        )
    lines.append(
        f"wall time {summary['wall_time_s']:.0f} s: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in summary["timings_s"].items())
    )
    lines.append(
        f"(AP after {settings['supernet_iters']} supernet steps from scratch; at the default 1,100 every network is"
        " near the start of training and AP differences of a few thousandths are noise: docs/search.md)"
    )
    return "\n".join(lines)


def _plot(rows: list[dict], candidates: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    left.scatter(
        [c.macs / 1e6 for c in candidates],
        [c.score("AP") for c in candidates],
        s=12,
        color="tab:gray",
        alpha=0.5,
        label="search candidates",
    )
    colors = {"largest": "tab:green", "smallest": "tab:orange", "baseline": "tab:purple", "searched": "tab:red"}
    for row in rows:
        left.scatter(row["macs"] / 1e6, row["AP_supernet"], s=70, color=colors[row["network"]], label=row["network"])
        right.bar(row["network"] + "\nsupernet", row["AP_supernet"], color=colors[row["network"]], alpha=0.5)
        if "AP_finetuned" in row:
            right.bar(row["network"] + "\nfine-tuned", row["AP_finetuned"], color=colors[row["network"]])
    left.set_xlabel("M MACs")
    left.set_ylabel("AP (BN recalibrated)")
    left.legend(fontsize=8)
    left.grid(alpha=0.3)
    right.set_ylabel("AP")
    right.tick_params(axis="x", labelsize=7)
    figure.suptitle("ViPNAS demo on SynthPose")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
