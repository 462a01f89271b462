"""`Trainer`: one Accelerate loop that fits any `Generator`, whatever its family.

The loop only talks to the contract: ``init_from_data`` once, then per step and per optimizer group
``training_step`` (or one closed-form ``training_step`` for families without optimizers, such as
EM), ``validation_step`` for early stopping and ``should_stop`` for a family's own convergence.

Randomness is stateless: the data order of epoch ``e`` and the noise of step ``s`` on rank ``r``
are functions of ``(seed, e)`` and ``(seed, s, r)``. A resumed run therefore replays exactly what an
uninterrupted one would have done, whatever state the global RNGs are in.

Runs under ``python``, ``accelerate launch`` and ``torchrun`` alike (gloo on CPU, NCCL on GPU).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import torch
from accelerate import Accelerator, DataLoaderConfiguration, DistributedDataParallelKwargs
from accelerate.data_loader import skip_first_batches
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm.auto import tqdm

from genaug.data.arrayset import ArraySet
from genaug.models.base import Generator
from genaug.train import checkpoint as ckpt
from genaug.train.config import TrainConfig
from genaug.train.ema import EMA
from genaug.train.precision import Precision
from genaug.utils.io import append_line, atomic_write_json, atomic_write_text, writing
from genaug.utils.seeding import derive_seed

__all__ = ["Trainer", "lr_factor"]

logger = logging.getLogger(__name__)
# below this many held-out samples the validation criterion picks weights by noise (measured in BENCHMARKS.md:
# MNIST-1D, 10 series per class, one each held out: a diffusion fit kept its step-500 weights, -6.9 points downstream)
_FEW_VALIDATION = 20


def _has_accelerator() -> bool:
    mps = getattr(torch.backends, "mps", None)
    xpu = getattr(torch, "xpu", None)
    return torch.cuda.is_available() or bool(mps and mps.is_available()) or bool(xpu and xpu.is_available())


class EpochSampler(Sampler[int]):
    """A fresh permutation of ``range(n)`` per epoch, drawn from ``(seed, epoch)`` alone."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(derive_seed(self.seed, "epoch", self.epoch))
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


def lr_factor(config: TrainConfig, step: int) -> float:
    """The learning rate at ``step`` as a multiple of ``config.lr`` (``lr_schedule``).

    Example:
        >>> cfg = TrainConfig(steps=101, lr_schedule="cosine")
        >>> lr_factor(cfg, 0), round(lr_factor(cfg, 50), 3), round(lr_factor(cfg, 100), 3)
        (1.0, 0.505, 0.01)
    """
    if config.lr_schedule == "constant" or config.steps <= 1:
        return 1.0
    progress = min(step / (config.steps - 1), 1.0)
    return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * progress))


class DictDataset(Dataset):
    """Rows of a dict of equally long tensors; the default collate makes dict batches ``{"x": ..., "label": ..., ...}``."""

    def __init__(self, tensors: dict[str, torch.Tensor]) -> None:
        self.tensors = tensors
        self.n = len(next(iter(tensors.values())))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.tensors.items()}


