"""``vipnas demo --video``: the temporal ViPNAS pipeline on SynthPose videos, end to end, and its ablations.

1. render SynthPose videos with train / val / test splits (the test videos are read by nothing but the final tables);
2. adapt the shipped SynthPose supernet (trained on still images) to the video frames: ``adapt_iters`` sandwich
   steps on single frames (``--from-scratch``: a fresh supernet, ``scratch_iters`` steps) — the S-supernet;
3. the key network (the S-ViPNet of key frames) is its largest network;
4. two runs of the same length from the S-supernet, so that neither side has more training: the T-ViPNet supernet
   (multi-frame propagation, ``train_iters`` steps of clips of T+1 frames) and the S-supernet continued for
   ``train_iters`` steps on single frames (the same frames, the same number of images per step);
5. search: S-ViPNAS (the continued S-supernet, one arch run on every frame) and T-ViPNAS (computation allocation)
   under the same per-frame average MACs, scored on the validation videos;
6. on the test videos: the comparison table (Table 3) and the ablations of :mod:`vipnas.demo.ablations`
   (Fig. 6a, Fig. 6b, Table 4), each a table, a JSON and a figure in one folder.

Every stage lives in a folder named after a digest of what produced it (:func:`vipnas.demo.spatial.stage_dir`):
a rerun resumes, and a run with other settings never reuses a stage made with different ones.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from vipnas.demo.spatial import PRETRAINED, file_digest, stage_dir

__all__ = ["QUICK_VIDEO", "VIDEO", "VideoDemoSettings", "VideoRun", "run_video_demo"]

logger = logging.getLogger("vipnas.demo")


@dataclass(frozen=True)
class VideoDemoSettings:
    """Sizes and recipe of one video demo run.

    ``seed`` seeds training and the searches; the videos have their own ``data_seed`` so that runs of several seeds
    are measured on the same test videos. ``budget_fractions``: per-frame average MACs budgets, each
    ``smallest + fraction x (largest - smallest)`` of the spatial space; the first is the main comparison's (Table 3,
    Table 4), all of them draw Fig. 6's curves.
    """

    level: str = "easy"
    videos: int = 96
    frames: int = 24
    val_fraction: float = 0.15
    test_fraction: float = 0.25
    data_seed: int = 0
    length: int = 3
    clips_per_step: int = 8  # temporal: clips of T+1 frames per step; single-frame runs: (T+1) x as many frames
    adapt_iters: int = 150
    scratch_iters: int = 1500  # the S-supernet's steps from scratch when not starting from the shipped supernet
    train_iters: int = 250
    lr: float = 2e-3
    warmup_iters: int = 20
    candidates: int = 24
    ablation_candidates: int = 12
    budget_fractions: tuple[float, ...] = (0.45, 0.4, 0.55)
    lengths: tuple[int, ...] = (2, 3, 4)
    calibration_clips: int = 32
    val_limit: int = 0  # validation frames the searches score on (0: all)
    threads: int = 0
    seed: int = 0
    pretrained: bool = True  # start from the shipped supernet (else a fresh one, ``adapt_iters`` from scratch)


VIDEO = VideoDemoSettings()
QUICK_VIDEO = VideoDemoSettings(
    videos=8,
    frames=8,
    val_fraction=0.25,
    test_fraction=0.25,
    clips_per_step=2,
    adapt_iters=3,
    scratch_iters=3,
    train_iters=3,
    warmup_iters=1,
    candidates=3,
    ablation_candidates=2,
    budget_fractions=(0.45, 0.6),
    calibration_clips=4,
)

SUPERNET = "mobilenetv3_tiny_supernet"
INPUT_SIZE = (128, 96)  # the shipped supernet's
CODEC, SIGMA = "dark", 2.0
# light augmentation, as the spatial demo: in runs of minutes rotation and half-body crops slow learning
LIGHT_AUGMENT = ["data.augment.rotation_prob=0.0", "data.augment.half_body_prob=0.0", "data.augment.shift_prob=0.0"]


def _common(settings: VideoDemoSettings, posetrack: Path, iters: int) -> list[str]:
    height, width = INPUT_SIZE
    return [
        f"model.input_size=({height}, {width})",
        "data.source='coco'",
        "data.dataset='POSETRACK18'",
        f"data.root='{posetrack}'",
        "data.train_images='.'",
        "data.val_annotations='annotations/val'",
        "data.val_images='.'",
        f"data.codec='{CODEC}'",
        f"data.sigma={SIGMA}",
        "data.num_workers=0",
        *LIGHT_AUGMENT,
        f"optimizer.lr={settings.lr}",
        "schedule.policy='cosine'",
        "schedule.epochs=100000",  # max_iters ends the run and the cosine
        "schedule.milestones=()",
        f"schedule.max_iters={iters}",
        f"schedule.warmup_iters={min(settings.warmup_iters, max(iters // 4, 0))}",
        f"runtime.seed={settings.seed}",
        f"runtime.threads={settings.threads}",
        "runtime.validate=False",
        "runtime.log_interval=50",
    ]


def spatial_config(settings: VideoDemoSettings, posetrack: Path, iters: int) -> Any:
    """Sandwich training of the tiny supernet on single video frames ((T+1) x ``clips_per_step`` per step)."""
    from vipnas.config import load_config

    return load_config(
        "synthpose_mbv3_supernet",
        [
            *_common(settings, posetrack, iters),
            f"model.name='{SUPERNET}'",
            "data.train_annotations='annotations/posetrack_train.json'",
            f"data.batch_size={settings.clips_per_step * (settings.length + 1)}",
            f"data.val_limit={settings.val_limit}",
        ],
    )


def temporal_config(settings: VideoDemoSettings, posetrack: Path, key: Path, iters: int) -> Any:
    """Multi-frame propagation training of the T-ViPNet supernet below ``key`` (``clips_per_step`` clips per step)."""
    from vipnas.config import load_config

    return load_config(
        "synthpose_temporal_mbv3_tiny",
        [
            *_common(settings, posetrack, iters),
            f"model.name='{SUPERNET}'",
            f"temporal.key='{key}'",
            f"temporal.length={settings.length}",
            "data.train_annotations='annotations/train'",
            f"data.batch_size={settings.clips_per_step}",
            f"data.val_limit={settings.val_limit}",
        ],
    )


def budget_macs(space: Any, fraction: float) -> float:
    """``smallest + fraction x (largest - smallest)`` MACs of ``space`` at the demo's input size."""
    from vipnas.models.complexity import arch_complexity

    low = arch_complexity(space.smallest(), input_size=INPUT_SIZE).macs
    high = arch_complexity(space.largest(), input_size=INPUT_SIZE).macs
    return low + fraction * (high - low)


