"""The training loop, for static networks and supernets alike (as detectron2's ``TrainerBase.train`` /
``SimpleTrainer.run_step``): :meth:`Trainer.fit` takes each batch through one step (:meth:`Trainer.run_step`), then
does the bookkeeping that is due (log, validate, checkpoint).

What a step computes is a strategy (``vipnas.engine.steps``): a static network runs once per step
(:class:`~vipnas.engine.steps.StaticStep`); a supernet runs the sandwich (:class:`~vipnas.engine.steps.SandwichStep`,
``vipnas.engine.sandwich``): largest, smallest and N random sub-networks on the same batch, the largest supervised
by the ground truth and every other one by the ground truth plus the largest's detached heatmaps (equal weights);
the four losses are **summed** (their gradients accumulate through four backward passes) and one optimizer step
follows. What every step shares stays in :meth:`Trainer.run_step`: zeroing the gradients, the non-finite loss
check, the gradient all-reduce, clipping and the optimizer step (:class:`~vipnas.engine.steps.MixedPrecision`).
Checkpoints (``last.pth``, ``best.pth``, resume, RNG states) are :class:`~vipnas.engine.checkpoint.CheckpointManager`'s.

BatchNorm while training a supernet (``supernet.bn_stats``, default ``largest``): every sub-network normalises
with its own batch statistics, but only the largest sub-network updates the running statistics. Mixing the
statistics of differently sized sub-networks in one buffer fits none of them, so the stored statistics are the
largest's (usable as they are, e.g. for the teacher) and any other sub-network is recalibrated on cached training
batches before it is evaluated (:func:`vipnas.engine.batchnorm.recalibrate_bn`) — which validation does anyway.

A temporal run (``temporal.key`` set: a :class:`~vipnas.models.temporal_supernet.TemporalSupernet` started from the
S-ViPNet ``temporal.key``) trains by multi-frame propagation (:class:`~vipnas.engine.propagation.PropagationStep`,
ViPNAS §3.4.2) on clips of T+1 frames: the frozen key network (on the device, outside the optimizer) predicts frame 0,
the temporal sandwich of sub-networks propagates its heatmaps through frames 1..T. Its validation
(:class:`TemporalValidator`) is the propagation loss of one fixed largest temporal path on validation clips.

Distributed (``torchrun``): no DistributedDataParallel; each rank accumulates the gradients of its four backward
passes locally and one flat all-reduce averages them before the step (:func:`all_reduce_gradients`); BN buffers
are averaged after the step. Every rank draws the same archs from ``(seed, iteration)``, so all ranks apply the
same update and hold the same model.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from vipnas.config import Config, dump_config
from vipnas.data.files import write_bytes_atomic
from vipnas.engine.build import (
    DataPaths,
    ShardSampler,
    TrainSampler,
    build_clip_dataset,
    build_model,
    build_optimizer,
    build_train_dataset,
    load_key_network,
    make_loader,
    prepare_data,
)
from vipnas.engine.checkpoint import CheckpointManager, NonFiniteLossError, Position, load_weights
from vipnas.engine.distributed import (
    DistributedInfo,
    all_reduce_gradients,
    all_reduce_mean,
    all_reduce_sum,
    average_buffers,
    barrier,
    broadcast_module,
    destroy_distributed,
    get_rank,
    get_world_size,
    init_distributed,
)
from vipnas.engine.log import MetricsLog, format_duration, setup_logging
from vipnas.engine.losses import keypoint_mse_loss
from vipnas.engine.propagation import PropagationStep, propagate
from vipnas.engine.sandwich import arch_digest
from vipnas.engine.schedule import LRSchedule
from vipnas.engine.steps import MixedPrecision, SandwichStep, StaticStep, TrainStep
from vipnas.engine.threads import ThreadTuner
from vipnas.engine.validation import PRIMARY_METRICS
from vipnas.models.hrnet_supernet import HRNetSupernet
from vipnas.models.supernet import PoseSupernet
from vipnas.models.temporal_supernet import TemporalSupernet

__all__ = [
    "NonFiniteLossError",
    "RunExistsError",
    "TemporalValidator",
    "TrainResult",
    "Trainer",
    "state_digest",
    "train",
]


class RunExistsError(ValueError):
    """The work dir already holds a run and neither ``resume_from`` nor another work dir was given."""


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
        if resume_from is None:
            _refuse_existing_run(self.work_dir)
        self.logger = setup_logging(self.work_dir / "train.log", is_main=info.is_main)
        self.precision = MixedPrecision(runtime.precision, self.device)  # refuses fp16 without CUDA
        _seed_everything(runtime.seed, runtime.deterministic)
        if runtime.threads:
            torch.set_num_threads(runtime.threads)
        # threads 0: measured per step (one busy core would otherwise stall every step), unless bitwise reproducibility
        # is asked for; a GPU run's step time does not depend on the CPU thread count
        self.threads = (
            ThreadTuner() if not runtime.threads and not runtime.deterministic and self.device.type == "cpu" else None
        )

        self.paths = prepare_data(config, is_main=info.is_main)
        barrier()  # other ranks read what rank 0 may have just generated
        self.model: Any = build_model(config, load_from)  # a PoseNetwork, a PoseSupernet or a TemporalSupernet
        if load_from is not None:
            self.logger.info(load_weights(self.model, load_from))
        self.model.to(self.device).train()
        broadcast_module(self.model)  # identical start on every rank, whatever the local RNG did
        self.supernet = isinstance(self.model, PoseSupernet | HRNetSupernet)
        self.temporal = isinstance(self.model, TemporalSupernet)
        self.parameters = list(self.model.parameters())  # a temporal run's key network is not among them
        self.train_step = self._build_step()

        self._build_data()
        lr = self._build_optimizer(autoscale_lr)
        self.validator: Any = None
        if runtime.validate and self.temporal:
            assert isinstance(self.train_step, PropagationStep)
            self.validator = TemporalValidator(config, self.model, self.train_step.key, self.paths, self.device)
        elif runtime.validate:
            from vipnas.engine.validation import Validator

            self.validator = Validator(config, self.model.metadata, self.paths, self.device)

        self.epoch = self.iteration = self.iter_in_epoch = 0
        self.train_time = 0.0
        self.last_metrics: dict[str, float] = {}
        self.metrics_log = MetricsLog(self.work_dir / "metrics.jsonl", enabled=info.is_main)
        self.checkpoints = CheckpointManager(
            self.work_dir / "checkpoints",
            info,
            self.logger,
            model=self.model,
            optimizer=self.optimizer,
            schedule=self.schedule,
            scaler=self.precision.scaler,
            config=config,
            iters_per_epoch=self.iters_per_epoch,
        )
        if resume_from is not None and str(resume_from) == "auto":
            resume_from = self.checkpoints.last
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

    def _build_data(self) -> None:
        """The training dataset, its sampler and loader, and the iteration counts they give."""
        config, info = self.config, self.info
        self.dataset = build_train_dataset(config, self.model.metadata, self.paths)
        batch_size, seed = config.data.batch_size, config.runtime.seed
        self.sampler = TrainSampler(self.dataset, num_replicas=info.world_size, rank=info.rank, seed=seed)
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

    def _build_optimizer(self, autoscale_lr: bool) -> float:
        """The optimizer and its learning-rate schedule; returns the base learning rate."""
        config, schedule = self.config, self.config.schedule
        total_batch = config.data.batch_size * self.info.world_size
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
        return lr

    def _build_step(self) -> TrainStep:
        """The training step of this model: multi-frame propagation for a temporal supernet, the sandwich for a
        supernet, a plain step for a static network."""
        # the trainer picks the ground-truth loss (looked up here, so a test can substitute it)
        if not self.supernet and not self.temporal:
            return StaticStep(self.model, self.precision, self.device, criterion=keypoint_mse_loss)
        settings = self.config.supernet  # the sandwich's settings serve the temporal sandwich too
        sandwich = {
            "seed": self.config.runtime.seed,
            "num_random": settings.num_random,
            "distill": settings.distill,
            "freeze_bn_stats": settings.bn_stats == "largest",
            "criterion": keypoint_mse_loss,
        }
        if self.temporal:
            key = load_key_network(self.config).to(self.device)  # frozen by the step; not in the optimizer
            udp = self.model.metadata.codec == "udp"
            return PropagationStep(self.model, key, self.precision, self.device, udp=udp, **sandwich)
        return SandwichStep(self.model, self.precision, self.device, **sandwich)

    # ------------------------------------------------------------------------------------------------- the loop
    def fit(self) -> TrainResult:
        """Train until ``total_iters``: each batch goes through one step, then the bookkeeping that is due (log,
        validate, checkpoint)."""
        started = time.perf_counter()
        self._begin_fit()
        while self.iteration < self.total_iters:
            for batch, tick in self._epoch_batches():
                data_time = time.perf_counter() - tick
                losses, iter_time = self._timed_step(batch, tick)
                epoch_end = self._advance(iter_time)
                self._after_step(losses, data_time, iter_time, epoch_end)
                if epoch_end or self.iteration >= self.total_iters:
                    break
            else:  # the loader ran dry before the epoch's last iteration (cannot happen with drop_last batches)
                self.logger.warning("epoch %d ended after %d iterations", self.epoch, self.iter_in_epoch)
                self.epoch, self.iter_in_epoch = self.epoch + 1, 0
        return self._end_fit(time.perf_counter() - started)

    def run_step(self, batch: Any) -> dict[str, float]:
        """One optimisation step on one batch; returns each network's loss. The strategy (``self.train_step``) runs
        the forward and backward passes; the update that every strategy shares follows here."""
        # None, not zeros: parameters a sub-network skips (elastic depth) must stay untouched by the optimizer
        self.optimizer.zero_grad(set_to_none=True)
        losses = self.train_step.run(batch, self.iteration)
        self._check_finite(losses)  # before the step: the weights stay those of the last good iteration
        all_reduce_gradients(self.parameters)  # one flat all-reduce per step (no-op in a single process)
        self.precision.step(self.optimizer, self.parameters, self.config.optimizer.grad_clip)
        self.schedule.step()
        average_buffers(self.model)  # BN running statistics agree on every rank
        return losses

    def step_archs(self) -> list[tuple[str, Any]]:
        """``[("network", None)]`` for a static network, the sandwich of this iteration for a supernet."""
        return self.train_step.plan(self.iteration)

    @property
    def current_archs(self) -> list[tuple[str, Any]]:
        """The named networks the last step trained."""
        return self.train_step.archs

    @property
    def best(self) -> dict[str, Any] | None:
        """The best validation so far (``metric``, ``value``, ``iteration``, ``epoch``), or ``None``."""
        return self.checkpoints.best

    def _begin_fit(self) -> None:
        runtime = self.config.runtime
        bar = tqdm(
            total=self.total_iters,
            initial=self.iteration,
            desc=self.config.name,
            unit="it",
            disable=not (self.info.is_main and runtime.progress),
            dynamic_ncols=True,
        )
        self._meter = _Meter(bar)
        self._validated_at = -1

    def _epoch_batches(self) -> Iterator[tuple[Any, float]]:
        """The current epoch's remaining batches (a resumed run starts mid-epoch), each with the time the wait for
        it began (the previous step's bookkeeping is not counted)."""
        self.sampler.set_epoch(self.epoch)
        self.dataset.set_epoch(self.epoch)
        self.sampler.set_start(self.iter_in_epoch * self.config.data.batch_size)
        tick = time.perf_counter()
        for batch in self.loader:
            yield batch, tick
            tick = time.perf_counter()

    def _timed_step(self, batch: Any, tick: float) -> tuple[dict[str, float], float]:
        """:meth:`run_step` under the :class:`ThreadTuner`; returns the losses and the seconds since ``tick``."""
        if self.threads is not None:
            self.threads.before_step()
        losses = self.run_step(batch)
        iter_time = time.perf_counter() - tick
        if self.threads is not None:
            self._follow_load(iter_time)
        return losses, iter_time

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

    def _advance(self, iter_time: float) -> bool:
        """Count the step done; returns whether it completed an epoch."""
        self.train_time += iter_time
        self.iteration += 1
        self.iter_in_epoch += 1
        epoch_end = self.iter_in_epoch == self.iters_per_epoch
        if epoch_end:
            self.epoch, self.iter_in_epoch = self.epoch + 1, 0
        return epoch_end

    def _after_step(self, losses: dict[str, float], data_time: float, iter_time: float, epoch_end: bool) -> None:
        """Trace the step and show it on the progress bar, then log, validate and checkpoint when due."""
        runtime = self.config.runtime
        done = self.iteration >= self.total_iters
        archs = {name: arch_digest(arch) for name, arch in self.current_archs if arch is not None}
        self._trace({"iteration": self.iteration, "archs": archs, "losses": losses})
        self._meter.add(losses, data_time, iter_time, lr=self.schedule.get_last_lr()[0])
        if self.iteration % runtime.log_interval == 0 or done:
            self._log_train(self._meter.take())
        if runtime.validate and (done or self._due(runtime.val_interval, runtime.val_by_epoch, epoch_end)):
            self.validate()
        if done or (
            runtime.checkpoint_interval
            and self._due(runtime.checkpoint_interval, runtime.checkpoint_by_epoch, epoch_end)
        ):
            self.save_checkpoint()

    def _due(self, interval: int, by_epoch: bool, epoch_end: bool) -> bool:
        if by_epoch:
            return epoch_end and self.epoch % interval == 0
        return self.iteration % interval == 0

    def _end_fit(self, wall: float) -> TrainResult:
        self._meter.bar.close()
        if self.config.runtime.validate and self._validated_at != self.iteration and self.iteration > 0:
            self.validate()  # resumed at the very end: the run's final metrics
        return self._finish(wall)

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
        saved = self.checkpoints.saved_iteration
        kept = (
            f"the last good checkpoint {self.checkpoints.last} (iteration {saved}) is kept"
            if saved is not None
            else "no checkpoint was saved in this run"
        )
        found = ", ".join(f"{name} {losses[name]}" for name in bad) if bad else "on another rank"
        raise NonFiniteLossError(
            f"iteration {self.iteration + 1}: the training loss is not finite ({found}) at learning rate "
            f"{self.schedule.get_last_lr()[0]:.3g}; stopped before the optimizer step and {kept}. Lower optimizer.lr, "
            "set optimizer.grad_clip, or check the data"
        )

    # ------------------------------------------------------------------------------------- validation, checkpoints
    def validate(self) -> dict[str, float]:
        """Evaluate now (every rank takes part), log, and update the best metric."""
        assert self.validator is not None
        started = time.perf_counter()
        metrics = self.validator.validate(self.model)
        self.last_metrics = metrics
        name, value = self._score(metrics)
        improved = self.checkpoints.offer(name, value, iteration=self.iteration, epoch=self.epoch)
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
        self._validated_at = self.iteration
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
        position = Position(self.epoch, self.iter_in_epoch, self.iteration, self.train_time)
        self.checkpoints.save(position, self.train_step)

    def resume(self, path: str | Path) -> None:
        """Restore weights, optimizer, schedule, scaler, step state, position and RNG states from a training
        checkpoint."""
        position = self.checkpoints.resume(path, self.train_step)
        self.epoch, self.iter_in_epoch = position.epoch, position.iter_in_epoch
        self.iteration, self.train_time = position.iteration, position.train_time
        self.metrics_log.truncate_after(self.iteration)
        self.logger.info("resumed from %s at epoch %d, iteration %d", path, self.epoch, self.iteration)

    # ---------------------------------------------------------------------------------------------------- helpers
    def _trace(self, row: dict[str, Any]) -> None:
        if self.trace is not None:
            self.trace.write(json.dumps(row) + "\n")
            self.trace.flush()

    def _log_start(self, lr: float, resume_from: Any, load_from: Any) -> None:
        params = sum(p.numel() for p in self.parameters)
        kind = f"supernet of {self.model.space.name}" if self.supernet else f"network {self.model.metadata.name}"
        if self.temporal:
            space = self.model.space
            kind = (
                f"T-ViPNet supernet (T={space.length}) of {space.space.name} below the key network "
                f"{self.config.temporal.key} (frozen)"
            )
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
        if self.temporal and self.validator is not None:
            self.logger.info(
                "temporal validation: propagation loss of one largest temporal path on %d validation clips "
                "(supernet.val_archs does not apply; no AP)",
                self.validator.clips,
            )

    def _log_train(self, window: dict[str, list[float]]) -> None:
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
        last, best = self.checkpoints.last, self.checkpoints.directory / "best.pth"
        result = TrainResult(
            work_dir=self.work_dir,
            last_checkpoint=last,
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


class TemporalValidator:
    """Validation of a temporal run: the propagation loss of one fixed largest temporal path on validation clips.

    Every validation clip (T+1 frames, each frame's plain padded box) starts with the frozen key network's heatmaps
    on frame 0; frames 1..T run the key arch (the largest spatial arch) with fusion choices drawn once from the
    run's seed (``TemporalSpace.extreme("largest", Random("vipnas-temporal-val:<seed>"))``, the same path at every
    validation), fed with the previous frame's heatmaps warped into their crop, as at run time. The supernet runs
    in eval mode with its running BatchNorm statistics: with ``supernet.bn_stats: largest`` these are the largest
    path's, accumulated over its frames (with ``all`` they mix every path's). Metrics: ``largest/loss`` (the
    target-weighted heatmap MSE averaged over frames and clips; the best-checkpoint score) and ``largest/loss_t<t>``
    per propagated frame. No keypoint AP: evaluate an extracted T-ViPNet, or search, for that.

    Raises:
        ValueError: ``runtime.best_metric`` names an accuracy metric, or the validation split has no clips.
    """

    def __init__(
        self, config: Config, model: Any, key: torch.nn.Module, paths: DataPaths, device: torch.device
    ) -> None:
        if config.runtime.best_metric not in ("auto", "loss"):
            raise ValueError(
                f"runtime.best_metric {config.runtime.best_metric!r}: temporal validation measures the propagation "
                "loss only (no keypoint AP); use 'auto' or 'loss'"
            )
        dataset = build_clip_dataset(config, model.metadata, paths, split="val", augment=False)
        shard = ShardSampler(len(dataset), num_replicas=get_world_size(), rank=get_rank())
        self.loader = make_loader(dataset, shard, config.data.val_batch_size, config, drop_last=False)
        self.key, self.device = key, device
        self.udp = model.metadata.codec == "udp"
        self.arch = model.space.extreme("largest", random.Random(f"vipnas-temporal-val:{config.runtime.seed}"))
        self.clips = len(dataset)

    @torch.no_grad()
    def validate(self, model: TemporalSupernet) -> dict[str, float]:
        """``{"largest/loss": ..., "largest/loss_t1": ..., ...}`` over every rank's shard of the clips; the model's
        mode and active frame choice are restored."""
        length = model.space.length
        totals = torch.zeros(length + 1, dtype=torch.float64, device=self.device)  # Σ loss_t · n per frame, n
        training, active = model.training, model.frame
        model.eval()
        self.key.eval()
        try:
            for batch in self.loader:
                images = batch.image.to(self.device)  # (N, T+1, 3, H, W)
                target = batch.heatmaps.to(self.device)
                weight = batch.target_weight.to(self.device)
                networks = [_frame_network(model, frame) for frame in self.arch.frames]
                outputs = propagate(self.key, networks, images, batch.inverse_affine, udp=self.udp)
                for t in range(1, length + 1):
                    totals[t - 1] += keypoint_mse_loss(outputs[t], target[:, t], weight[:, t]).item() * len(images)
                totals[length] += len(images)
        finally:
            model.activate(active)
            model.train(training)
        all_reduce_sum(totals)
        per_frame = (totals[:length] / totals[length]).tolist()
        return {
            "largest/loss": float(np.mean(per_frame)),
            **{f"largest/loss_t{t}": v for t, v in enumerate(per_frame, 1)},
        }


def _frame_network(model: TemporalSupernet, frame: Any) -> Any:
    """Frame ``frame``'s T-ViPNet inside the supernet, as a ``(crops, heatmaps) -> heatmaps`` callable."""

    def forward(crops: torch.Tensor, heatmaps: torch.Tensor) -> torch.Tensor:
        model.activate(frame)
        return model(crops, heatmaps)

    return forward


class _Meter:
    """The progress bar, and the per-step values that the next ``train`` log line averages."""

    def __init__(self, bar: tqdm) -> None:
        self.bar = bar
        self.window: dict[str, list[float]] = {}

    def add(self, losses: dict[str, float], data_time: float, iter_time: float, *, lr: float) -> None:
        loss = sum(losses.values())
        for key, value in {**losses, "loss": loss, "data_time": data_time, "iter_time": iter_time}.items():
            self.window.setdefault(key, []).append(value)
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{loss:.3e}", lr=f"{lr:.2e}")

    def take(self) -> dict[str, list[float]]:
        """The values since the last call, emptied."""
        window, self.window = self.window, {}
        return window


def _seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


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