class Trainer:
    """Fits ``model`` on ``data`` with Accelerate; writes checkpoints, samples and metrics to ``out``.

    Args:
        model: an untrained (or partly trained) `Generator`.
        data: the training set; ``config.val_fraction`` of it is held out for validation.
        config: the `TrainConfig`.
        out: run folder. Gets ``config.json`` + ``model.safetensors`` (the final model, EMA weights
            when EMA is on), ``checkpoints/``, ``samples/`` and ``metrics.jsonl``. None: no files.

    Example:
        >>> import genaug
        >>> data = genaug.load_source("digits")
        >>> model = genaug.create("vae", data.spec)
        >>> trainer = Trainer(model, data, TrainConfig(steps=20))  # out="runs/vae" keeps files
        >>> trainer.fit().family, trainer.state.step
        ('vae', 20)
    """

    def __init__(self, model: Generator, data: ArraySet, config: TrainConfig, out: str | os.PathLike | None = None) -> None:
        if not isinstance(model, Generator):
            raise TypeError(f"model: expected a genaug Generator, got {type(model).__name__}")
        if not isinstance(data, ArraySet):
            raise TypeError(f"data: expected an ArraySet, got {type(data).__name__}")
        if data.spec.shape != model.spec.shape or data.spec.num_classes != model.spec.num_classes:
            raise ValueError(
                f"data: its spec (shape {data.spec.shape}, {data.spec.num_classes} classes) does not fit the "
                f"model's (shape {model.spec.shape}, {model.spec.num_classes} classes)"
            )
        self.model, self.data, self.config = model, data, config
        self.out = Path(out) if out is not None else None

    # ------------------------------------------------------------------ public
    def fit(self, resume: bool = False) -> Generator:
        """Train, then return the final model (EMA or best weights) in eval mode.

        Args:
            resume: continue from the newest checkpoint in ``out/checkpoints`` (an error if none).
        """
        cfg = self.config
        kwargs = [DistributedDataParallelKwargs(find_unused_parameters=True)]
        # Accelerate only sets up multi-process CPU runs (gloo) when told cpu=True.
        # batch_size 0 gives every process exactly one batch (its shard): no padding with repeated
        # samples is needed to keep processes in step, and none may bias closed-form statistics.
        loader_config = DataLoaderConfiguration(even_batches=cfg.batch_size != 0)
        # no precision here: the process's stays, and this fit applies its own (see genaug.train.precision)
        acc = Accelerator(
            cpu=cfg.cpu or not _has_accelerator(),
            kwargs_handlers=kwargs,
            dataloader_config=loader_config,
        )
        self.acc = acc
        train, val = self.data.split(cfg.val_fraction, seed=cfg.seed) if cfg.val_fraction > 0 else (self.data, None)
        if len(train) == 0:
            raise ValueError("data: no training samples left after the validation split")
        if val is not None and len(val) == 0:  # e.g. 5 records per class: a tenth of each rounds to none
            logger.warning(
                "validation: val_fraction %g of %d samples holds out none (too few per class); "
                "fitting without validation, so no early stopping", cfg.val_fraction, len(self.data),
            )
            val = None
        elif val is not None and len(val) < _FEW_VALIDATION:  # e.g. 10 per class: one each held out
            logger.warning(
                "validation: val_fraction %g of %d samples holds out only %d; the weights kept (and the early stop) "
                "are chosen on so few, a noisy choice that can keep an undertrained model. "
                "val_fraction=0 fits the planned steps without validation", cfg.val_fraction, len(self.data), len(val),
            )
        model = self.model
        model.init_from_data(train.tensors(), generator=torch.Generator().manual_seed(derive_seed(cfg.seed, "init")))
        groups = model.optimizer_groups()
        optimizers = [
            torch.optim.AdamW(g.params, lr=cfg.lr * g.lr_scale, betas=g.betas, weight_decay=g.weight_decay) for g in groups
        ]
        per_process = cfg.batch_size or math.ceil(len(train) / acc.num_processes)
        batch_size = min(per_process, len(train))
        loader = DataLoader(
            DictDataset(train.tensors()),
            batch_size=batch_size,
            sampler=EpochSampler(len(train), cfg.seed),
            drop_last=len(train) >= 2 * batch_size,  # a tiny last batch breaks batch statistics
        )
        if groups:
            wrapped, *optimizers, loader = acc.prepare(model, *optimizers, loader)
        else:  # closed-form families have nothing for DDP to synchronise; they reduce statistics themselves
            wrapped, loader = model.to(acc.device), acc.prepare(loader)
        self.wrapped, self.groups, self.optimizers, self.loader = wrapped, groups, optimizers, loader
        self.precision = Precision(cfg.mixed_precision, acc.device, len(groups))
        self.ema = EMA(model, cfg.ema_decay) if cfg.ema_decay > 0 and groups else None
        self.best: dict[str, torch.Tensor] | None = None
        self.train, self.val = train, val
        state = ckpt.TrainerState()
        if resume:
            state = self._resume()
        elif self.out is not None and acc.is_main_process:
            self._write_run_info()
        self.state = state
        self._loop()
        return self._finish()

    # ------------------------------------------------------------------ loop
    def _batches(self, start_batch: int) -> Iterator[dict[str, torch.Tensor]]:
        """Endless stream of this process's batches, starting after ``start_batch`` batches."""
        per_epoch = len(self.loader)
        epoch, offset = divmod(start_batch, per_epoch)
        while True:
            self.loader.set_epoch(epoch)
            for batch in skip_first_batches(self.loader, offset) if offset else self.loader:
                yield batch
            epoch, offset = epoch + 1, 0

    def _loop(self) -> None:
        cfg, acc, state = self.config, self.acc, self.state
        if state.finished or state.step >= cfg.steps:
            return
        stream = self._batches(state.step * cfg.grad_accum)
        bar = tqdm(
            total=cfg.steps,
            initial=state.step,
            disable=not (acc.is_main_process and cfg.progress),
            desc=f"fit {self.model.family}",
            mininterval=0.1 if sys.stderr.isatty() else 10.0,  # keep CI logs short
        )
        try:
            totals: dict[str, torch.Tensor] = {}
            count = 0  # steps summed into totals since the last log
            while state.step < cfg.steps:
                batches = [next(stream) for _ in range(cfg.grad_accum)]
                self.wrapped.train()
                metrics = self._step(batches, state.step)
                for name, value in metrics.items():
                    totals[name] = totals.get(name, 0.0) + value.detach().float()
                count += 1
                state.step += 1
                bar.update(1)
                if self.ema is not None:
                    self.ema.update(self.model)
                    state.ema_updates = self.ema.num_updates
                stop = self.model.should_stop()
                if state.step % cfg.log_every == 0 or state.step == cfg.steps or stop:
                    self._log(state.step, {k: v / count for k, v in totals.items()}, bar)
                    totals, count = {}, 0
                if self.val is not None and (state.step % cfg.eval_every == 0 or state.step == cfg.steps):
                    stop = self._validate() or stop
                if self.out is not None and cfg.sample_every and state.step % cfg.sample_every == 0:
                    self._save_grid(state.step)
                last = stop or state.step == cfg.steps
                if last:
                    state.finished = True
                if self.out is not None and cfg.checkpoint_every and (state.step % cfg.checkpoint_every == 0 or last):
                    self.save_checkpoint()
                if stop:
                    logger.info("stopping at step %d (%s)", state.step, "converged" if self.model.should_stop() else "early stopping")
                    break
        finally:
            bar.close()  # also on an error, so that its message starts a line of its own
        state.finished = True

    def _step(self, batches: list[dict[str, torch.Tensor]], step: int) -> dict[str, torch.Tensor]:
        """One update: each optimizer group in turn over the same micro-batches."""
        acc, cfg = self.acc, self.config
        rank = acc.process_index
        if not self.groups:
            g = torch.Generator(acc.device).manual_seed(derive_seed(cfg.seed, "step", step, rank))
            with torch.no_grad():
                return self.wrapped(batches[0], step=step, group=None, generator=g)
        logged: dict[str, torch.Tensor] = {}
        factor = lr_factor(cfg, step)
        for index, (group, optimizer) in enumerate(zip(self.groups, self.optimizers)):
            for param_group in optimizer.param_groups:  # from the step alone, so a resumed run continues the schedule
                param_group["lr"] = cfg.lr * group.lr_scale * factor
            optimizer.zero_grad(set_to_none=True)
            for micro, batch in enumerate(batches):
                g = torch.Generator(acc.device).manual_seed(derive_seed(cfg.seed, "step", step, rank, group.name, micro))
                last = micro == len(batches) - 1
                with acc.no_sync(self.wrapped) if not last else contextlib.nullcontext():
                    with self.precision.autocast():
                        out = self.wrapped(batch, step=step, group=group.name, generator=g)
                    loss = out["loss"]
                    if not torch.isfinite(loss):
                        raise FloatingPointError(
                            f"{self.model.family}: loss of group {group.name!r} is {loss.item()} at step {step}; "
                            "lower the learning rate or enable gradient clipping"
                        )
                    acc.backward(self.precision.scale(index, loss / len(batches)))
                for name, value in out.items():
                    key = name if len(self.groups) == 1 else f"{group.name}/{name}"
                    logged[key] = logged.get(key, 0.0) + value.detach().float() / len(batches)
            if cfg.clip_grad is not None:
                self.precision.unscale(index, optimizer)
                acc.clip_grad_norm_(group.params, cfg.clip_grad)
            self.precision.step(index, optimizer)
        return logged

    def _log(self, step: int, metrics: dict[str, torch.Tensor], bar: tqdm) -> None:
        acc = self.acc
        values = {k: acc.reduce(torch.as_tensor(v, device=acc.device).float(), reduction="mean").item() for k, v in metrics.items()}
        if not acc.is_main_process:
            return
        bar.set_postfix({k: f"{v:.4g}" for k, v in list(values.items())[:3]}, refresh=False)
        self._append_metrics({"step": step, **values})

    def _append_metrics(self, record: dict) -> None:
        if self.out is None:
            return
        record = {k: v if not isinstance(v, float) or math.isfinite(v) else None for k, v in record.items()}
        append_line(self.out / "metrics.jsonl", json.dumps(record))

    def sampling_model(self) -> Generator:
        """The weights samples come from: the EMA copy when EMA is on, else the live model."""
        return self.ema.shadow if self.ema is not None else self.model

    @torch.no_grad()
    def validation_loss(self, model: Generator | None = None) -> float | None:
        """Mean validation loss of ``model`` (default: the sampling weights) on the held-out split.

        The same draws every time (dequantization noise, diffusion times), so two calls compare
        weights, not luck. None when there is no validation split or the family has no criterion.
        """
        if self.val is None:
            return None
        model = model if model is not None else self.sampling_model()
        model.eval()
        device = self.acc.device
        g = torch.Generator(device).manual_seed(derive_seed(self.config.seed, "val"))
        losses = []
        tensors = self.val.tensors()
        for start in range(0, len(self.val), 512):
            batch = {k: v[start : start + 512].to(device) for k, v in tensors.items()}
            out = model.validation_step(batch, generator=g)
            if "loss" not in out:
                return None
            losses.append(out["loss"].float() * len(batch["x"]))
        return (torch.stack(losses).sum() / len(self.val)).item()

    def _validate(self) -> bool:
        """Validation loss of the sampling weights; keeps the best ones; returns True when early stopping fires.

        Every process evaluates the whole (small) held-out set, so all reach the same decision
        without communicating.
        """
        cfg, state, model = self.config, self.state, self.sampling_model()
        loss = self.validation_loss(model)
        if loss is None:
            return False
        if self.acc.is_main_process:
            self._append_metrics({"step": state.step, "val/loss": loss})
        if state.best_val is None or loss < state.best_val - cfg.min_delta:
            state.best_val, state.best_step, state.evals_since_best = loss, state.step, 0
            if cfg.restore_best:
                self.best = {k: v.detach().clone() for k, v in model.state_dict().items()}
            return False
        state.evals_since_best += 1
        return cfg.patience is not None and state.evals_since_best >= cfg.patience

    def _save_grid(self, step: int) -> None:
        """Samples of every class for people to look at, drawn as the modality draws them (not with further conditions)."""
        if not self.acc.is_main_process or self.model.spec.conditions:
            return
        model = self.sampling_model()
        labels = torch.arange(model.spec.num_classes, device=self.acc.device).repeat_interleave(8)
        g = torch.Generator(self.acc.device).manual_seed(derive_seed(self.config.seed, "grid"))
        with torch.no_grad():
            model.eval()
            z = model.sample_model({"label": labels}, generator=g)
        model.spec.save_samples(z, self.out / "samples" / f"step_{step:08d}.png", nrow=8)

    # ------------------------------------------------------------------ checkpoints
    def _write_run_info(self) -> None:
        atomic_write_json(
            self.out / "run.json",
            {"family": self.model.family, "config": self.model.config.model_dump(mode="json"), "train": self.config.model_dump(mode="json")},
        )

    def save_checkpoint(self) -> Path:
        """Write ``out/checkpoints/step_<N>`` atomically (all processes must call this).

        A failed write (a full disk, ...) removes the temporary folder and raises a `WriteError`
        naming the checkpoint; the older checkpoints stay as they were.
        """
        acc, state = self.acc, self.state
        root = self.out / "checkpoints"
        final = root / ckpt.checkpoint_name(state.step)
        tmp = root / f".tmp-{final.name}"
        try:
            with writing(final):
                if acc.is_main_process and tmp.exists():
                    shutil.rmtree(tmp)
                acc.wait_for_everyone()
                acc.save_state(str(tmp))
                acc.wait_for_everyone()  # every rank has written its RNG state into tmp before it is renamed
                if acc.is_main_process:
                    if not self.groups:  # Accelerate saved the prepared model; closed-form ones it never saw
                        ckpt.save_tensors(tmp / "genaug_model.safetensors", self.model.state_dict())
                    if self.ema is not None:
                        ckpt.save_tensors(tmp / "genaug_ema.safetensors", self.ema.state_dict())
                    if self.best is not None:
                        ckpt.save_tensors(tmp / "genaug_best.safetensors", self.best)
                    state.scalers = self.precision.state_dict()
                    atomic_write_text(tmp / "trainer_state.json", state.to_json())
                    ckpt.finalize(tmp, final, self.config.keep_checkpoints)
        finally:
            if acc.is_main_process and tmp.exists():  # a failed or interrupted save leaves no half checkpoint
                shutil.rmtree(tmp, ignore_errors=True)
        acc.wait_for_everyone()
        return final

    def _resume(self) -> ckpt.TrainerState:
        if self.out is None:
            raise ValueError("resume: needs an out folder to find checkpoints in")
        path = ckpt.latest_checkpoint(self.out / "checkpoints")
        if path is None:
            raise FileNotFoundError(f"resume: no checkpoint in {self.out / 'checkpoints'}; run without --resume to start")
        if self.acc.is_main_process:
            self._remove_temporaries()
        state = ckpt.TrainerState.read(path / "trainer_state.json")
        self.precision.load_state_dict(state.scalers)
        if self.groups:
            # a checkpoint written before the family added an optional tensor lacks only that: the model keeps its own
            lacks_optional = self._lacks_only_optional_state(path / "model.safetensors")
            self.acc.load_state(str(path), **({"strict": False} if lacks_optional else {}))
        else:
            self.model.load_state_dict(self.model.with_optional_state(ckpt.load_tensors(path / "genaug_model.safetensors")))
        if self.ema is not None:
            self.ema.load_state_dict(self.model.with_optional_state(ckpt.load_tensors(path / "genaug_ema.safetensors")), state.ema_updates)
        if (path / "genaug_best.safetensors").exists():
            self.best = self.model.with_optional_state(ckpt.load_tensors(path / "genaug_best.safetensors"))
        if state.step < self.config.steps:
            state.finished = False  # more steps were asked for than the run had
        logger.info("resumed from %s at step %d", path, state.step)
        return state

    def _lacks_only_optional_state(self, weights: Path) -> bool:
        """True when ``weights`` (Accelerate's model file) misses some of the model's tensors, all of them optional."""
        optional = set(type(self.model).optional_state)
        if not optional or not weights.is_file():
            return False
        from safetensors import safe_open

        with safe_open(str(weights), framework="pt") as f:
            missing = set(self.model.state_dict()) - set(f.keys())
        return bool(missing) and missing <= optional

    def _remove_temporaries(self) -> None:
        """Delete what the interrupted writes of a killed run left under hidden names (no other process writes this run now)."""
        for folder in (self.out, self.out / "samples"):
            for stale in folder.glob(".*.tmp*"):  # atomic writes' temporary files (genaug.utils.io.atomic_path)
                if stale.is_file():
                    stale.unlink(missing_ok=True)
        for stale in (self.out / "checkpoints").glob(".tmp-*"):  # checkpoint folders being written or dropped
            shutil.rmtree(stale, ignore_errors=True)

    # ------------------------------------------------------------------ end
    def _finish(self) -> Generator:
        acc, model = self.acc, self.model
        if self.best is not None:
            self.sampling_model().load_state_dict(self.best)
            logger.info(
                "kept the weights of step %d (validation loss %.4g), the best of the run", self.state.best_step, self.state.best_val
            )
            if acc.is_main_process:  # the report marks the kept step on the loss curves
                self._append_metrics({"step": self.state.step, "kept_step": self.state.best_step})
        if self.ema is not None:
            model.load_state_dict(self.ema.state_dict())
        model.eval()
        model.finish_fit(self.train.tensors(), generator=torch.Generator().manual_seed(derive_seed(self.config.seed, "finish")))
        if self.out is not None:
            if acc.is_main_process:
                model.save_pretrained(self.out)
                if self.config.sample_every:
                    self._save_grid(self.state.step)
            acc.wait_for_everyone()
        logger.info("rank %d/%d finished at step %d", acc.process_index, acc.num_processes, self.state.step)
        return model