class VideoRun:
    """The stages of one video demo run in ``out`` (each computed once, on first use, and cached on disk).

    The ablations (:mod:`vipnas.demo.ablations`) read what they need from here, so ``vipnas ablation NAME`` with the
    same ``--out`` reuses the stages ``vipnas demo --video`` made (and the other way round).
    """

    def __init__(self, out: str | Path, settings: VideoDemoSettings = VIDEO) -> None:
        self.out, self.settings = Path(out), settings
        self.out.mkdir(parents=True, exist_ok=True)
        self.timings: dict[str, float] = {}
        self.started = time.perf_counter()
        self._clips: dict[tuple[str, int], Any] = {}  # (split, T) -> TemporalEvaluator
        self._frames: dict[str, Any] = {}  # split -> FrameByFrameEvaluator

    def _timed(self, name: str, begin: float) -> None:
        self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - begin, 1)
        print(f"[demo --video] {name}: {time.perf_counter() - begin:.0f} s "
              f"(total {time.perf_counter() - self.started:.0f} s)", flush=True)  # fmt: skip

    # ---------------------------------------------------------------------------------------------- data
    @cached_property
    def videos(self) -> Path:
        """The SynthPose videos' root (``.../posetrack``: per-video files in annotations/train, val, test)."""
        from vipnas.data import synthpose
        from vipnas.data.synthpose.generate import VERSION, SynthPoseLayout

        s = self.settings
        made = {
            "level": s.level, "videos": s.videos, "frames": s.frames, "val_fraction": s.val_fraction,
            "test_fraction": s.test_fraction, "seed": s.data_seed, "version": VERSION,
        }  # fmt: skip
        folder = stage_dir(self.out, "videos", made)
        layout = SynthPoseLayout(folder / "synthpose")
        if not (folder / "complete").is_file():
            begin = time.perf_counter()
            synthpose.generate(
                layout.root, images=0, videos=s.videos, frames=s.frames, seed=s.data_seed, level=s.level,
                val_fraction=s.val_fraction, test_fraction=s.test_fraction,
            )  # fmt: skip
            (folder / "complete").write_text("generated\n")
            self._timed("SynthPose videos", begin)
        return layout.posetrack_root

    # ---------------------------------------------------------------------------------------------- training
    def _train(self, name: str, config: Any, load_from: Path | None) -> Path:
        from vipnas.config import config_to_dict
        from vipnas.engine.trainer import train

        # torch threads change speed, not what is trained: a rerun with other --threads reuses the stage
        plain = replace(config, runtime=replace(config.runtime, threads=0))
        provenance = {"config": config_to_dict(plain), "init": file_digest(load_from) if load_from else None}
        work = stage_dir(self.out, name, provenance)
        last = work / "checkpoints" / "last.pth"
        done = work / "complete"
        if done.is_file() and last.is_file():
            return last
        begin = time.perf_counter()
        result = train(config, work_dir=work, load_from=load_from, resume_from="auto")
        done.write_text("trained\n")
        self._timed(name, begin)
        return Path(result.last_checkpoint)

    @cached_property
    def adapted(self) -> Path:
        """The S-supernet: the shipped supernet adapted to video frames (or one trained from scratch on them)."""
        s = self.settings
        init = PRETRAINED if s.pretrained and PRETRAINED.is_file() else None
        iters = s.adapt_iters if init is not None else s.scratch_iters
        return self._train("adapted_supernet", spatial_config(s, self.videos, iters), init)

    @cached_property
    def key(self) -> Path:
        """The key network: the S-supernet's largest network (its weights and BN statistics)."""
        from vipnas.models.checkpoint import load_model, save_model

        folder = stage_dir(self.out, "key", {"supernet": file_digest(self.adapted)})
        path = folder / "key.pth"
        if not path.is_file():
            supernet = load_model(self.adapted)
            key = supernet.extract_subnet(supernet.space.largest(), name="key").eval()
            save_model(key, path, provenance={"from": str(self.adapted), "arch": "largest"})
        return path

    @cached_property
    def temporal(self) -> Path:
        """The T-ViPNet supernet trained by multi-frame propagation below the key network."""
        s = self.settings
        return self._train("temporal_supernet", temporal_config(s, self.videos, self.key, s.train_iters), None)

    @cached_property
    def spatial(self) -> Path:
        """The S-supernet continued on single frames for as many steps as the T-supernet trained."""
        s = self.settings
        return self._train("spatial_supernet", spatial_config(s, self.videos, s.train_iters), self.adapted)

    # ---------------------------------------------------------------------------------------------- evaluation
    def paths(self, split: str) -> Any:
        """The data paths whose ``val_*`` are ``split``'s videos (``val`` or ``test``)."""
        from vipnas.engine.build import prepare_data

        paths = prepare_data(spatial_config(self.settings, self.videos, 1))
        folder = self.videos / "annotations" / split
        return replace(paths, val_annotations=folder, val_images=self.videos)

    @cached_property
    def key_network(self) -> Any:
        from vipnas.models.checkpoint import load_model

        return load_model(self.key).eval()

    @cached_property
    def temporal_supernet(self) -> Any:
        from vipnas.models.checkpoint import load_model

        return load_model(self.temporal).eval()

    @cached_property
    def spatial_supernet(self) -> Any:
        from vipnas.models.checkpoint import load_model

        return load_model(self.spatial).eval()

    def clips(self, split: str, length: int | None = None) -> Any:
        """The :class:`~vipnas.nas.temporal.TemporalEvaluator` of the T-supernet on ``split``'s clips of
        ``length`` + 1 frames (cached per split and length)."""
        cache = self._clips
        length = length or self.settings.length
        if (split, length) not in cache:
            from vipnas.nas.temporal import clip_evaluator

            s = self.settings
            config = temporal_config(s, self.videos, self.key, 1)
            if split == "test":
                config = replace(config, data=replace(config.data, val_limit=0))
            settings = {"split": split, "key": file_digest(self.key), "videos": str(self.videos)}
            cache[split, length] = clip_evaluator(
                self.temporal_supernet, self.key_network, config, self.paths(split), length=length,
                calibration_clips=s.calibration_clips, settings=settings,
            )  # fmt: skip
        return cache[split, length]

    def frame_by_frame(self, split: str) -> Any:
        """S-ViPNets of the continued S-supernet on every frame of ``split``'s clips."""
        from vipnas.nas.temporal import FrameByFrameEvaluator

        cache = self._frames
        if split not in cache:
            cache[split] = FrameByFrameEvaluator(self.spatial_supernet, self.clips(split))
        return cache[split]

    def temporal_space(self, length: int | None = None, shared: bool = False) -> Any:
        from vipnas.space.temporal import TemporalSpace

        space = self.temporal_supernet.space
        return TemporalSpace(space.space, space.key, length or self.settings.length, shared=shared)

    # ---------------------------------------------------------------------------------------------- searches
    def search(self, name: str, space: Any, evaluator: Any, budget: Any, checkpoint: Path, objective: str,
               candidates: int, seed: int) -> Any:  # fmt: skip
        """A random search (the paper's) with a store in ``out/search_<name>-<digest>``; returns the result."""
        from vipnas.nas.report import write_search_outputs
        from vipnas.nas.search import ResultStore, random_search, search_provenance

        evaluation = {**evaluator.provenance(), "candidates": candidates, "seed": seed}
        provenance = search_provenance(checkpoint, space, budget, evaluation)
        folder = stage_dir(self.out, f"search_{name}", provenance)
        begin = time.perf_counter()
        result = random_search(
            space, evaluator, budget, num_candidates=candidates, seed=seed, objective=objective,
            store=ResultStore(folder / "store.json", provenance=provenance),
        )  # fmt: skip
        if objective == "AP":
            write_search_outputs(folder, result)
        self._timed(f"search {name}", begin)
        return result

    def search_seed(self, fraction: float) -> int:
        """The run's seed for the main budget; another per budget, so that the searches under looser budgets do not
        replay the tighter ones' first draws (rejection sampling from one seed would)."""
        fractions = self.settings.budget_fractions
        index = fractions.index(fraction) if fraction in fractions else len(fractions)
        return self.settings.seed + 1000 * index

    def temporal_budget(self, fraction: float) -> Any:
        from vipnas.nas.temporal import TemporalBudget

        return TemporalBudget(max_macs=budget_macs(self.spatial_space, fraction), input_size=INPUT_SIZE)

    @property
    def spatial_space(self) -> Any:
        return self.temporal_supernet.space.space

    def s_vipnas(self, fraction: float) -> Any:
        """The S-ViPNAS search: one spatial arch for every frame, under the per-frame budget; objective: mAP over
        all frames of the validation clips."""
        from vipnas.nas.budget import Budget

        budget = Budget(max_macs=budget_macs(self.spatial_space, fraction), input_size=INPUT_SIZE)
        return self.search(
            f"s_vipnas_{fraction}", self.spatial_supernet.space, self.frame_by_frame("val"), budget, self.spatial,
            "Total_all", self.settings.candidates, self.search_seed(fraction),
        )  # fmt: skip

    def t_vipnas(self, fraction: float, length: int | None = None, shared: bool = False,
                 candidates: int | None = None) -> Any:  # fmt: skip
        """The T-ViPNAS allocation search (per-frame choices, or one ``shared`` choice) under the per-frame average
        budget; objective: mAP over the non-key frames of the validation clips (``Total``)."""
        length = length or self.settings.length
        name = f"t_vipnas_t{length}_{fraction}" + ("_shared" if shared else "")
        return self.search(
            name, self.temporal_space(length, shared), self.clips("val", length), self.temporal_budget(fraction),
            self.temporal, "Total", candidates or self.settings.candidates, self.search_seed(fraction),
        )  # fmt: skip

    # ---------------------------------------------------------------------------------------------- helpers
    def test_temporal(self, arch: Any) -> dict[str, float]:
        """Test-split metrics of a temporal arch (its T from the arch)."""
        return self.clips("test", arch.length)(arch)

    def describe(self) -> dict[str, Any]:
        return {
            "settings": asdict(self.settings),
            "videos": str(self.videos),
            "key": str(self.key),
            "temporal_supernet": str(self.temporal),
            "spatial_supernet": str(self.spatial),
            "init": "shipped SynthPose supernet" if self.settings.pretrained else "fresh supernet",
        }


