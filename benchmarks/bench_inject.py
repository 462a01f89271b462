"""Injection speed on digits: cost of a synthetic sample per family, and `genaug.mix` throughput.

1. Cost per synthetic sample: one ``SamplePool`` refill, i.e. ``model.sample(n)`` for ``n`` samples of
   one class, median of ``--repeats`` timed calls after one untimed call, for every family with its
   default architecture. Sampling cost does not depend on how long a model was trained, so each
   model is fitted for ``--fit-steps`` steps only.
2. Loader throughput at steady state: samples/s of a plain ``DataLoader`` over the 1797 digits
   (``TensorDataset``, shuffled) and of ``genaug.mix(loader, pool, ratio=0.5)`` over the same loader
   at the same batch size, for VAE and diffusion (DDIM) pools, in both modes (``replace``: half of
   each loaded batch replaced; ``extend``: batches re-cut to half as many real samples and filled up
   with synthetic ones), without workers (mixing in the main process) and with ``--workers``
   persistent fork workers (mixing in the workers, one pool each). Within each window the plain
   and the mixed loader alternate epoch by epoch, so a drift of the machine's speed (2 shared
   cores) hits both: "vs plain" is the median over windows of mixed / plain.
   Steady state: the pool's first refill of every class and the prefetched next one are drawn (in
   each worker, by its ``worker_init_fn``), and one epoch of each runs, before timing; each figure
   is the median of ``--windows`` windows of ``--seconds`` seconds. Pools prefetch in a background thread;
   ``reuse`` (how many times each drawn sample is served) sets the share of fresh samples.

Usage:
    python benchmarks/bench_inject.py [--families vae diffusion] [--pools vae:1:1024] [--modes replace extend] [--write]
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


def epoch(loader) -> tuple[int, float]:
    """(samples, seconds) of one pass over ``loader``."""
    count, start = 0, time.perf_counter()
    for batch in loader:
        count += len(batch[1])
    return count, time.perf_counter() - start


def paired_throughput(plain, mixed, seconds: float, windows: int) -> tuple[float, float, float]:
    """(plain, mixed samples/s, mixed / plain): medians over ``windows`` windows of about ``seconds``.

    Within a window the two loaders alternate epoch by epoch, so a change of the machine's speed
    (2 shared cores drift by tens of percent within seconds) hits both alike. One untimed epoch each first.
    """
    for loader in (plain, mixed):
        epoch(loader)
    plain_rates, mixed_rates = [], []
    for _ in range(windows):
        totals = [0, 0.0, 0, 0.0]
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            for i, loader in ((0, plain), (2, mixed)):
                n, t = epoch(loader)
                totals[i] += n
                totals[i + 1] += t
        plain_rates.append(totals[0] / totals[1])
        mixed_rates.append(totals[2] / totals[3])
    ratios = [m / p for p, m in zip(plain_rates, mixed_rates)]
    return statistics.median(plain_rates), statistics.median(mixed_rates), statistics.median(ratios)


def alone_throughput(loader, seconds: float, windows: int) -> float:
    """Median samples/s of ``loader`` over ``windows`` windows of whole epochs, with no pool alive in the process."""
    epoch(loader)
    rates = []
    for _ in range(windows):
        count, elapsed = 0, 0.0
        while elapsed < seconds / 2:
            n, t = epoch(loader)
            count, elapsed = count + n, elapsed + t
        rates.append(count / elapsed)
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
    parser.add_argument("--seconds", type=float, default=4.0, help="length of a window (plain and mixed together)")
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument(
        "--pools",
        nargs="*",
        default=["vae:1:1024", "vae:32:1024", "diffusion:16384:64"],
        help="family:reuse:refill pools feeding genaug.mix",
    )
    parser.add_argument("--modes", nargs="*", default=["replace", "extend"], help="genaug.mix modes")
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
                plain_loader = make_loader(digits, batch_size, workers)
                alone = alone_throughput(plain_loader, args.seconds, args.windows)
                print(f"batch {batch_size}, {workers} workers, plain loader alone: {alone:,.0f} samples/s", flush=True)
                for family, reuse, refill in pools:
                    for mode in args.modes:
                        with genaug.SamplePool(folders[family], batch_size=refill, seed=0, reuse=reuse) as pool:
                            if not workers:
                                pool.warm().wait()
                            mixed_loader = genaug.mix(make_loader(digits, batch_size, workers, pool), pool, ratio=0.5, mode=mode)
                            assert mixed_loader.in_workers == bool(workers)
                            plain, rate, ratio = paired_throughput(plain_loader, mixed_loader, args.seconds, args.windows)
                            del mixed_loader  # stops its persistent workers
                        mixed.append((batch_size, workers, family, reuse, refill, mode, alone, plain, rate, ratio))
                        print(
                            f"batch {batch_size}, {workers} workers, mix {mode} {family} reuse={reuse}: "
                            f"{rate:,.0f} samples/s, plain {plain:,.0f} ({ratio:.2f}x)",
                            flush=True,
                        )
                del plain_loader
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
            "Loader throughput at steady state on the 1797 digits (`TensorDataset`, shuffled): medians over",
            f"{args.windows} windows of about {args.seconds:g} s in which the plain and the mixed loader alternate epoch by epoch",
            "(the 2 cores' speed drifts by tens of percent within seconds; alternating, the drift hits both), after a",
            "warm-up epoch of each; \"vs plain\": median over the windows of mixed / plain. Each pool's first refill of",
            "every class and the prefetched next one are drawn before timing. Workers: 0 = no worker processes, `mix`",
            "mixes in the main process; otherwise persistent fork workers, and `mix` mixes inside them (one pool per",
            "worker). `reuse`: times each drawn sample is served (fresh share = 1 / reuse); with reuse 1 the mixed stream runs at most at",
            "twice the rate at which the workers (or the main process) generate. Modes: `replace` replaces half of each",
            "loaded batch; `extend` re-cuts the loader to half-size batches and fills them up with synthetic samples",
            "(every real sample kept, twice the batches per epoch). \"plain alone\": the plain loader measured before any",
            "pool of that configuration exists. A pool keeps drawing its next refill in the background (in each worker",
            "too) while the plain loader's epochs of a window run, so where refills are frequent (reuse=1) the paired",
            "plain figure is slowed and \"vs plain\" flatters the mixed loader: compare those rows with \"plain alone\".",
            "",
            "| batch size | workers | mixed loader | pool refill | samples/s | plain alone | plain, paired | vs plain (paired) |",
            "|---:|---:|---|---:|---:|---:|---:|---:|",
        ]
        + [
            f"| {b} | {w} | `mix(ratio=0.5, mode={m!r})`, `{f}` pool, reuse={r} | {n} | {rate:,.0f} | {alone:,.0f} | {plain:,.0f} | {ratio:.2f}x |"
            for b, w, f, r, n, m, alone, plain, rate, ratio in mixed
        ]
    )
    print(body)
    if args.write:
        write_section("bench_inject", body)


if __name__ == "__main__":
    main()
