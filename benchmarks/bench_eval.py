"""Wall time of `genaug eval` on a fitted digits model of every family (target: under 2 minutes on 2 cores).

Each family is fitted on the training half of the digits (``genaug fit --data digits --holdout 0.5``)
for ``--steps`` steps: what `genaug eval` costs depends on the architecture (sampling, likelihood),
not on how long it was trained. Then ``genaug eval MODEL --data digits --holdout 0.5`` runs twice in a
fresh process each (import included): the first trains the feature classifier and caches it in
``MODEL/eval/``, the second finds it there. Default settings: 100 samples per class, likelihood with
one dequantization draw, every metric, the nearest-pairs PNG.

Usage:
    python benchmarks/bench_eval.py [--families gmm diffusion] [--steps 20] [--write]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import command, machine, write_section

import genaug


def genaug_cli(*args: str) -> float:
    """Run ``genaug ARGS`` in a fresh process; seconds it took."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "genaug.cli", *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="*", default=genaug.families())
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.families:
            out = str(Path(tmp) / family)
            genaug_cli("fit", "--data", "digits", "--holdout", "0.5", "--family", family, "--steps", str(args.steps), "--out", out)
            cold = genaug_cli("eval", out, "--data", "digits", "--holdout", "0.5")
            warm = genaug_cli("eval", out, "--data", "digits", "--holdout", "0.5")
            rows.append((family, cold, warm))
            print(f"{family}: genaug eval {cold:.1f} s (classifier trained), {warm:.1f} s (cached)", flush=True)
    body = "\n".join(
        [
            "## `genaug eval` wall time (`bench_eval.py`)",
            "",
            f"Command: `{command()}`  ",
            f"Machine: {machine()}",
            "",
            "`genaug eval MODEL --data digits --holdout 0.5` in a fresh process (import included), defaults: 100 samples",
            "per class, every metric, the nearest-pairs PNG. First run: the feature classifier is trained and cached in",
            f"`MODEL/eval/`; second run: found there. Models fitted for {args.steps} steps (evaluation cost depends on the",
            "architecture, not on training length). Target: under 120 s.",
            "",
            "| family | first run (s) | cached classifier (s) |",
            "|---|---:|---:|",
            *(f"| `{family}` | {cold:.1f} | {warm:.1f} |" for family, cold, warm in rows),
        ]
    )
    print(body)
    if args.write:
        write_section("bench_eval", body)


if __name__ == "__main__":
    main()
