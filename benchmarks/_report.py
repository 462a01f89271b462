"""Shared by the benchmark scripts: machine facts and marked sections of BENCHMARKS.md."""

from __future__ import annotations

import os
import platform
import re
import sys
from pathlib import Path

import torch

from genaug.utils.io import atomic_write_text

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def machine() -> str:
    """One line naming the hardware and software the numbers came from."""
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU only, {os.cpu_count()} cores"
    return f"{device}; Python {platform.python_version()}, torch {torch.__version__}, {platform.system()} {platform.machine()}"


def command() -> str:
    return "python " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:])


def write_section(name: str, body: str, path: Path = BENCHMARKS) -> None:
    """Replace (or append) the text between ``<!-- name:start -->`` and ``<!-- name:end -->``."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block + "\n"
    atomic_write_text(path, text)
