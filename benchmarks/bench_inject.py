"""Injection speed on digits: cost of a synthetic sample per family, and `genaug.mix` throughput.

1. Cost per synthetic sample: one ``SamplePool`` refill, i.e. ``model.sample(n)`` for ``n`` samples of
   one class, median of ``--repeats`` timed calls after one untimed call, for every family with its
   default architecture. Sampling cost does not depend on how long a model was trained, so each
   model is fitted for ``--fit-steps`` steps only.
2. Loader throughput at steady state: samples/s of a plain ``DataLoader`` over the 1797 digits
   (``TensorDataset``, shuffled) and of ``genaug.mix(loader, pool, ratio=0.5)`` over the same loader
   at the same batch size, for VAE and diffusion (DDIM) pools, without workers (mixing in the main
   process) and with ``--workers`` persistent fork workers (mixing in the workers, one pool each).
   Steady state: the pool's first refill of every class and the prefetched next one are drawn (in
   each worker, by its ``worker_init_fn``), and one epoch runs, before timing; each figure is the
   median of ``--windows`` windows of ``--seconds`` seconds. Pools prefetch in a background thread;
   ``reuse`` (how many times each drawn sample is served) sets the share of fresh samples.

Usage:
    python benchmarks/bench_inject.py [--families vae diffusion] [--pools vae:1:1024] [--write]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from _report import command, machine, write_section
from torch.utils.data import DataLoader, TensorDataset

import genaug


def cost_per_sample(model: genaug.Generator, n: int, repeats: int) -> float:
    """Seconds per sample of one refill of ``n`` samples of class 0 (median over repeats)."""
    labels = torch.zeros(n, dtype=torch.long)
    times = []
    for i in range(repeats + 1):
        generator = torch.Generator().manual_seed(i)
        start = time.perf_counter()
        model.sample(n, labels=labels, generator=generator)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:]) / n


def throughput(loader, seconds: float, windows: int) -> float:
    """Median samples/s over ``windows`` windows, after one untimed epoch."""
    for _ in loader:
        pass
    rates = []
    for _ in range(windows):
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for batch in loader:
                count += len(batch[1])
        rates.append(count / (time.perf_counter() - start))
    return statistics.median(rates)


class _WarmInWorker:
    """worker_init_fn: draw the pool's first refills and wait for the prefetched ones (fork workers share the object)."""

    def __init__(self, pool: genaug.SamplePool | None) -> None:
        self.pool = pool

    def __call__(self, worker_id: int) -> None:
        if self.pool is not None:
            self.pool.warm().wait()


def make_loader(digits, batch_size: int, workers: int, pool: genaug.SamplePool | None = None) -> DataLoader:
    options = dict(num_workers=workers, persistent_workers=True, multiprocessing_context="fork", worker_init_fn=_WarmInWorker(pool)) if workers else {}
    return DataLoader(
        TensorDataset(digits.user_x().float(), digits.y), batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(0), **options
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="*", default=genaug.families(), help="families whose cost per sample is measured")
    parser.add_argument("--fit-steps", type=int, default=20)
    parser.add_argument("--refill", type=int, default=1024, help="samples per refill for the cost table")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-sizes", nargs="*", type=int, default=[64, 128, 256], help="loader batch sizes")
    parser.add_argument("--workers", nargs="*", type=int, default=[0, 2], help="loader worker counts (0: main process)")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument(
        "--pools",
        nargs="*",
        default=["vae:1:1024", "vae:32:1024", "diffusion:16384:64"],
        help="family:reuse:refill pools feeding genaug.mix",
    )
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    pools = [(f, int(r), int(b)) for f, r, b in (item.split(":") for item in args.pools)]
    digits = genaug.load_source("digits")
    costs, folders = {}, {}
    mixed = []
    with tempfile.TemporaryDirectory() as tmp:
        for family in dict.fromkeys(args.families + [f for f, _, _ in pools]):
            folders[family] = Path(tmp) / family
            model = genaug.fit(digits, family, steps=args.fit_steps, out=folders[family], train={"checkpoint_every": 0, "sample_every": 0})
            if family in args.families:
                costs[family] = cost_per_sample(model.eval(), args.refill, args.repeats)
                print(f"{family}: {costs[family] * 1e3:.3f} ms per sample", flush=True)
        for batch_size in args.batch_sizes:
            for workers in args.workers:
                plain = throughput(make_loader(digits, batch_size, workers), args.seconds, args.windows)
                print(f"batch {batch_size}, {workers} workers, plain loader: {plain:,.0f} samples/s", flush=True)
                for family, reuse, refill in pools:
                    with genaug.SamplePool(folders[family], batch_size=refill, seed=0, reuse=reuse) as pool:
                        if not workers:
                            pool.warm().wait()
                        mixed_loader = genaug.mix(make_loader(digits, batch_size, workers, pool), pool, ratio=0.5)
                        assert mixed_loader.in_workers == bool(workers)
                        rate = throughput(mixed_loader, args.seconds, args.windows)
                        del mixed_loader  # stops its persistent workers
                    mixed.append((batch_size, workers, plain, family, reuse, refill, rate))
                    print(f"batch {batch_size}, {workers} workers, mix {family} reuse={reuse}: {rate:,.0f} samples/s ({rate / plain:.2f}x)", flush=True)
    body = "\n".join(
        [
            "## Injection speed (`bench_inject.py`)",
            "",
            f"Command: `{command()}`  ",
            f"Machine: {machine()}",
            "",
            f"Cost per synthetic sample: one pool refill (`model.sample` of {args.refill} samples of one class), median of",
            f"{args.repeats} calls after a warm-up call; default architectures (models fitted for {args.fit_steps} steps: sampling",
            "cost does not depend on training length).",
            "",
            "| family | ms per sample | samples/s |",
            "|---|---:|---:|",
            *(f"| `{f}` | {c * 1e3:.3f} | {1 / c:,.0f} |" for f, c in costs.items()),
            "",
            "Loader throughput at steady state on the 1797 digits (`TensorDataset`, shuffled): median of",
            f"{args.windows} windows of {args.seconds:g} s after a warm-up epoch; each pool's first refill of every class and",
            "the prefetched next one are drawn before timing. Workers: 0 = no worker processes, `mix` mixes in the main",
            "process; otherwise persistent fork workers, and `mix` mixes inside them (one pool per worker). `reuse`:",
            "times each drawn sample is served (fresh share = 1 / reuse); with reuse 1 the mixed stream runs at most at",
            "twice the rate at which the workers (or the main process) generate.",
            "",
            "| batch size | workers | loader | pool refill | samples/s | vs plain |",
            "|---:|---:|---|---:|---:|---:|",
        ]
        + [
            line
            for batch_size in args.batch_sizes
            for workers in args.workers
            for line in [
                f"| {batch_size} | {workers} | plain `DataLoader` | | {next(p for b, w, p, *_ in mixed if (b, w) == (batch_size, workers)):,.0f} | 1.00x |",
                *(
                    f"| {b} | {w} | `mix(ratio=0.5)`, `{f}` pool, reuse={r} | {n} | {rate:,.0f} | {rate / p:.2f}x |"
                    for b, w, p, f, r, n, rate in mixed
                    if (b, w) == (batch_size, workers)
                ),
            ]
        ]
    )
    print(body)
    if args.write:
        write_section("bench_inject", body)


if __name__ == "__main__":
    main()