def save_t_vipnets(run: VideoRun, arch: Any, folder: Path) -> list[Path]:
    """The extracted T-ViPNets of ``arch`` (BN recalibrated on the training clips) as ``t_vipnet`` checkpoints,
    frame 1 first, plus the temporal arch JSON."""
    from vipnas.data.files import write_json_atomic
    from vipnas.models.checkpoint import save_model

    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / "temporal_arch.json", arch.to_dict())
    paths = []
    for index, network in enumerate(run.clips("val", arch.length).networks(arch), start=1):
        path = folder / f"t_vipnet_frame{index}.pth"
        save_model(network, path, provenance={"temporal_supernet": file_digest(run.temporal), "frame": index})
        paths.append(path)
    return paths


def save_s_vipnet(run: VideoRun, arch: Any, folder: Path) -> Path:
    """The extracted S-ViPNAS network of ``arch`` (BN recalibrated on the training clips' frames, as Table 3
    evaluated it) as ``s_vipnet.pth``, plus its arch JSON: ``vipnas video --model`` runs it on every frame."""
    from vipnas.data.files import write_json_atomic
    from vipnas.models.checkpoint import save_model

    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / "arch.json", arch.to_dict())
    network = run.frame_by_frame("val").network(arch)
    network.metadata = replace(network.metadata, name="s_vipnet")
    path = folder / "s_vipnet.pth"
    save_model(network, path, provenance={"spatial_supernet": file_digest(run.spatial)})
    return path


