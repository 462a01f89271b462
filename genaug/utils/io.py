"""File writes that leave nothing half-written, one clear error when a write fails, and bounded JSON reads.

A reader sees the old file or the new one, never half of one. When a write fails (a full disk, a
read-only file system, no permission, a folder that vanished) the temporary file is removed and a
`WriteError` names the path, the cause and what to do; ``genaug``'s command line prints it as one
line and exits with status 2.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from safetensors import SafetensorError

__all__ = [
    "MAX_JSON_BYTES",
    "WriteError",
    "append_line",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "read_json",
    "save_weights",
    "write_error",
    "writing",
]

MAX_JSON_BYTES = 64 * 2**20  # the largest JSON file genaug reads (configs, states): a stranger's file cannot fill memory

_ADVICE = {
    errno.ENOSPC: "the disk is full: free some space or write to another disk",
    errno.EDQUOT: "the disk quota is used up: free some space or write to another disk",
    errno.EFBIG: "the file is larger than this file system allows: write to another disk",
    errno.EROFS: "the file system is read-only: write to another folder",
    errno.EACCES: "no permission to write there: write to another folder or change its permissions",
    errno.EPERM: "no permission to write there: write to another folder or change its permissions",
    errno.ENOENT: "its folder vanished (deleted or unmounted) while genaug wrote: create it again or write elsewhere",
    errno.ENOTDIR: "a file stands where a folder is needed: remove it or write elsewhere",
    errno.EISDIR: "a folder stands where the file goes: remove it or write elsewhere",
}
_RUST_ERRNO = re.compile(r"os error (\d+)")  # how safetensors (Rust) reports the OS error behind a failed write
_TORCH_WRITE = re.compile(r"PytorchStreamWriter failed|unexpected pos \d+ vs \d+|file write failed")  # torch.save's


class WriteError(OSError):
    """A file or folder could not be written; whatever was half-written has been removed.

    An `OSError` carrying the cause's ``errno`` and the path (``filename``); its message says what to do.

    Example:
        >>> print(WriteError(errno.ENOSPC, "No space left on device", "out/model.safetensors"))
        cannot write out/model.safetensors: No space left on device; the disk is full: free some space or write to another disk
    """

    def __init__(self, code: int | None, reason: str, filename: str | os.PathLike) -> None:
        super().__init__(code, reason, os.fspath(filename))

    def __str__(self) -> str:
        advice = _ADVICE.get(self.errno, "check that its disk has space and its folder is writable, or write elsewhere")
        return f"cannot write {self.filename}: {self.strerror}; {advice}"


def write_error(err: BaseException, path: str | os.PathLike) -> WriteError | None:
    """``err``, raised while writing ``path``, as a `WriteError`; None when it is no failure to write.

    Recognized: an `OSError` with an error code, safetensors' `SafetensorError` around an OS error, and
    ``torch.save``'s ``RuntimeError`` of a failed write. An error without a code counts only when the
    disk has no space left (a full disk); otherwise an `OSError` without one (genaug's own
    ``FileExistsError("path: ...")``) passes unchanged.
    """
    if isinstance(err, WriteError):  # from a part of what is written: name the whole
        return err if err.filename == os.fspath(path) else WriteError(err.errno, err.strerror, path)
    code: int | None
    if isinstance(err, OSError):
        code, reason = err.errno, err.strerror or str(err)
    elif isinstance(err, SafetensorError) and ("I/O error" in str(err) or _RUST_ERRNO.search(str(err))):
        found = _RUST_ERRNO.search(str(err))
        code = int(found.group(1)) if found else None
        reason = os.strerror(code) if code is not None else str(err)
    elif isinstance(err, RuntimeError) and _TORCH_WRITE.search(str(err)):
        code, reason = None, f"torch could not write the file ({err})"
    else:
        return None
    if code is None:
        if _free_bytes(Path(path)) != 0:  # no error code and space left: an error of genaug's own (FileExistsError("path: ..."))
            return None if isinstance(err, OSError) else WriteError(code, reason, path)
        code, reason = errno.ENOSPC, os.strerror(errno.ENOSPC)
    return WriteError(code, reason, path)


def _free_bytes(path: Path) -> int | None:
    """Bytes free on the file system that holds ``path`` (its nearest existing folder); None when unknown."""
    for folder in (path, *path.parents):
        if folder.exists():
            try:
                return shutil.disk_usage(folder).free
            except OSError:
                return None
    return None


@contextlib.contextmanager
def writing(path: str | os.PathLike) -> Iterator[None]:
    """Turn a failure to write ``path`` inside the block into a `WriteError` naming it (other errors pass).

    The block cleans up after itself; this only names the failure.

    Example:
        >>> with writing("/proc/genaug-example"):  # doctest: +SKIP
        ...     Path("/proc/genaug-example").write_text("x")
        Traceback (most recent call last):
        genaug.utils.io.WriteError: cannot write /proc/genaug-example: No such file or directory; ...
    """
    try:
        yield
    except Exception as err:
        error = write_error(err, path)
        if error is None or error is err:
            raise
        raise error from err


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only if the block succeeds.

    A failure to write (in the block, the flush or the rename) removes the temporary file and raises
    a `WriteError` naming ``path``; an interrupt (Ctrl-C) removes it too.

    Args:
        path: the final destination.
        suffix: kept on the temporary name, for writers that look at extensions (``.png``).

    Example:
        >>> with atomic_path("out/model.safetensors") as tmp:  # doctest: +SKIP
        ...     save_file(tensors, tmp)
    """
    path = Path(path)
    tmp: Path | None = None
    with writing(path):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
            os.close(fd)
            tmp = Path(tmp_name)
            yield tmp
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the permissions a plain open() would
            with open(tmp, "rb+") as f:  # flush to disk before the rename makes it visible
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):  # the folder may be gone or read-only by now
                    tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any, default: Callable | None = None) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=default) + "\n")


