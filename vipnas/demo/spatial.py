"""The main job on the embedded default: the whole spatial ViPNAS pipeline on SynthPose, end to end.

1. generate SynthPose at the demo's level with a held-out test split (if not there yet);
2. take the pretrained SynthPose supernet shipped in the package (``--from-scratch``: train one, sandwich rule +
   in-place distillation);
3. random-search it under a MACs budget (BN recalibrated per candidate, AP on validation crops);
4. extract the best arch and a hand-shrunk baseline of the same MACs (every dimension scaled uniformly);
5. fine-tune both;
6. on the **test split that neither training nor the search read**, evaluate them with the largest and smallest
   sub-networks and the mean-pose floor (the average training pose placed in each box), measure single-thread
   CPU latency, and write a table, JSON and plots to one folder.

Every stage writes into a folder named after a digest of what produced it (settings, upstream files), with that
description in ``provenance.json``: a rerun with other settings never reuses or overwrites a stage made with
different ones, and a killed run resumes. ``--quick`` is the same pipeline shrunk to about a minute (tests).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from vipnas.data.files import file_digest

__all__ = [
    "FULL",
    "LONG",
    "PRETRAINED",
    "PRETRAINED_KEYS",
    "QUICK",
    "DemoSettings",
    "demo_evaluators",
    "demo_overrides",
    "file_digest",
    "pretrained_supernet",
    "run_demo",
    "stage_dir",
]

logger = logging.getLogger("vipnas.demo")

PRETRAINED = Path(__file__).resolve().parent.parent / "pretrained" / "synthpose_tiny_supernet.pth"


@dataclass(frozen=True)
class DemoSettings:
    """Sizes and recipe of one demo run.

    ``seed`` seeds supernet training, the search and fine-tuning; the data has its own ``data_seed`` so that runs of
    several seeds are measured on the same test split.
    """

    supernet: str = "mobilenetv3_tiny_supernet"
    level: str = "easy"
    input_size: tuple[int, int] = (128, 96)
    synthpose_images: int = 4000
    test_fraction: float = 0.1
    data_seed: int = 0
    codec: str = "dark"
    sigma: float = 2.0
    batch_size: int = 16  # with lr 4e-3: the fastest AP per second of those measured (docs/training.md)
    lr: float = 4e-3
    warmup_iters: int = 100
    supernet_iters: int = 2000
    num_random: int = 2
    finetune_iters: int = 400
    finetune_lr: float = 1e-3
    candidates: int = 40
    budget_fraction: float = 0.35  # MACs budget: smallest + fraction x (largest - smallest)
    val_limit: int = 150  # validation images the search scores candidates on
    test_limit: int = 0  # test images of the final table (0: all)
    calibration_images: int = 128
    threads: int = 0  # torch threads (0: measured per training step, vipnas.engine.threads)
    seed: int = 0
    pretrained: bool = True  # start from the supernet shipped in the package when it matches these settings


FULL = DemoSettings()
LONG = replace(FULL, level="medium", pretrained=False, synthpose_images=3000, supernet_iters=6000, candidates=60)
QUICK = DemoSettings(
    input_size=(64, 64),
    synthpose_images=100,
    test_fraction=0.2,
    batch_size=16,
    supernet_iters=30,
    warmup_iters=5,
    finetune_iters=10,
    candidates=6,
    val_limit=10,
    calibration_images=32,
    pretrained=False,
)

# the settings that decide whether the shipped supernet is the one this run would train
PRETRAINED_KEYS = (
    "supernet",
    "level",
    "input_size",
    "synthpose_images",
    "test_fraction",
    "data_seed",
    "codec",
    "sigma",
)


def demo_overrides(settings: DemoSettings, data_root: str | Path) -> list[str]:
    """The ``--set`` overrides every training run of the demo shares (data, targets, augmentation, seed)."""
    height, width = settings.input_size
    return [
        f"model.input_size=({height}, {width})",
        f"data.root='{data_root}'",
        f"data.synthpose_images={settings.synthpose_images}",
        f"data.synthpose_seed={settings.data_seed}",
        f"data.synthpose_level='{settings.level}'",
        f"data.synthpose_test_fraction={settings.test_fraction}",
        f"data.batch_size={settings.batch_size}",
        "data.num_workers=0",
        f"data.val_limit={settings.val_limit}",
        f"data.codec='{settings.codec}'",
        f"data.sigma={settings.sigma}",
        # light augmentation: in a run of minutes rotation and half-body crops slow learning more than they help
        "data.augment.rotation_prob=0.0",
        "data.augment.half_body_prob=0.0",
        "data.augment.shift_prob=0.0",
        "schedule.policy='cosine'",
        "schedule.epochs=100000",  # max_iters ends the run and the cosine
        "schedule.milestones=()",
        f"runtime.seed={settings.seed}",
        f"runtime.threads={settings.threads}",
        "runtime.validate=False",
        "runtime.log_interval=100",
    ]


def supernet_config(settings: DemoSettings, data_root: str | Path | None = None) -> Any:
    """The resolved training config of the demo's supernet; ``data.root`` is ``data_root``, or by default the
    folder named after the SynthPose settings (``data/synthpose-<level>-<images>-seed<seed>-test<percent>``),
    written out so that the config (and every checkpoint and cache key made from it) names its data."""
    from vipnas.config import load_config
    from vipnas.engine.build import synthpose_root

    config = load_config(
        "synthpose_mbv3_supernet",
        [
            *demo_overrides(settings, data_root or ""),
            f"model.name='{settings.supernet}'",
            f"optimizer.lr={settings.lr}",
            f"schedule.max_iters={settings.supernet_iters}",
            f"schedule.warmup_iters={settings.warmup_iters}",
            f"supernet.num_random={settings.num_random}",
            f"supernet.calibration_images={settings.calibration_images}",
        ],
    )
    return replace(config, data=replace(config.data, root=str(synthpose_root(config))))


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def stage_dir(out: Path, name: str, provenance: dict[str, Any]) -> Path:
    """``out/<name>-<digest of provenance>``, created with ``provenance.json``; an existing folder is reused only
    when its recorded provenance is the same (else a named error: nothing made with other settings is reused)."""
    plain = json.loads(json.dumps(provenance, sort_keys=True, default=str))
    folder = out / f"{name}-{_digest(plain)[:10]}"
    record = folder / "provenance.json"
    if record.is_file():
        stored = json.loads(record.read_text())
        if stored != plain:
            differ = sorted(k for k in set(stored) | set(plain) if stored.get(k) != plain.get(k))
            raise ValueError(f"{folder} was made by other settings ({', '.join(differ)} differ); delete it")
    else:
        from vipnas.data.files import write_json_atomic

        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(record, plain)
    return folder


def pretrained_supernet(settings: DemoSettings) -> Path | None:
    """The shipped supernet when it was trained with ``settings``' data, size and codec, else ``None``."""
    if not settings.pretrained or not PRETRAINED.is_file():
        return None
    sidecar = PRETRAINED.with_suffix(".json")
    if not sidecar.is_file():
        return None
    made_with = json.loads(sidecar.read_text())["settings"]
    wanted = json.loads(json.dumps({key: asdict(settings)[key] for key in PRETRAINED_KEYS}))
    return PRETRAINED if all(made_with.get(key) == value for key, value in wanted.items()) else None


