"""`ModelHandle`: a generator given as a model folder or in memory, safe to hand to worker processes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from genaug.data.spec import DataSpec
from genaug.models.base import Generator
from genaug.models.registry import load

__all__ = ["ModelHandle"]


class ModelHandle:
    """A generator given as a model folder or in memory; pickles as its folder, reloads lazily.

    Worker processes (``spawn`` or ``fork``) receive the folder and load the model on first use,
    never a pickle of the weights. An in-memory model without a folder is pickled whole.

    Args:
        model: a `Generator`, or the folder ``save_pretrained`` wrote.
        device: where the model runs; None: the CPU.

    Example:
        >>> import genaug, pickle
        >>> handle = ModelHandle(genaug.create("gmm", genaug.load_source("digits").spec))
        >>> pickle.loads(pickle.dumps(handle)).family
        'gmm'
    """

    def __init__(self, model: Generator | str | os.PathLike, device: str | torch.device | None = None) -> None:
        if isinstance(model, Generator):
            self.folder, self._model = None, model
        elif isinstance(model, (str, os.PathLike)):
            self.folder = Path(model)
            self._model = load(self.folder)  # fail now, in the main process, if the folder is bad
        else:
            raise TypeError(f"model: expected a model folder or a genaug Generator, got {type(model).__name__}")
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self._model = self._model.to(self.device).eval()
        self.spec: DataSpec = self._model.spec
        self.family: str = self._model.family
        self.fingerprint: str = self._model.fingerprint()

    @property
    def model(self) -> Generator:
        """The generator, loaded from the folder on first use in this process."""
        if self._model is None:
            self._model = load(self.folder).to(self.device).eval()
        return self._model

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if self.folder is not None:
            state["_model"] = None
        return state

    def __repr__(self) -> str:
        return f"{self.family} model ({self.folder if self.folder is not None else 'in memory'})"
