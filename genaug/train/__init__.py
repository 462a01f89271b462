"""Training: one Accelerate loop (`Trainer`) for every family, and the `fit` entry point."""

from genaug.train.config import TrainConfig
from genaug.train.fit import fit, resolve_train_config
from genaug.train.trainer import Trainer

__all__ = ["TrainConfig", "Trainer", "fit", "resolve_train_config"]