def _latency_ms(model: Any, input_size: tuple[int, int]) -> float:
    from vipnas.nas.latency import make_runner, measure_latency

    return measure_latency(make_runner(model, (1, 3, *input_size), "torch", threads=1), repeats=10, min_seconds=0.2)


def demo_evaluators(config: Any, supernet: Any, settings: DemoSettings) -> tuple[Any, Any, Any]:
    """The search's evaluator (validation crops), the final table's (test crops, every image unless
    ``test_limit``), both with the same calibration crops, and the mean-pose network of the training crops."""
    from vipnas.codec import codec_for_model
    from vipnas.data.dataset import build_loader
    from vipnas.data.synthpose.generate import SynthPoseLayout
    from vipnas.engine.build import (
        build_calibration_batches,
        build_train_dataset,
        build_val_dataset,
        prepare_data,
        synthpose_root,
    )
    from vipnas.evaluation.floor import MeanPoseNetwork, mean_pose
    from vipnas.nas.evaluate import SupernetEvaluator

    metadata = supernet.metadata
    paths = prepare_data(config)
    calibration = build_calibration_batches(config, metadata, paths, num_images=settings.calibration_images)

    def evaluator(data_config: Any, split_paths: Any) -> SupernetEvaluator:
        dataset, ground_truth = build_val_dataset(replace(config, data=data_config), metadata, split_paths)
        batches = list(build_loader(dataset, batch_size=64, num_workers=0))
        return SupernetEvaluator(
            supernet, calibration_batches=calibration, val_batches=batches, ground_truth=ground_truth
        )

    layout = SynthPoseLayout(synthpose_root(config))
    test_paths = replace(paths, val_annotations=layout.annotations("test"), val_images=layout.images("test"))
    search = evaluator(config.data, paths)
    test = evaluator(replace(config.data, val_limit=settings.test_limit), test_paths)
    train = build_train_dataset(config, metadata, paths, augment=False)
    keypoints, _ = mean_pose(train[index] for index in range(len(train)))
    floor = MeanPoseNetwork(keypoints, codec_for_model(metadata)).eval()
    return search, test, floor


