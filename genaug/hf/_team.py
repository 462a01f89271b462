"""`Team`: the processes that write one dataset together, under ``torchrun`` or ``accelerate launch``.

A team is this process alone, or every process of ``torch.distributed``'s group. Its one collective,
`Team.each`, runs a step on every process (or on the first only) and hands every process the
results; a step that fails on one process raises on all of them, so none waits forever for a
process that gave up. Only small Python objects travel (over gloo, also beside an NCCL group).
"""

from __future__ import annotations

import contextlib
import os
import pickle
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import torch.distributed as dist

__all__ = ["Team"]

T = TypeVar("T")


class Team:
    """Rank ``rank`` of ``size`` processes writing one dataset; `join` makes one."""

    def __init__(self, rank: int = 0, size: int = 1, group: Any = None) -> None:
        self.rank, self.size, self.group = rank, size, group

    @classmethod
    @contextlib.contextmanager
    def join(cls) -> Iterator[Team]:
        """The processes of the current ``torch.distributed`` group, or this process alone.

        Under ``torchrun`` / ``accelerate launch`` (``WORLD_SIZE`` > 1) with no group started yet, a
        gloo group is started from the launcher's environment for the block and ended after it.
        """
        if not dist.is_available():
            yield cls()
        elif dist.is_initialized():
            size = dist.get_world_size()
            own = size > 1 and dist.get_backend() != "gloo"  # objects travel over gloo: NCCL wants them on a GPU
            group = dist.new_group(backend="gloo") if own else None
            try:
                yield cls(dist.get_rank(), size, group)
            finally:
                if own:
                    dist.destroy_process_group(group)
        elif int(os.environ.get("WORLD_SIZE", "1")) > 1:
            dist.init_process_group("gloo", init_method="env://")
            try:
                yield cls(dist.get_rank(), dist.get_world_size())
            finally:
                dist.destroy_process_group()
        else:
            yield cls()

    def each(self, step: Callable[[], T], *, first_only: bool = False) -> list[T | None]:
        """Run ``step`` on every process (``first_only``: on rank 0; the others give None); all results.

        If ``step`` raises on some process, every process raises: its own error, or a copy of the
        first failing rank's.
        """
        result, error = None, None
        if not first_only or self.rank == 0:
            try:
                result = step()
            except Exception as err:  # noqa: BLE001 (handed to every process below, then raised)
                error = err
        if self.size == 1:
            if error is not None:
                raise error
            return [result]
        gathered: list[Any] = [None] * self.size
        dist.all_gather_object(gathered, (result, None if error is None else _portable(error)), group=self.group)
        if error is not None:
            raise error
        for rank, (_, failure) in enumerate(gathered):
            if failure is not None:
                failure.add_note(f"(raised on rank {rank} of {self.size})")
                raise failure
        return [value for value, _ in gathered]


def _portable(error: Exception) -> Exception:
    """``error`` as it can travel to another process: itself, or a RuntimeError with its message."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 (any failure to pickle or unpickle)
        return RuntimeError(f"{type(error).__name__}: {error}")