def append_line(path: str | os.PathLike, line: str) -> None:
    """Append ``line`` and a newline to ``path`` (a log); a failed append leaves the file as it was.

    Example:
        >>> append_line("run/metrics.jsonl", '{"step": 1}')  # doctest: +SKIP
    """
    path = Path(path)
    data = memoryview((line + "\n").encode("utf-8"))
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab", buffering=0) as f:
            start = f.seek(0, os.SEEK_END)
            try:
                while data:
                    data = data[f.write(data) :]
            except BaseException:
                with contextlib.suppress(OSError):
                    os.ftruncate(f.fileno(), start)  # no half line for a reader (or the next append) to trip on
                raise


def save_weights(directory: str | os.PathLike, tensors: Mapping[str, Any], config: dict[str, Any], metadata: dict[str, str]) -> None:
    """Write ``model.safetensors`` then ``config.json`` into ``directory``, each atomically.

    When the config cannot be written the new weights are removed again, so the folder never pairs
    new weights with an old config (loading it then says the weights are missing).
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    weights = directory / "model.safetensors"
    with atomic_path(weights) as tmp:
        save_file(dict(tensors), str(tmp), metadata=metadata)
    try:
        atomic_write_json(directory / "config.json", config)
    except BaseException:
        with contextlib.suppress(OSError):
            weights.unlink(missing_ok=True)
        raise


def read_json(path: str | os.PathLike, *, what: str = "JSON file", limit: int = MAX_JSON_BYTES) -> Any:
    """The JSON document in ``path``, read without trusting its size or nesting.

    Args:
        path: the file.
        what: what the file is, for the errors (``"config file"``).
        limit: the most bytes read.

    Raises:
        OSError: the file cannot be read (`FileNotFoundError` when it is missing).
        ValueError: the file is larger than ``limit`` bytes, is not UTF-8 JSON, or nests too deeply.

    Example:
        >>> read_json("model/config.json")["format"]  # doctest: +SKIP
        'genaug'
    """
    with open(path, "rb") as f:
        data = f.read(limit + 1)  # bounded even where stat lies (a pipe, a growing file)
    if len(data) > limit:
        raise ValueError(f"{path}: corrupt {what}, larger than {limit} bytes (genaug writes far smaller ones)")
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: corrupt {what}, not valid JSON ({err})") from None
    except RecursionError:
        raise ValueError(f"{path}: corrupt {what}, JSON nested too deeply to read (genaug writes flat ones)") from None