def run_demo(
    out_dir: str | Path = "runs/demo", settings: DemoSettings = FULL, *, data_root: str | Path | None = None
) -> dict:
    """Run the pipeline; returns (and writes to ``out_dir/demo.json``) the comparison table and timings."""
    import torch

    from vipnas.config import config_to_dict, load_config
    from vipnas.data.files import write_json_atomic
    from vipnas.engine.trainer import train
    from vipnas.models.checkpoint import load_model, save_model
    from vipnas.models.complexity import arch_complexity
    from vipnas.nas.baseline import hand_shrunk_arch
    from vipnas.nas.budget import Budget
    from vipnas.nas.extract import extract_from_checkpoint
    from vipnas.nas.report import draw_arch, write_search_outputs
    from vipnas.nas.search import ResultStore, random_search, search_provenance
    from vipnas.space.arch import save_arch

    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    config = supernet_config(settings, data_root)
    root = Path(config.data.root)
    common = demo_overrides(settings, root)
    timings: dict[str, float] = {}

    def stage(name: str, begin: float) -> None:
        timings[name] = round(time.perf_counter() - begin, 1)
        print(f"[demo] {name}: {timings[name]:.0f} s (total {time.perf_counter() - started:.0f} s)", flush=True)

    # 1-2. data and supernet ------------------------------------------------------------------------------
    begin = time.perf_counter()
    shipped = pretrained_supernet(settings)
    if shipped is not None:
        from vipnas.engine.build import prepare_data

        prepare_data(config)  # generates SynthPose if it is not there yet
        checkpoint = shipped
        made_by = json.loads(shipped.with_suffix(".json").read_text())
        origin = f"pretrained SynthPose supernet {shipped.name} ({made_by['summary']}; `--from-scratch` trains one)"
        print(f"[demo] starting from the {origin}", flush=True)
        stage("SynthPose generation (supernet: pretrained)", begin)
    else:
        work = stage_dir(out, "supernet", {"config": config_to_dict(config)})
        checkpoint = train(config, work_dir=work, resume_from="auto").last_checkpoint
        origin = f"supernet trained here: {settings.supernet_iters} sandwich steps from scratch, seed {settings.seed}"
        stage("supernet training (incl. SynthPose generation)", begin)

    # 3. search ---------------------------------------------------------------------------------------------
    begin = time.perf_counter()
    supernet = load_model(checkpoint)
    search_evaluator, test_evaluator, floor = demo_evaluators(config, supernet, settings)
    space, size = supernet.space, settings.input_size
    low = arch_complexity(space.smallest(), input_size=size).macs
    high = arch_complexity(space.largest(), input_size=size).macs
    budget = Budget(max_macs=low + settings.budget_fraction * (high - low), input_size=size)
    provenance = search_provenance(
        checkpoint,
        space,
        budget,
        {**search_evaluator.provenance(), "data": str(root), "candidates": settings.candidates, "seed": settings.seed},
    )
    search_dir = stage_dir(out, "search", provenance)
    result = random_search(
        space,
        search_evaluator,
        budget,
        num_candidates=settings.candidates,
        seed=settings.seed,
        store=ResultStore(search_dir / "store.json", provenance=provenance),
    )
    write_search_outputs(search_dir, result)
    best = result.best
    stage(f"random search ({len(result.candidates)} candidates, {budget.describe()})", begin)

    # 4-5. extract the searched arch and the hand-shrunk baseline, fine-tune both ------------------------------
    begin = time.perf_counter()
    baseline_arch = hand_shrunk_arch(space, best.macs, input_size=size)
    finetuned: dict[str, Any] = {}
    for name, arch in (("searched", best.arch), ("baseline", baseline_arch)):
        finetune = load_config(
            "synthpose_s_vipnas_mbv3",
            [
                *common,
                f"schedule.max_iters={settings.finetune_iters}",
                f"schedule.warmup_iters={min(settings.warmup_iters, settings.finetune_iters // 4)}",
                f"optimizer.lr={settings.finetune_lr}",
            ],
        )
        work = stage_dir(
            out,
            f"finetune_{name}",
            {"supernet": file_digest(checkpoint), "arch": arch.to_dict(), "config": config_to_dict(finetune)},
        )
        save_arch(arch, work / "arch.json")
        draw_arch(arch, work / "arch.png", f"{name} arch")
        extracted = work / "extracted.pth"
        if not extracted.is_file():
            subnet, made = extract_from_checkpoint(checkpoint, arch, calibration_images=settings.calibration_images)
            save_model(subnet, extracted, provenance=made)
        finetune = replace(finetune, model=replace(finetune.model, name=str(work / "arch.json")))
        run = train(finetune, work_dir=work / "train", load_from=extracted, resume_from="auto")
        finetuned[name] = load_model(run.last_checkpoint)
    stage("extraction + fine-tuning of searched and baseline", begin)

    # 6. the table, on the test split ----------------------------------------------------------------------------
    begin = time.perf_counter()
    floor_metrics = test_evaluator.evaluate_network(floor)
    rows: list[dict[str, Any]] = [
        {
            "network": "mean pose",
            "macs": 0,
            "params": 0,
            "latency_ms": 0.0,
            "AP_supernet": floor_metrics["AP"],
            "AP50_supernet": floor_metrics["AP50"],
            "arch": None,
        }
    ]
    for name, arch in (
        ("largest", space.largest()),
        ("smallest", space.smallest()),
        ("baseline", baseline_arch),
        ("searched", best.arch),
    ):
        cost = arch_complexity(arch, input_size=size)
        metrics = test_evaluator(arch)  # supernet weights, BN recalibrated
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
            tuned = test_evaluator.evaluate_network(finetuned[name])
            row.update(AP_finetuned=tuned["AP"], AP50_finetuned=tuned["AP50"])
        if name == "searched":
            row["AP_val_search"] = best.score("AP")
        rows.append(row)
    stage("evaluation and latency", begin)
    test_images = len(test_evaluator.ground_truth.getImgIds())
    summary = {
        "settings": asdict(settings),
        "supernet": origin,
        "budget": budget.describe(),
        "rows": rows,
        "timings_s": timings,
        "wall_time_s": round(time.perf_counter() - started, 1),
        "evaluation": f"COCO AP on the {test_images} images of the SynthPose {settings.level} test split, which "
        f"neither training nor the search read (ground-truth boxes, flip test, {settings.codec} decoding); the search "
        f"scored candidates on the first {settings.val_limit} validation images",
    }
    write_json_atomic(out / "demo.json", summary)
    _plot(rows, result.candidates, out / "comparison.png")
    table = format_table(rows, summary)
    (out / "table.txt").write_text(table + "\n")
    print(table)
    return summary