def run_video_demo(out_dir: str | Path = "runs/demo-video", settings: VideoDemoSettings = VIDEO) -> dict:
    """The whole temporal pipeline and every ablation; returns (and writes to ``out_dir/video_demo.json``) the
    summary: the ablations' rows, the settings and the wall time."""
    import torch

    from vipnas.data.files import write_json_atomic
    from vipnas.demo.ablations import ABLATIONS, run_ablation

    if settings.threads:
        torch.set_num_threads(settings.threads)
    run = VideoRun(out_dir, settings)
    results = {name: run_ablation(run, name) for name in ABLATIONS}
    best = results["table3"]["best_temporal_arch"]
    from vipnas.space.arch import Arch
    from vipnas.space.temporal import TemporalArch

    save_t_vipnets(run, TemporalArch.from_dict(best), run.out / "t_vipnas")
    save_s_vipnet(run, Arch.from_dict(results["table3"]["best_spatial_arch"]), run.out / "s_vipnas")
    summary = {
        **run.describe(),
        "ablations": results,
        "timings_s": run.timings,
        "wall_time_s": round(time.perf_counter() - run.started, 1),
    }
    write_json_atomic(run.out / "video_demo.json", summary)
    text = "\n\n".join(result["table"] for result in results.values())
    text += f"\n\nwall time {summary['wall_time_s']:.0f} s"
    (run.out / "tables.txt").write_text(text + "\n")
    print(text)
    print(json.dumps({"outputs": str(run.out)}))
    return summary
