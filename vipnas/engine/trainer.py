"""The training loop, for static networks and supernets alike: one loop, and one step written out in
:meth:`Trainer.run_step` (data → forward → loss → backward → all-reduce → optimizer step → log).

A static network runs once per step. A supernet runs the sandwich (``vipnas.engine.sandwich``): largest, smallest
and N random sub-networks on the same batch, the largest supervised by the ground truth and every other one by the
ground truth plus the largest's detached heatmaps (equal weights); the four losses are **summed** (their gradients
accumulate through four backward passes) and one optimizer step follows.

BatchNorm while training a supernet (``supernet.bn_stats``, default ``largest``): every sub-network normalises
with its own batch statistics, but only the largest sub-network updates the running statistics. Mixing the
statistics of differently sized sub-networks in one buffer fits none of them, so the stored statistics are the
largest's (usable as they are, e.g. for the teacher) and any other sub-network is recalibrated on cached training
batches before it is evaluated (:func:`vipnas.engine.batchnorm.recalibrate_bn`) — which validation does anyway.

Distributed (``torchrun``): no DistributedDataParallel; each rank accumulates the gradients of its four backward
passes locally and one flat all-reduce averages them before the step (:func:`all_reduce_gradients`); BN buffers
are averaged after the step. Every rank draws the same archs from ``(seed, iteration)``, so all ranks apply the
same update and hold the same model.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from vipnas.config import Config, config_to_dict, diff_configs, dump_config
from vipnas.data.files import write_bytes_atomic
from vipnas.engine.batchnorm import frozen_bn_stats
from vipnas.engine.build import (
    TrainSampler,
    build_model,
    build_optimizer,
    build_train_dataset,
    make_loader,
    prepare_data,
)
from vipnas.engine.checkpoint import (
    capture_rng_state,
    check_same_model,
    load_weights,
    read_training_checkpoint,
    restore_rng_state,
)
from vipnas.engine.distributed import (
    DistributedInfo,
    all_gather_object,
    all_reduce_gradients,
    all_reduce_mean,
    average_buffers,
    barrier,
    broadcast_module,
    destroy_distributed,
    init_distributed,
)
from vipnas.engine.log import MetricsLog, format_duration, setup_logging
from vipnas.engine.losses import distillation_loss, keypoint_mse_loss
from vipnas.engine.sandwich import arch_digest, sandwich_archs
from vipnas.engine.schedule import LRSchedule
from vipnas.engine.threads import ThreadTuner
from vipnas.engine.validation import PRIMARY_METRICS
from vipnas.models.checkpoint import atomic_save, checkpoint_payload
from vipnas.models.supernet import PoseSupernet

__all__ = ["NonFiniteLossError", "RunExistsError", "TrainResult", "Trainer", "state_digest", "train"]


class RunExistsError(ValueError):
    """The work dir already holds a run and neither ``resume_from`` nor another work dir was given."""


class NonFiniteLossError(ValueError):
    """A loss became NaN or infinite: training stopped before the optimizer step, the last checkpoint is kept."""


@dataclass
class TrainResult:
    """What a finished run left behind.

    Attributes:
        work_dir: the run folder (``config.yaml``, ``train.log``, ``metrics.jsonl``, ``checkpoints/``).
        last_checkpoint: ``checkpoints/last.pth`` (the final state).
        best_checkpoint: ``checkpoints/best.pth`` when validation ran, else ``None``.
        iteration: iterations done.
        epoch: completed epochs.
        metrics: the last validation's metrics (empty without ``--validate``).
        train_time: seconds spent in training steps and data loading (no validation or checkpointing).
    """

    work_dir: Path
    last_checkpoint: Path
    best_checkpoint: Path | None
    iteration: int
    epoch: int
    metrics: dict[str, float] = field(default_factory=dict)
    train_time: float = 0.0


def train(
    config: Config,
    *,
    work_dir: str | Path | None = None,
    resume_from: str | Path | None = None,
    load_from: str | Path | None = None,
    autoscale_lr: bool = False,
) -> TrainResult:
    """Train ``config`` in this process, or as one rank of a ``torchrun`` job (detected from the environment).

    Args:
        config: the resolved configuration.
        work_dir: run folder (default ``work_dirs/<config.name>``).
        resume_from: a checkpoint of ``vipnas train`` to continue (weights, optimizer, schedule, epoch, iteration,
            RNG states), or ``"auto"`` for ``<work_dir>/checkpoints/last.pth`` when it exists.
        load_from: a vipnas checkpoint whose weights (only) initialise the model.
        autoscale_lr: scale the rate by ``batch_size × world_size / optimizer.base_batch_size``.

    Returns:
        Paths and final state of the run.
    """
    from vipnas.engine.distributed import get_world_size

    joined = get_world_size() == 1  # a caller that already holds a process group keeps it
    info = init_distributed(config.runtime.device)
    try:
        return Trainer(
            config, info, work_dir=work_dir, resume_from=resume_from, load_from=load_from, autoscale_lr=autoscale_lr
        ).fit()
    finally:
        if joined:
            destroy_distributed()


class Trainer:
    """Owns the model, data, optimizer and loop state of one run; see the module docstring for the method."""

    def __init__(
        self,
        config: Config,
        info: DistributedInfo,
        *,
        work_dir: str | Path | None = None,
        resume_from: str | Path | None = None,
        load_from: str | Path | None = None,
        autoscale_lr: bool = False,
    ) -> None:
        self.config, self.info, self.device = config, info, info.device
        runtime = config.runtime
        self.work_dir = Path(work_dir or Path("work_dirs") / config.name)
        self.checkpoint_dir = self.work_dir / "checkpoints"
        if resume_from is None:
            _refuse_existing_run(self.work_dir)
        self.logger = setup_logging(self.work_dir / "train.log", is_main=info.is_main)
        if runtime.precision == "fp16" and self.device.type != "cuda":
            raise ValueError("runtime.precision 'fp16' needs a CUDA device; use 'bf16' on CPU")
        self._seed_everything(runtime.seed, runtime.deterministic)
        if runtime.threads:
            torch.set_num_threads(runtime.threads)
        # threads 0: measured per step (one busy core would otherwise stall every step), unless bitwise reproducibility
        # is asked for; a GPU run's step time does not depend on the CPU thread count
        self.threads = (
            ThreadTuner() if not runtime.threads and not runtime.deterministic and self.device.type == "cpu" else None
        )

        paths = prepare_data(config, is_main=info.is_main)
        barrier()  # other ranks read what rank 0 may have just generated
        self.paths = paths
        self.model: Any = build_model(config, load_from)  # a PoseNetwork or a PoseSupernet
        if load_from is not None:
            self.logger.info(load_weights(self.model, load_from))
        self.model.to(self.device).train()
        broadcast_module(self.model)  # identical start on every rank, whatever the local RNG did
        self.supernet = isinstance(self.model, PoseSupernet)
        self.parameters = list(self.model.parameters())

        self.dataset = build_train_dataset(config, self.model.metadata, paths)
        batch_size = config.data.batch_size
        self.sampler = TrainSampler(self.dataset, num_replicas=info.world_size, rank=info.rank, seed=runtime.seed)
        self.loader = make_loader(self.dataset, self.sampler, batch_size, config, drop_last=True)
        self.iters_per_epoch = len(self.sampler) // batch_size
        if self.iters_per_epoch == 0:
            raise ValueError(
                f"the training split has {len(self.dataset)} crops, fewer than one batch per process "
                f"(data.batch_size {batch_size} × {info.world_size} processes)"
            )
        schedule = config.schedule
        self.total_iters = self.iters_per_epoch * schedule.epochs
        if schedule.max_iters:
            self.total_iters = min(self.total_iters, schedule.max_iters)

        total_batch = batch_size * info.world_size
        lr = config.optimizer.lr * (total_batch / config.optimizer.base_batch_size if autoscale_lr else 1.0)
        self.optimizer = build_optimizer(config, self.model, lr)
        self.schedule = LRSchedule(
            self.optimizer,
            iters_per_epoch=self.iters_per_epoch,
            epochs=schedule.epochs,
            max_iters=schedule.max_iters,
            policy=schedule.policy,
            milestones=schedule.milestones,
            gamma=schedule.gamma,
            min_lr_ratio=schedule.min_lr_ratio,
            warmup_iters=schedule.warmup_iters,
            warmup_ratio=schedule.warmup_ratio,
        )
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=runtime.precision == "fp16")
        self.validator = None
        if runtime.validate:
            from vipnas.engine.validation import Validator

            self.validator = Validator(config, self.model.metadata, paths, self.device)

        self.epoch = self.iteration = self.iter_in_epoch = 0
        self.saved_iteration: int | None = None  # of the last checkpoint this run wrote or resumed from
        self.best: dict[str, Any] | None = None
        self._improved = False  # set by validate(), consumed by the next save_checkpoint()
        self.current_archs: list[tuple[str, Any]] = []
        self.last_metrics: dict[str, float] = {}
        self.train_time = 0.0
        self.metrics_log = MetricsLog(self.work_dir / "metrics.jsonl", enabled=info.is_main)
        if resume_from is not None and str(resume_from) == "auto":
            resume_from = self.checkpoint_dir / "last.pth"
            if not resume_from.is_file():
                self.logger.info("--resume-from auto: no %s yet, starting from scratch", resume_from)
                resume_from = None
        if resume_from is not None:
            self.resume(resume_from)
        self.trace = None
        if runtime.trace:
            trace_file = self.work_dir / "trace" / f"rank{info.rank}.jsonl"
            trace_file.parent.mkdir(parents=True, exist_ok=True)
            self.trace = open(trace_file, "a" if resume_from else "w", encoding="utf-8")  # noqa: SIM115
        if info.is_main:
            write_bytes_atomic(self.work_dir / "config.yaml", dump_config(config).encode("utf-8"))
        self._log_start(lr, resume_from, load_from)

    # ------------------------------------------------------------------------------------------------- the step
    def run_step(self, batch: Any) -> dict[str, float]:
        """One optimisation step on one batch; returns each sub-network's loss."""
        images = batch.image.to(self.device, non_blocking=True)  # (N, 3, H, W)
        target = batch.heatmaps.to(self.device, non_blocking=True)  # (N, K, H/4, W/4)
        weight = batch.target_weight.to(self.device, non_blocking=True)  # (N, K)
        settings = self.config.supernet
        # None, not zeros: parameters a sub-network skips (elastic depth) must stay untouched by the optimizer
        self.optimizer.zero_grad(set_to_none=True)
        losses: dict[str, float] = {}
        teacher = None
        self.current_archs = self.step_archs()
        for name, arch in self.current_archs:
            if arch is not None:
                self.model.set_arch(arch)
            freeze = self.supernet and settings.bn_stats == "largest" and name != "largest"
            with frozen_bn_stats(self.model, freeze), self._autocast():
                heatmaps = self.model(images)  # (N, K, H/4, W/4)
                loss = keypoint_mse_loss(heatmaps, target, weight)
                if teacher is not None:
                    loss = loss + distillation_loss(heatmaps, teacher)  # soft labels, equal weight (§3.4.1)
            self.scaler.scale(loss).backward()  # gradients accumulate: the step minimises the SUM of the losses
            if name == "largest" and settings.distill:
                teacher = heatmaps.detach()
            losses[name] = loss.item()
        if self.supernet:
            self.model.set_arch(self.model.space.largest())
        self._check_finite(losses)  # before the step: the weights stay those of the last good iteration
        all_reduce_gradients(self.parameters)  # one flat all-reduce per step (no-op in a single process)
        if self.config.optimizer.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.parameters, self.config.optimizer.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.schedule.step()
        average_buffers(self.model)  # BN running statistics agree on every rank
        return losses

    def _check_finite(self, losses: dict[str, float]) -> None:
        """Raise :class:`NonFiniteLossError` when any rank's loss is NaN or infinite (every rank decides alike)."""
        bad = [name for name, value in losses.items() if not math.isfinite(value)]
        if self.info.world_size > 1:
            flag = torch.tensor([float(bool(bad))], dtype=torch.float64, device=self.device)
            all_reduce_mean(flag)
            if flag.item() == 0:
                return
        elif not bad:
            return
        last = self.checkpoint_dir / "last.pth"
        kept = (
            f"the last good checkpoint {last} (iteration {self.saved_iteration}) is kept"
            if self.saved_iteration is not None
            else "no checkpoint was saved in this run"
        )
        found = ", ".join(f"{name} {losses[name]}" for name in bad) if bad else "on another rank"
        raise NonFiniteLossError(
            f"iteration {self.iteration + 1}: the training loss is not finite ({found}) at learning rate "
            f"{self.schedule.get_last_lr()[0]:.3g}; stopped before the optimizer step and {kept}. Lower optimizer.lr, "
            "set optimizer.grad_clip, or check the data"
        )

    def _follow_load(self, seconds: float) -> None:
        assert self.threads is not None
        changes = len(self.threads.history)
        self.threads.after_step(seconds)
        if len(self.threads.history) > changes:
            self.logger.info(
                "iter %d: %d torch thread(s) now run steps fastest (the machine's load changed)",
                self.iteration + 1,
                self.threads.current,
            )

    def step_archs(self) -> list[tuple[str, Any]]:
        """``[("network", None)]`` for a static network, the sandwich of this iteration for a supernet."""
        if not self.supernet:
            return [("network", None)]
        settings = self.config.supernet
        return sandwich_archs(
            self.model.space, seed=self.config.runtime.seed, step=self.iteration, num_random=settings.num_random
        )

    # ------------------------------------------------------------------------------------------------- the loop
    def fit(self) -> TrainResult:
        """Train until ``total_iters``; validate, log and checkpoint on the configured intervals."""
        runtime = self.config.runtime
        bar = tqdm(
            total=self.total_iters,
            initial=self.iteration,
            desc=self.config.name,
            unit="it",
            disable=not (self.info.is_main and runtime.progress),
            dynamic_ncols=True,
        )
        window: dict[str, list[float]] = {}
        start_wall = time.perf_counter()
        validated_at = -1
        while self.iteration < self.total_iters:
            self.sampler.set_epoch(self.epoch)
            self.dataset.set_epoch(self.epoch)
            self.sampler.set_start(self.iter_in_epoch * self.config.data.batch_size)
            tick = time.perf_counter()
            for batch in self.loader:
                data_time = time.perf_counter() - tick
                if self.threads is not None:
                    self.threads.before_step()
                losses = self.run_step(batch)
                iter_time = time.perf_counter() - tick
                if self.threads is not None:
                    self._follow_load(iter_time)
                self.train_time += iter_time
                archs = {name: arch_digest(arch) for name, arch in self.current_archs if arch is not None}
                self.iteration += 1
                self.iter_in_epoch += 1
                epoch_end = self.iter_in_epoch == self.iters_per_epoch
                if epoch_end:
                    self.epoch, self.iter_in_epoch = self.epoch + 1, 0
                self._trace({"iteration": self.iteration, "archs": archs, "losses": losses})
                for key, value in {
                    **losses,
                    "loss": sum(losses.values()),
                    "data_time": data_time,
                    "iter_time": iter_time,
                }.items():
                    window.setdefault(key, []).append(value)
                bar.update(1)
                bar.set_postfix(loss=f"{sum(losses.values()):.3e}", lr=f"{self.schedule.get_last_lr()[0]:.2e}")
                done = self.iteration >= self.total_iters
                if self.iteration % runtime.log_interval == 0 or done:
                    self._log_train(window, bar)
                    window = {}
                if runtime.validate and (done or self._due(runtime.val_interval, runtime.val_by_epoch, epoch_end)):
                    self.validate()
                    validated_at = self.iteration
                if done or (
                    runtime.checkpoint_interval
                    and self._due(runtime.checkpoint_interval, runtime.checkpoint_by_epoch, epoch_end)
                ):
                    self.save_checkpoint()
                if done or epoch_end:
                    break
                tick = time.perf_counter()
            else:  # the loader ran dry before the epoch's last iteration (cannot happen with drop_last batches)
                self.logger.warning("epoch %d ended after %d iterations", self.epoch, self.iter_in_epoch)
                self.epoch, self.iter_in_epoch = self.epoch + 1, 0
        bar.close()
        if runtime.validate and validated_at != self.iteration and self.iteration > 0:  # resumed at the very end
            self.validate()
        return self._finish(time.perf_counter() - start_wall)

    def _due(self, interval: int, by_epoch: bool, epoch_end: bool) -> bool:
        if by_epoch:
            return epoch_end and self.epoch % interval == 0
        return self.iteration % interval == 0

    # ------------------------------------------------------------------------------------- validation, checkpoints
    def validate(self) -> dict[str, float]:
        """Evaluate now (every rank takes part), log, and update the best metric."""
        assert self.validator is not None
        started = time.perf_counter()
        metrics = self.validator.validate(self.model)
        self.last_metrics = metrics
        name, value = self._score(metrics)
        improved = self.best is None or (value < self.best["value"] if name == "loss" else value > self.best["value"])
        if improved:
            self.best = {"metric": name, "value": value, "iteration": self.iteration, "epoch": self.epoch}
        shown = "  ".join(f"{key} {val:.4f}" for key, val in metrics.items() if _shown(key))
        self.logger.info(
            "val   epoch %d iter %d: %s (%.1fs)%s",
            self.epoch,
            self.iteration,
            shown,
            time.perf_counter() - started,
            "  [best]" if improved else "",
        )
        self.metrics_log.write(
            {
                "type": "val",
                "iteration": self.iteration,
                "epoch": self.epoch,
                "train_time": self.train_time,
                **metrics,
                "score": value,
            }
        )
        self._improved = improved
        return metrics

    def _score(self, metrics: dict[str, float]) -> tuple[str, float]:
        """The best-checkpoint criterion (mean over validated sub-networks): with ``auto`` the protocol's accuracy
        metric (COCO AP, PoseTrack18 mAP ``Total``, MPII ``PCKh``) when the evaluator ran, else validation loss."""
        wanted = self.config.runtime.best_metric
        found = {key.split("/")[-1] for key in metrics}
        name = next((m for m in PRIMARY_METRICS if m in found), "loss") if wanted == "auto" else wanted
        values = [v for key, v in metrics.items() if key.split("/")[-1] == name]
        if not values:
            raise ValueError(f"runtime.best_metric {name!r} is not among the validation metrics {sorted(metrics)}")
        return name, float(np.mean(values))

    def save_checkpoint(self) -> None:
        """Write ``last.pth`` (and ``best.pth`` after an improving validation); every rank takes part (RNG states)."""
        broken = [
            name
            for name, tensor in self.model.state_dict().items()
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
        ]
        if broken:  # never replace a good checkpoint with NaN weights (every rank holds the same weights)
            raise NonFiniteLossError(
                f"iteration {self.iteration}: {len(broken)} weight tensors are not finite (e.g. {broken[0]}); "
                f"not saving, {self.checkpoint_dir / 'last.pth'} keeps iteration {self.saved_iteration}"
            )
        rng = all_gather_object(capture_rng_state())
        improved, self._improved = self._improved, False
        self.saved_iteration = self.iteration  # rank 0 writes it for every rank
        if not self.info.is_main:
            return
        training = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.schedule.state_dict(),
            "grad_scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "iter_in_epoch": self.iter_in_epoch,
            "iteration": self.iteration,
            "iters_per_epoch": self.iters_per_epoch,
            "world_size": self.info.world_size,
            "rng": rng,
            "best": self.best,
            "train_time": self.train_time,
        }
        payload = {**checkpoint_payload(self.model), "training": training, "config": config_to_dict(self.config)}
        atomic_save(payload, self.checkpoint_dir / "last.pth")
        if improved:
            atomic_save(payload, self.checkpoint_dir / "best.pth")
        self.logger.info(
            "saved checkpoint %s (iteration %d)%s",
            self.checkpoint_dir / "last.pth",
            self.iteration,
            " and best.pth" if improved else "",
        )

    def resume(self, path: str | Path) -> None:
        """Restore weights, optimizer, schedule, scaler, position and RNG states from a training checkpoint."""
        payload = read_training_checkpoint(path)
        check_same_model(payload, self.model, str(path))
        self.model.load_state_dict(payload["state_dict"], strict=True)
        training = payload["training"]
        self.optimizer.load_state_dict(training["optimizer"])
        self.schedule.load_state_dict(training["scheduler"])
        self.scaler.load_state_dict(training["grad_scaler"])
        self.epoch, self.iter_in_epoch = int(training["epoch"]), int(training["iter_in_epoch"])
        self.iteration, self.best = int(training["iteration"]), training.get("best")
        self.saved_iteration = self.iteration
        self.train_time = float(training.get("train_time", 0.0))
        states = training["rng"]
        restore_rng_state(states[self.info.rank] if len(states) == self.info.world_size else states[0])
        if training.get("iters_per_epoch") != self.iters_per_epoch:
            self.logger.warning(
                "resuming with %d iterations per epoch where the checkpoint had %s (batch size, "
                "process count or data changed)",
                self.iters_per_epoch,
                training.get("iters_per_epoch"),
            )
            self.iter_in_epoch = min(self.iter_in_epoch, self.iters_per_epoch - 1)
        changed = diff_configs(payload.get("config", {}), config_to_dict(self.config))
        if changed:
            self.logger.warning("the config differs from the checkpoint's in: %s", ", ".join(changed))
        self.metrics_log.truncate_after(self.iteration)
        self.logger.info("resumed from %s at epoch %d, iteration %d", path, self.epoch, self.iteration)

    # ---------------------------------------------------------------------------------------------------- helpers
    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        precision = self.config.runtime.precision
        if precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    @staticmethod
    def _seed_everything(seed: int, deterministic: bool) -> None:
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        if deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
            torch.backends.cudnn.deterministic = True

    def _trace(self, row: dict[str, Any]) -> None:
        if self.trace is not None:
            self.trace.write(json.dumps(row) + "\n")
            self.trace.flush()

    def _log_start(self, lr: float, resume_from: Any, load_from: Any) -> None:
        params = sum(p.numel() for p in self.parameters)
        kind = f"supernet of {self.model.space.name}" if self.supernet else f"network {self.model.metadata.name}"
        self.logger.info(
            "vipnas train %s: %s (%.2fM parameters), input %s, %d process(es) on %s, %d crops/process/step, "
            "%d iterations/epoch, %d iterations, base lr %.3g, work dir %s",
            self.config.name,
            kind,
            params / 1e6,
            "x".join(map(str, self.model.metadata.input_size)),
            self.info.world_size,
            self.device,
            self.config.data.batch_size,
            self.iters_per_epoch,
            self.total_iters,
            lr,
            self.work_dir,
        )

    def _log_train(self, window: dict[str, list[float]], bar: tqdm) -> None:
        names = sorted(window)
        means = torch.tensor([float(np.mean(window[n])) for n in names], dtype=torch.float64, device=self.device)
        all_reduce_mean(means)  # every rank's losses, not only rank 0's
        values = dict(zip(names, means.tolist(), strict=True))
        per_step = values["iter_time"]
        eta = format_duration(per_step * (self.total_iters - self.iteration))
        lr = self.schedule.get_last_lr()[0]
        parts = "  ".join(f"{n} {values[n]:.4e}" for n in names if n not in ("loss", "data_time", "iter_time"))
        self.logger.info(
            "train epoch %d iter %d/%d lr %.3e loss %.4e (%s) data %.3fs iter %.3fs eta %s",
            self.epoch,
            self.iteration,
            self.total_iters,
            lr,
            values["loss"],
            parts,
            values["data_time"],
            per_step,
            eta,
        )
        self.metrics_log.write(
            {
                "type": "train",
                "iteration": self.iteration,
                "epoch": self.epoch,
                "lr": lr,
                "train_time": self.train_time,
                **values,
            }
        )

    def _finish(self, wall: float) -> TrainResult:
        digest = state_digest(self.model)
        self._trace({"final_digest": digest, "iteration": self.iteration})
        if self.trace is not None:
            self.trace.close()
        best = self.checkpoint_dir / "best.pth"
        result = TrainResult(
            work_dir=self.work_dir,
            last_checkpoint=self.checkpoint_dir / "last.pth",
            best_checkpoint=best if best.is_file() else None,
            iteration=self.iteration,
            epoch=self.epoch,
            metrics=self.last_metrics,
            train_time=self.train_time,
        )
        if self.info.is_main:
            summary = {
                "iteration": self.iteration,
                "epoch": self.epoch,
                "train_time_s": round(self.train_time, 3),
                "wall_time_s": round(wall, 3),
                "best": self.best,
                "metrics": self.last_metrics,
                "last_checkpoint": str(result.last_checkpoint),
                "state_digest": digest,
                "best_checkpoint": str(result.best_checkpoint) if result.best_checkpoint else None,
            }
            write_bytes_atomic(self.work_dir / "summary.json", json.dumps(summary, indent=2).encode("utf-8"))
            self.logger.info(
                "done: %d iterations in %s (training %s); last checkpoint %s",
                self.iteration,
                format_duration(wall),
                format_duration(self.train_time),
                result.last_checkpoint,
            )
        return result


def _refuse_existing_run(work_dir: Path) -> None:
    """Raise :class:`RunExistsError` when ``work_dir`` holds a run's checkpoint or metrics: a new run would replace
    ``last.pth`` and append to ``metrics.jsonl``."""
    found = [work_dir / "checkpoints" / "last.pth", work_dir / "metrics.jsonl"]
    found = [path for path in found if path.is_file() and path.stat().st_size > 0]
    if found:
        raise RunExistsError(
            f"work dir {work_dir} already holds a run ({', '.join(str(path) for path in found)}); continue it with "
            f"--resume-from auto, train into another --work-dir, or delete {work_dir} to start over"
        )


def _shown(key: str) -> bool:
    return key.split("/")[-1] in ("loss", "AP", "AP50", "AR", "PCKh", "Total")


def state_digest(model: torch.nn.Module) -> str:
    """SHA-256 of every parameter and buffer (names and bytes), to compare models across ranks or runs."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
