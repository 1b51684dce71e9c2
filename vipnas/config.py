"""Training configuration: typed dataclass defaults, one YAML overlay, ``--set key=value`` overrides.

The defaults of :class:`Config` are the official S-ViPNAS recipe (MMPose ``td-hm_vipnas-res50_8xb64-210e_coco-
256x192.py``: Adam 5e-4, linear warm-up over 500 iterations, ×0.1 at epochs 170 and 200 of 210, 64 crops per
process, 256×192 input, σ=2 heatmaps). A preset (``vipnas/configs/NAME.yaml``, shipped inside the package so an
installed vipnas finds it by name) overlays only what differs; ``--set optimizer.lr=1e-3`` overrides one field.
Values are checked against the field's type, and unknown keys fail with the closest known key::

    config = load_config("synthpose_mbv3_supernet", ["optimizer.lr=2e-3", "data.batch_size=16"])

No config file is executed and none inherits from another (no ``_base_`` chains): defaults + one overlay.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vipnas.codec import CODECS
from vipnas.data.augment import AugmentConfig

__all__ = [
    "SYNTHPOSE_LEVELS",
    "TEMPORAL_ABLATIONS",
    "Config",
    "DataConfig",
    "ModelConfig",
    "OptimizerConfig",
    "RuntimeConfig",
    "ScheduleConfig",
    "SupernetConfig",
    "TemporalConfig",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "diff_configs",
    "dump_config",
    "list_presets",
    "load_config",
    "preset_path",
]

PRESET_DIR = Path(__file__).parent / "configs"


# the names of vipnas.data.synthpose.LEVELS, here so that configs and the CLI need not import the generator
SYNTHPOSE_LEVELS = ("easy", "medium", "hard")
# the paper's temporal ablations (vipnas ablation NAME; vipnas.demo.ablations runs them)
TEMPORAL_ABLATIONS = ("table3", "fig6a", "fig6b", "table4")

# vipnas.data.clips: per-frame scale jitter σ stays below 0.5 / JITTER_LIMIT (a crop never shrinks below half)
CLIP_JITTER_SCALE_LIMIT = 0.25


def _choice(value: str, allowed: tuple[str, ...], key: str) -> None:
    if value not in allowed:
        raise ValueError(f"{key} must be one of {', '.join(repr(a) for a in allowed)}; got {value!r}")


@dataclass(frozen=True)
class ModelConfig:
    """What to train.

    Attributes:
        name: a registered model (``s_vipnas_res50``, ``mobilenetv3_supernet``, ...), an arch JSON file, a vipnas
            checkpoint (its architecture; weights come only with ``--load-from``), or ``""`` to take the
            architecture of the ``--load-from`` checkpoint. In a temporal run (``temporal.key`` set): the spatial
            supernet whose search space holds the key arch (``mobilenetv3_tiny_supernet``, ...), or a supernet or
            temporal supernet checkpoint (its search space).
        input_size: network input (height, width) in pixels, multiples of 32.
        init: weight initialisation of a freshly built model: ``normal`` (N(0, 0.001), the paper's and MMPose's)
            or ``kaiming`` (He init, heatmap layer N(0, 0.001); learns much faster from scratch, used by the
            SynthPose presets). Weights given by ``--load-from`` or ``--resume-from`` replace it. Not used by a
            temporal run (its supernet starts from the key network's weights, its fusion projections at zero).
    """

    name: str = "s_vipnas_res50"
    input_size: tuple[int, int] = (256, 192)
    init: str = "normal"

    def __post_init__(self) -> None:
        _choice(self.init, ("normal", "kaiming"), "model.init")


@dataclass(frozen=True)
class DataConfig:
    """Where the crops come from and how they are batched.

    Attributes:
        source: ``coco`` (any COCO-style keypoint file: COCO, CrowdPose, merged PoseTrack18), ``mpii``, or
            ``synthpose`` (generated into ``root`` on first use, see ``synthpose_images``).
        dataset: joint convention (``COCO``, ``CROWDPOSE``, ``POSETRACK18``, ``MPII``).
        root: data folder; the four paths below are relative to it. For ``synthpose`` an empty root means
            ``data/synthpose-<level>-<images>-seed<seed>``.
        train_annotations, train_images, val_annotations, val_images: annotation files and image folders; for
            PoseTrack18 an annotation path may be the official folder of per-video files (``annotations/val``:
            validation then computes poseval's mAP on them, as the paper reports).
        val_detections: detector boxes for the AP evaluation, relative to ``root`` (``""``: ground-truth boxes;
            for ``synthpose`` any non-empty value selects its simulated detector).
        synthpose_images: SynthPose images to generate (train + val).
        synthpose_seed: SynthPose generator seed.
        synthpose_level: SynthPose difficulty, ``easy``, ``medium`` or ``hard`` (``vipnas.data.synthpose.LEVELS``).
        synthpose_test_fraction: share of SynthPose images in a held-out test split that training never reads.
        batch_size: crops per process and step (the official recipe: 64 per GPU, 8 GPUs).
        val_batch_size: crops per process in validation, BN recalibration and inference.
        num_workers: loader processes per training process.
        sigma: heatmap Gaussian σ in heatmap pixels.
        codec: heatmap codec of targets, crops and decoding (:func:`vipnas.codec.build_codec`): ``msra`` (the
            official recipe: rounded Gaussian centre, quarter-offset decoding), ``dark`` (sub-pixel centre, DARK
            decoding; far more accurate at small heatmaps) or ``udp`` (UDP's pixel grid and crop affine). Recorded
            in every checkpoint (``model.metadata.codec``), so evaluation decodes as the model was trained.
        padding: box padding factor of the crop.
        augment: random crop policy (probabilities and ranges; the official pipeline by default).
        train_limit: use only the first N training crops (0 = all; for smoke tests).
        val_limit: use only the first N validation images (frames), with all their persons (0 = all).
    """

    source: str = "coco"
    dataset: str = "COCO"
    root: str = "data/coco"
    train_annotations: str = "annotations/person_keypoints_train2017.json"
    train_images: str = "train2017"
    val_annotations: str = "annotations/person_keypoints_val2017.json"
    val_images: str = "val2017"
    val_detections: str = ""
    synthpose_images: int = 1000
    synthpose_seed: int = 0
    synthpose_level: str = "easy"
    synthpose_test_fraction: float = 0.0
    batch_size: int = 64
    val_batch_size: int = 32
    num_workers: int = 2
    sigma: float = 2.0
    codec: str = "msra"
    padding: float = 1.25
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    train_limit: int = 0
    val_limit: int = 0

    def __post_init__(self) -> None:
        _choice(self.source, ("coco", "mpii", "synthpose"), "data.source")
        _choice(self.synthpose_level, SYNTHPOSE_LEVELS, "data.synthpose_level")
        if not 0.0 <= self.synthpose_test_fraction < 0.8:
            raise ValueError(f"data.synthpose_test_fraction must be in [0, 0.8), got {self.synthpose_test_fraction}")
        _choice(self.codec, CODECS, "data.codec")
        if self.batch_size < 1 or self.val_batch_size < 1 or self.num_workers < 0:
            raise ValueError("data.batch_size and data.val_batch_size must be >= 1, data.num_workers >= 0")


@dataclass(frozen=True)
class OptimizerConfig:
    """The optimizer.

    Attributes:
        name: ``adam``, ``adamw`` or ``sgd``.
        lr: base learning rate (for ``base_batch_size`` crops per step when ``--autoscale-lr`` is given).
        weight_decay: L2 (Adam, SGD) or decoupled (AdamW) weight decay.
        momentum: SGD momentum.
        betas: Adam/AdamW betas.
        grad_clip: clip the global gradient norm to this value (0 = off).
        base_batch_size: total crops per step that ``lr`` is tuned for: ``--autoscale-lr`` multiplies the rate by
            ``batch_size × world_size / base_batch_size`` (MMPose ``auto_scale_lr``; 8 GPUs × 64 = 512).
    """

    name: str = "adam"
    lr: float = 5e-4
    weight_decay: float = 0.0
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float = 0.0
    base_batch_size: int = 512

    def __post_init__(self) -> None:
        _choice(self.name, ("adam", "adamw", "sgd"), "optimizer.name")
        if not self.lr > 0:
            raise ValueError(f"optimizer.lr must be > 0, got {self.lr}")


@dataclass(frozen=True)
class ScheduleConfig:
    """Epochs and the learning-rate policy (stepped every iteration).

    Attributes:
        epochs: training epochs.
        policy: ``step`` (×gamma at each milestone) or ``cosine`` (to ``min_lr_ratio`` at the end).
        milestones: epochs at whose start the rate is multiplied by ``gamma``.
        gamma: step factor.
        min_lr_ratio: final rate of the cosine policy, as a fraction of the base rate.
        warmup_iters: linear warm-up iterations (MMPose ``LinearLR``, by iteration).
        warmup_ratio: rate factor at iteration 0 of the warm-up.
        max_iters: stop after this many iterations (0 = run all epochs). When it ends the run before ``epochs``,
            the schedule is ``max_iters`` long: the cosine reaches ``min_lr_ratio`` at ``max_iters`` (milestones
            stay in epochs, so a step schedule is a prefix of the full one).
    """

    epochs: int = 210
    policy: str = "step"
    milestones: tuple[int, ...] = (170, 200)
    gamma: float = 0.1
    min_lr_ratio: float = 0.0
    warmup_iters: int = 500
    warmup_ratio: float = 0.001
    max_iters: int = 0

    def __post_init__(self) -> None:
        _choice(self.policy, ("step", "cosine"), "schedule.policy")
        if self.epochs < 1 or self.warmup_iters < 0 or self.max_iters < 0:
            raise ValueError("schedule.epochs must be >= 1, schedule.warmup_iters and schedule.max_iters >= 0")


@dataclass(frozen=True)
class SupernetConfig:
    """The sandwich rule and in-place distillation (used when the model is a supernet).

    Attributes:
        num_random: uniformly sampled sub-networks per step besides the largest and the smallest (paper: N=2).
        distill: supervise every non-largest sub-network by the largest's detached heatmaps too (equal weight).
        bn_stats: ``largest``: running BN statistics are updated only while the largest sub-network runs (every
            other sub-network is recalibrated before it is evaluated); ``all``: every sub-network updates them.
        calibration_images: training crops (no augmentation, fixed) cached for BN recalibration in validation.
        val_archs: sub-networks evaluated by ``--validate``: any of ``largest``, ``smallest``.
    """

    num_random: int = 2
    distill: bool = True
    bn_stats: str = "largest"
    calibration_images: int = 1024
    val_archs: tuple[str, ...] = ("largest", "smallest")

    def __post_init__(self) -> None:
        _choice(self.bn_stats, ("largest", "all"), "supernet.bn_stats")
        for name in self.val_archs:
            _choice(name, ("largest", "smallest"), "supernet.val_archs[...]")
        if self.num_random < 0 or self.calibration_images < 1:
            raise ValueError("supernet.num_random must be >= 0 and supernet.calibration_images >= 1")


@dataclass(frozen=True)
class TemporalConfig:
    """Multi-frame propagation training of a T-ViPNet supernet (ViPNAS §3.4.2); a temporal run when ``key`` is set.

    The supernet covers the archs at most the key arch in ``model.name``'s search space (``model.name`` names the
    spatial supernet, e.g. ``mobilenetv3_tiny_supernet``), starts from the key network's weights, and is trained on
    clips of T+1 frames of ``data.train_annotations`` (a PoseTrack18 folder of per-video files). The key network's
    metadata is the run's: ``model.input_size``, ``data.codec``, ``data.sigma`` and ``data.dataset``'s joints must
    equal it (a contradiction is a named error). See docs/training.md, "Temporal training".

    Attributes:
        key: path of the trained S-ViPNet checkpoint (a network checkpoint: a static run's ``last.pth`` or
            ``vipnas extract`` output); frozen, it predicts the key frame's heatmaps. ``""``: not a temporal run.
        length: T, the non-key frames a clip propagates to (the paper trains T=3).
        clip_step: frame spacing inside a clip (1 = consecutive annotated frames).
        clip_stride: spacing of clip starts along a track (1 = every window).
        jitter_shift: per-frame box-centre jitter σ as a fraction of the crop size (training clips only).
        jitter_scale: per-frame box-scale jitter σ, in [0, 0.25) (training clips only).
    """

    key: str = ""
    length: int = 3
    clip_step: int = 1
    clip_stride: int = 1
    jitter_shift: float = 0.03
    jitter_scale: float = 0.03

    def __post_init__(self) -> None:
        if self.length < 1:
            raise ValueError(f"temporal.length must be >= 1 (T non-key frames per clip; paper: 3), got {self.length}")
        if self.clip_step < 1 or self.clip_stride < 1:
            raise ValueError(
                f"temporal.clip_step and temporal.clip_stride must be >= 1, got {self.clip_step}, {self.clip_stride}"
            )
        if not self.jitter_shift >= 0:
            raise ValueError(f"temporal.jitter_shift must be >= 0, got {self.jitter_shift}")
        if not 0 <= self.jitter_scale < CLIP_JITTER_SCALE_LIMIT:
            raise ValueError(
                f"temporal.jitter_scale must be in [0, {CLIP_JITTER_SCALE_LIMIT:g}), got {self.jitter_scale}"
            )


@dataclass(frozen=True)
class RuntimeConfig:
    """Seeds, device, precision, logging, checkpoints and validation.

    Attributes:
        seed: seed of weights, shuffling, augmentation and sub-network sampling (same on every rank).
        deterministic: deterministic kernels (``torch.use_deterministic_algorithms``); bitwise-reproducible runs.
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        precision: ``fp32``, ``bf16`` (autocast, CPU or GPU) or ``fp16`` (autocast + gradient scaling, GPU).
        threads: torch intra-op threads per process; 0 = measured: torch's default or 1, whichever runs steps
            faster now, re-measured as the machine's load changes (:class:`vipnas.engine.threads.ThreadTuner`;
            torch's default when ``deterministic``).
        log_interval: iterations between log lines and metric rows.
        checkpoint_interval: checkpoint every N epochs (``checkpoint_by_epoch``) or N iterations; 0 = only at the end.
        checkpoint_by_epoch: unit of ``checkpoint_interval``.
        validate: evaluate during training (``--validate``).
        val_interval: validate every N epochs (``val_by_epoch``) or N iterations.
        val_by_epoch: unit of ``val_interval``.
        val_flip: flip test in the AP evaluation.
        best_metric: picks ``best.pth``: ``auto`` (the protocol's accuracy metric when the evaluator runs — COCO AP,
            PoseTrack18 mAP ``Total`` on a folder of per-video files, MPII ``PCKh`` — else loss), ``AP``, ``Total``,
            ``PCKh`` or ``loss``.
        progress: show a tqdm progress bar (rank 0).
        trace: write ``trace/rank<R>.jsonl`` per process: the archs of every step and a final weight digest.
    """

    seed: int = 0
    deterministic: bool = False
    device: str = "auto"
    precision: str = "fp32"
    threads: int = 0
    log_interval: int = 50
    checkpoint_interval: int = 10
    checkpoint_by_epoch: bool = True
    validate: bool = False
    val_interval: int = 10
    val_by_epoch: bool = True
    val_flip: bool = True
    best_metric: str = "auto"
    progress: bool = True
    trace: bool = False

    def __post_init__(self) -> None:
        _choice(self.device, ("auto", "cpu", "cuda"), "runtime.device")
        _choice(self.precision, ("fp32", "bf16", "fp16"), "runtime.precision")
        _choice(self.best_metric, ("auto", "AP", "Total", "PCKh", "loss"), "runtime.best_metric")
        if self.log_interval < 1 or self.val_interval < 1 or self.checkpoint_interval < 0:
            raise ValueError("runtime.log_interval and runtime.val_interval must be >= 1, checkpoint_interval >= 0")


@dataclass(frozen=True)
class Config:
    """A complete training configuration (the resolved form is written to the work dir and every checkpoint)."""

    name: str = "default"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    supernet: SupernetConfig = field(default_factory=SupernetConfig)
    temporal: TemporalConfig = field(default_factory=TemporalConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)


# ---------------------------------------------------------------------------------------------- dict round trip
def config_to_dict(config: Any) -> dict[str, Any]:
    """A nested dict of plain values (tuples become lists), as written to YAML and checkpoints."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (tuple, list)):
            return [plain(item) for item in value]
        return value

    return plain(config)


def _all_keys(cls: type, prefix: str = "") -> list[str]:
    keys = []
    for name, kind in typing.get_type_hints(cls).items():
        keys.append(prefix + name)
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            keys += _all_keys(kind, f"{prefix}{name}.")
    return keys


def _unknown(key: str, cls: type, where: str, section: bool = False) -> ValueError:
    sections = [k for k in _all_keys(Config) if dataclasses.is_dataclass(_field_type(k))]
    leaves = sections if section else [k for k in _all_keys(Config) if k not in sections]
    close = difflib.get_close_matches(key, leaves, n=2, cutoff=0.6)
    if not close:  # the right leaf under the wrong section (or none): compare leaf names alone
        names = {k.rsplit(".", 1)[-1]: k for k in leaves}
        close = [names[n] for n in difflib.get_close_matches(key.rsplit(".", 1)[-1], list(names), n=2, cutoff=0.7)]
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    fields = ", ".join(f.name for f in dataclasses.fields(cls))
    return ValueError(f"{where}: unknown config key {key!r}.{hint} ({cls.__name__} has: {fields})")


def _coerce(value: Any, kind: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``kind`` and convert lists to tuples, ints to floats."""
    origin = typing.get_origin(kind)
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):  # 1e400 reads as inf, and inf > 0 passes every range check
                raise ValueError(f"config key {key!r} expects a finite number, got {value!r}")
            return float(value)
    elif kind is str:
        if isinstance(value, str):
            return value
    elif origin is tuple:
        args = typing.get_args(kind)
        if isinstance(value, (list, tuple)):
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(_coerce(item, args[0], f"{key}[{i}]") for i, item in enumerate(value))
            if len(value) == len(args):
                return tuple(
                    _coerce(item, arg, f"{key}[{i}]") for i, (item, arg) in enumerate(zip(value, args, strict=True))
                )
    elif origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(kind):
            try:
                return _coerce(value, arg, key)
            except TypeError:
                continue
    else:
        raise AssertionError(f"config field {key} has an unsupported type {kind}")
    expected = getattr(kind, "__name__", None) if origin is None else str(kind).replace("typing.", "")
    raise TypeError(f"config key {key!r} expects {expected}, got {value!r} ({type(value).__name__})")


def _build(cls: type, values: dict[str, Any], prefix: str, where: str) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in values.items():
        if key not in hints:
            raise _unknown(prefix + key, cls, where, section=isinstance(value, dict))
        kind = hints[key]
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            if not isinstance(value, dict):
                raise TypeError(f"{where}: config key {prefix + key!r} is a section; give a mapping, got {value!r}")
            kwargs[key] = _build(kind, value, f"{prefix}{key}.", where)
        else:
            kwargs[key] = _coerce(value, kind, prefix + key)
    return cls(**kwargs)


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def config_from_dict(data: dict[str, Any], *, where: str = "config") -> Config:
    """Build a :class:`Config` from a (possibly partial) nested dict over the defaults, type-checked.

    Raises:
        ValueError: unknown key (with suggestions) or a value outside a field's allowed set.
        TypeError: a value of the wrong type.
    """
    if not isinstance(data, dict):
        raise TypeError(f"{where}: a config is a mapping of sections, got {type(data).__name__}")
    return _build(Config, _merge(config_to_dict(Config()), data), "", where)


# ----------------------------------------------------------------------------------------------------- presets
def list_presets() -> list[str]:
    """Names of the presets shipped in ``vipnas/configs``."""
    return sorted(path.stem for path in PRESET_DIR.glob("*.yaml"))


def preset_path(name_or_path: str | Path) -> Path:
    """The YAML file of a preset name or a path.

    Raises:
        FileNotFoundError: neither a preset nor an existing file (names the closest presets).
    """
    path = Path(name_or_path)
    if path.is_file():
        if path.suffix not in (".yaml", ".yml"):
            raise ValueError(f"config file {path} must be YAML (.yaml or .yml)")
        return path
    candidate = PRESET_DIR / f"{path.stem if path.suffix in ('.yaml', '.yml') else path.name}.yaml"
    if len(path.parts) == 1 and candidate.is_file():
        return candidate
    close = difflib.get_close_matches(str(name_or_path), list_presets(), n=3)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise FileNotFoundError(
        f"no config {str(name_or_path)!r}: not a YAML file nor a preset.{hint} Presets: {', '.join(list_presets())}"
    )


def _parse_override(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise ValueError(f"--set expects key=value (e.g. optimizer.lr=1e-3), got {text!r}")
    key, raw = text.split("=", 1)
    key, raw = key.strip(), raw.strip()
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw  # a bare word (adam, cpu, data/coco) is a string
    return key, value


def _field_type(key: str) -> Any:
    """The annotation of a dotted key, or ``None`` when there is no such field."""
    cls: Any = Config
    for part in key.split("."):
        hints = typing.get_type_hints(cls) if dataclasses.is_dataclass(cls) else {}
        if part not in hints:
            return None
        cls = hints[part]
    return cls


def _nest(key: str, value: Any) -> dict[str, Any]:
    result: Any = value
    for part in reversed(key.split(".")):
        result = {part: result}
    return result


def load_config(name_or_path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Resolve defaults ← preset/YAML file ← ``key=value`` overrides into a checked :class:`Config`.

    Args:
        name_or_path: a preset name (``vipnas/configs/NAME.yaml``), a YAML path, or ``None`` for the defaults.
        overrides: ``section.key=value`` strings; values are Python literals (``ast.literal_eval``), bare words
            are strings.

    Raises:
        FileNotFoundError: unknown preset or file.
        ValueError, TypeError: unknown keys (with suggestions), wrong types, values outside the allowed sets.
    """
    import yaml

    data: dict[str, Any] = {}
    where = "defaults"
    if name_or_path is not None:
        path = preset_path(name_or_path)
        where = str(path)
        try:
            with open(path, encoding="utf-8") as stream:
                data = yaml.safe_load(stream) or {}
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            at = f" line {mark.line + 1}, column {mark.column + 1}:" if mark is not None else ""
            problem = getattr(error, "problem", None) or str(error).splitlines()[0]
            raise ValueError(f"{path}:{at} not valid YAML ({problem})") from None
        except UnicodeDecodeError as error:
            raise ValueError(f"{path}: not UTF-8 text (byte {error.start}); a config file is YAML") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a config file is a mapping of sections, got {type(data).__name__}")
        data.setdefault("name", path.stem)
    config = config_from_dict(data, where=where)  # check the file alone first: its errors name the file
    return apply_overrides(config, overrides, data)


def apply_overrides(
    config: Config, overrides: list[str] | tuple[str, ...], base: dict[str, Any] | None = None
) -> Config:
    """``config`` with ``section.key=value`` overrides applied, each checked (see :func:`load_config`)."""
    data = base if base is not None else config_to_dict(config)
    for text in overrides:
        key, value = _parse_override(text)
        if not isinstance(value, str) and _field_type(key) is str:
            value = text.split("=", 1)[1].strip()  # --set data.root=2024 is the folder "2024"
        data = _merge(data, _nest(key, value))
        config = config_from_dict(data, where=f"--set {text}")
    return config


def dump_config(config: Config) -> str:
    """The config as YAML text (sections in declaration order)."""
    import yaml

    return yaml.safe_dump(config_to_dict(config), sort_keys=False)


def diff_configs(first: dict[str, Any], second: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config dicts (for resume warnings)."""
    keys = []
    for key in sorted(set(first) | set(second)):
        a, b = first.get(key), second.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += diff_configs(a, b, f"{prefix}{key}.")
        elif a != b:
            keys.append(f"{prefix}{key}")
    return keys