def format_table(rows: list[dict], summary: dict) -> str:
    """The comparison table as text."""
    settings = summary["settings"]
    height, width = settings["input_size"]
    lines = [
        f"ViPNAS demo on SynthPose {settings['level']} ({settings['supernet']}, input {height}x{width}; search budget "
        f"{summary['budget']})",
        f"supernet: {summary['supernet']}",
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
    lines.append(f"({summary['evaluation']}. Seed-to-seed spread of these APs: docs/search.md)")
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
        label="search candidates (val)",
    )
    colors = {
        "mean pose": "tab:brown",
        "largest": "tab:green",
        "smallest": "tab:orange",
        "baseline": "tab:purple",
        "searched": "tab:red",
    }
    for row in rows:
        if row["network"] != "mean pose":
            left.scatter(
                row["macs"] / 1e6,
                row["AP_supernet"],
                s=70,
                color=colors[row["network"]],
                label=f"{row['network']} (test)",
            )
        right.bar(row["network"] + "\nsupernet", row["AP_supernet"], color=colors[row["network"]], alpha=0.5)
        if "AP_finetuned" in row:
            right.bar(row["network"] + "\nfine-tuned", row["AP_finetuned"], color=colors[row["network"]])
    floor = next(row["AP_supernet"] for row in rows if row["network"] == "mean pose")
    left.axhline(floor, color=colors["mean pose"], linestyle="--", linewidth=1, label="mean-pose floor (test)")
    left.set_xlabel("M MACs")
    left.set_ylabel("AP (BN recalibrated)")
    left.legend(fontsize=7)
    left.grid(alpha=0.3)
    right.set_ylabel("AP on the test split")
    right.tick_params(axis="x", labelsize=6)
    figure.suptitle("ViPNAS demo on SynthPose")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
