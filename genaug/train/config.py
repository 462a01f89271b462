"""`TrainConfig`: every knob of the Trainer, typed, with a comment per field."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TrainConfig"]


class TrainConfig(BaseModel):
    """How the Trainer fits a generator. Families override defaults via ``Generator.train_defaults``.

    Example:
        >>> TrainConfig(steps=100, batch_size=64).grad_accum
        1
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # no number field means inf or NaN

    steps: int = Field(3000, ge=0)  # optimizer updates (EM iterations for closed-form families)
    min_epochs: float = Field(20.0, ge=0)  # genaug.fit raises a family's default steps to this many passes over the data
    batch_size: int = Field(128, ge=0)  # per process; 0 = this process's whole share of the data
    lr: float = Field(1e-3, gt=0)  # base learning rate (a family's groups may scale it)
    lr_schedule: Literal["constant", "cosine"] = "constant"  # cosine: from lr down to lr / 100 at the last step
    grad_accum: int = Field(1, ge=1)  # micro-batches per update
    clip_grad: float | None = Field(1.0, gt=0)  # max global gradient norm per group; None = off
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"  # autocast dtype, as in Accelerate
    ema_decay: float = Field(0.999, ge=0, lt=1)  # EMA of weights used for sampling; 0 = off
    val_fraction: float = Field(0.1, ge=0, lt=1)  # stratified held-out share for validation; 0 = none
    eval_every: int = Field(250, ge=1)  # steps between validations
    # genaug.fit validates at least every this many passes over the data (fewer steps than eval_every on a small set,
    # which a high-capacity family memorizes between two validations); None: every eval_every steps
    eval_epochs: float | None = Field(None, gt=0)
    patience: int | None = Field(5, ge=1)  # early stop after this many validations without gain; None = run all steps
    restore_best: bool = True  # end with the weights of the best validation loss (when there is validation)
    min_delta: float = Field(0.0, ge=0)  # a validation loss must improve by more than this to count
    checkpoint_every: int = Field(1000, ge=0)  # steps between checkpoints (with an out folder); 0 = off
    keep_checkpoints: int = Field(2, ge=1)  # newest checkpoints kept on disk
    sample_every: int = Field(1000, ge=0)  # steps between sample grid PNGs (images only); 0 = off
    log_every: int = Field(50, ge=1)  # steps between logged metrics
    seed: int = 0  # seeds weights, data order, splits and every noise draw
    cpu: bool = False  # force CPU even when an accelerator is visible
    progress: bool = True  # show a progress bar (main process only); a recipe turns it off under its own bar
