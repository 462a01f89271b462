"""Benchmark: `generate_dataset` by 1 and by 2 processes (``torchrun``): rows/s, peak memory, equal rows.

Each measurement is a fresh ``torchrun --nproc_per_node K`` job running this script with ``--child``:
every process imports genaug, joins a gloo group (K > 1), waits at a barrier, then times the
``genaug.hf.generate_dataset`` call (model loading, its rows, the wait for the other process, the
metadata and the rename included) and writes its seconds, torch's thread count and its peak resident
set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``: the whole process, Python, torch and
datasets included) to a side file. The job's time is its slowest process's. Each launch keeps
torchrun's default threads: one process uses every core, two use one each (``OMP_NUM_THREADS=1``).
Last, the two datasets are compared row for row (their Arrow tables).

Usage:
    python benchmarks/bench_generate_distributed.py                      # 200,000 digits rows, gmm and vae
    python benchmarks/bench_generate_distributed.py -n 50000 --families gmm
    python benchmarks/bench_generate_distributed.py --write              # and update its section of BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import command, machine, write_section

import genaug

TORCHRUN = Path(sys.executable).with_name("torchrun")


def child(model: str, n: int, out: str, side: str, batch_size: int) -> None:
    """Run in each measured process: time one `generate_dataset` call, write a JSON side file."""
    import torch
    import torch.distributed as dist

    from genaug.hf import generate_dataset

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group("gloo")
        dist.barrier()  # start the clocks together
    rank = int(os.environ.get("RANK", "0"))
    start = time.perf_counter()
    generate_dataset(model, n, out, seed=0, batch_size=batch_size)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    Path(side, f"rank{rank}.json").write_text(json.dumps({"seconds": seconds, "peak_mib": peak, "threads": torch.get_num_threads()}))
    if dist.is_initialized():
        dist.destroy_process_group()


def launch(processes: int, model: Path, n: int, out: Path, batch_size: int) -> list[dict]:
    """One torchrun job of ``processes`` processes; each process's side file."""
    side = Path(tempfile.mkdtemp(prefix="side-", dir=out.parent))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [str(TORCHRUN), "--nproc_per_node", str(processes), "--master_port", str(port), __file__,
           "--child", str(model), str(n), str(out), str(side), str(batch_size)]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return [json.loads(Path(side, f"rank{r}.json").read_text()) for r in range(processes)]


def run(family: str, data: str, n: int, batch_size: int, fit_steps: int, tmp: Path) -> tuple[list[str], str]:
    """Table rows of one model, 1 then 2 processes, and whether their rows are equal."""
    import datasets

    model = tmp / f"{family}-model"
    genaug.fit(data, family, steps=fit_steps, out=model, train={"checkpoint_every": 0, "progress": False})
    table, rates = [], {}
    for processes in (1, 2):
        ranks = launch(processes, model, n, tmp / f"{family}-{processes}", batch_size)
        seconds = max(r["seconds"] for r in ranks)
        rates[processes] = n / seconds
        peaks = " / ".join(f"{r['peak_mib']:.0f}" for r in ranks)
        threads = " / ".join(str(r["threads"]) for r in ranks)
        speedup = "1.00x" if processes == 1 else f"{rates[2] / rates[1]:.2f}x"
        table.append(f"| {data} {family} | {n:,} | {processes} | {threads} | {seconds:.1f} | {rates[processes]:,.0f} | {speedup} | {peaks} |")
        print(table[-1], flush=True)
    one, two = (datasets.load_from_disk(str(tmp / f"{family}-{k}")).data.table for k in (1, 2))
    equal = one.equals(two)
    verdict = f"{data} {family}: the 2-process dataset {'equals' if equal else 'DIFFERS FROM'} the 1-process one row for row ({n:,} rows)"
    print(verdict, flush=True)
    return table, verdict


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        model, n, out, side, batch_size = sys.argv[2:7]
        child(model, int(n), out, side, int(batch_size))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200_000, help="rows per dataset")
    parser.add_argument("--data", default="digits")
    parser.add_argument("--families", nargs="+", default=["gmm", "vae"])
    parser.add_argument("--batch-size", dest="batch_size", type=int, default=1024)
    parser.add_argument("--fit-steps", dest="fit_steps", type=int, default=5, help="sampling cost does not depend on training length")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    table = [
        "| model | rows | processes | torch threads per process | time (s) | rows/s | speed-up | peak RSS per process (MiB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    verdicts = []
    with tempfile.TemporaryDirectory() as folder:
        for family in args.families:
            rows, verdict = run(family, args.data, args.n, args.batch_size, args.fit_steps, Path(folder))
            table += rows
            verdicts.append(verdict)
    body = "\n".join(
        [
            "## Synthetic datasets by several processes (`bench_generate_distributed.py`)",
            "",
            f"Command: `{command()}`  ",
            f"Machine: {machine()}",
            "",
            f"`generate_dataset(model, n, path, seed=0, batch_size={args.batch_size})` in every process of a `torchrun",
            "--nproc_per_node K` job (K = 1, 2; gloo, CPU). Each process writes a contiguous share of the rows as its own",
            "Arrow shards, entering the pool's per-class streams where its share starts; rank 0 lists the shards in row",
            "order and moves the folder into place. Time: from a barrier to the slowest process's return (model loading",
            f"included); models fitted for {args.fit_steps} steps (sampling cost does not depend on training length).",
            "Peak RSS is each process's `ru_maxrss` (Python, torch and datasets included), rank 0 first.",
            "",
            *table,
            "",
            *[f"- {v}" for v in verdicts],
        ]
    )
    print(body)
    if args.write:
        write_section("bench_generate_distributed", body)


if __name__ == "__main__":
    main()
