"""Benchmark: `generate_dataset` writes large synthetic datasets with flat memory.

Each measurement is a fresh process (this script with ``--child``) that imports genaug, loads a model
folder and writes ``n`` rows with ``genaug.hf.generate_dataset``; it reports its wall time
for the call and its peak resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``: the
whole process, Python, torch and datasets included). A baseline child does the same without
generating, which shows the fixed cost. Acceptance: the peak RSS of the large run is within 20% of
the small run's.

Models: ``gmm`` fitted for ``--fit-steps`` steps (sampling cost does not depend on training length)
on digits (rows are ``Array2D`` (8, 8) float64 images), with ``--vectors`` on wine (13 numeric
columns per row) and with ``--sequences`` on MNIST-1D (one (1, 40) series per row).

Usage:
    python benchmarks/bench_generate.py                       # 20,000 and 200,000 digits
    python benchmarks/bench_generate.py --vectors 100000 1000000
    python benchmarks/bench_generate.py --sequences 20000 200000   # MNIST-1D series (issue 16)
    python benchmarks/bench_generate.py --write               # and update its section of BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import command, machine, write_section

import genaug

LIMIT = 0.20  # allowed relative difference of peak RSS between the small and the large run


def child(model: str, n: int, out: str, chunk_size: int) -> None:
    """Run in the measured process: generate (unless n == 0) and print one JSON line."""
    from genaug.hf import generate_dataset

    genaug.load(model)  # the baseline's fixed cost: imports and the model
    start = time.perf_counter()
    if n:
        generate_dataset(model, n, out, chunk_size=chunk_size, seed=0)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    disk = sum(f.stat().st_size for f in Path(out).glob("*")) / 2**20 if n else 0.0
    print(json.dumps({"seconds": seconds, "peak_mib": peak, "disk_mib": disk}))


def measure(model: Path, n: int, out: Path, chunk_size: int) -> dict[str, float]:
    """Seconds, peak RSS (MiB) and size on disk (MiB) of one fresh child process."""
    cmd = [sys.executable, __file__, "--child", str(model), str(n), str(out), str(chunk_size)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(name: str, data: str, sizes: list[int], chunk_size: int, fit_steps: int, tmp: Path) -> tuple[list[str], str]:
    """Table rows for ``data`` at each size (and the baseline), and the verdict on flatness."""
    model = tmp / f"{name}-model"
    genaug.fit(data, "gmm", steps=fit_steps, out=model, train={"checkpoint_every": 0})
    base = measure(model, 0, tmp / f"{name}-base", chunk_size)
    rows = [f"| {name} | baseline (imports + model, no rows) | | | | {base['peak_mib']:.0f} | |"]
    peaks = []
    for n in sizes:
        result = measure(model, n, tmp / f"{name}-{n}", chunk_size)
        peaks.append(result["peak_mib"])
        rows.append(
            f"| {name} | {n:,} | {result['seconds']:.1f} | {n / result['seconds']:,.0f} | "
            f"{result['peak_mib'] - base['peak_mib']:.0f} | {result['peak_mib']:.0f} | {result['disk_mib']:.1f} |"
        )
        print(rows[-1], flush=True)
    ratio = max(peaks) / min(peaks)
    verdict = (
        f"{name}: peak RSS at n={sizes[-1]:,} is {ratio:.2f}x the peak at n={sizes[0]:,} "
        f"({'within' if ratio - 1 <= LIMIT else 'OUTSIDE'} the {LIMIT:.0%} acceptance)"
    )
    print(verdict, flush=True)
    return rows, verdict


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        model, n, out, chunk_size = sys.argv[2:6]
        child(model, int(n), out, int(chunk_size))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs=2, type=int, default=[20_000, 200_000], help="small and large n of digits")
    parser.add_argument("--vectors", nargs=2, type=int, default=None, help="small and large n of wine rows (optional)")
    parser.add_argument("--sequences", nargs=2, type=int, default=None, help="small and large n of MNIST-1D series (optional)")
    parser.add_argument("--chunk-size", dest="chunk_size", type=int, default=10_000)
    parser.add_argument("--fit-steps", dest="fit_steps", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    table = [
        "| data | rows | time (s) | rows/s | peak RSS over baseline (MiB) | peak RSS (MiB) | on disk (MiB) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    verdicts = []
    with tempfile.TemporaryDirectory() as folder:
        runs = [("digits", "digits", args.sizes)] + ([("wine", "wine", args.vectors)] if args.vectors else [])
        runs += [("mnist1d", "mnist1d", args.sequences)] if args.sequences else []
        for name, data, sizes in runs:
            rows, verdict = run(name, data, sorted(sizes), args.chunk_size, args.fit_steps, Path(folder))
            table += rows
            verdicts.append(verdict)
    body = "\n".join(
        [
            "## Writing synthetic datasets to disk (`bench_generate.py`)",
            "",
            f"Command: `{command()}`  ",
            f"Machine: {machine()}",
            "",
            f"`generate_dataset(model, n, path, chunk_size={args.chunk_size})` with a `gmm` model fitted for "
            f"{args.fit_steps} steps, each run in a fresh process; peak RSS is the process's `ru_maxrss` (Python,",
            "torch and datasets included; the baseline row loads the model and writes nothing). Digits are written as",
            "an `Array2D` (8, 8) float64 column, wine as 13 float64 columns, MNIST-1D (the sequence modality, 4,000",
            "training series) as a (1, 40) float64 series column; every row also has a `ClassLabel` label",
            "and `is_synthetic`. Memory holds one chunk and the pool's refills, whatever n is.",
            "",
            *table,
            "",
            *[f"- {v}" for v in verdicts],
        ]
    )
    print(body)
    if args.write:
        write_section("bench_generate", body)


if __name__ == "__main__":
    main()
