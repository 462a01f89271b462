"""Benchmark: fast (queue) WaveNet generation against the naive recompute-the-prefix loop.

A default-size `genaug.nn.wavenet.WaveNet` (10 blocks, dilations 1..512, 64 residual/skip/head
channels; random weights: speed does not depend on training) with a categorical over 256 levels and
a 10-class one-hot condition generates ``--samples`` sequences of ``--length`` steps in float32 on
``--threads`` CPU threads.

* ``sample`` (Paine et al. 2016) is timed in full.
* ``sample_naive`` runs the whole forward pass over the prefix at every step, so its step t costs
  about a + b*t. It is too slow to run in full: the script times single naive steps (one
  `WaveNet.features` call over a prefix of length t, all samples in one batch, exactly what the naive
  loop does at step t) at several t up to the full length, fits a + b*t by least squares and sums it
  over t = 0..length-1. To check the model, it also runs ``sample_naive`` end to end on a short
  length and compares with the model's prediction for that length.
* Both samplers must give identical samples: checked at ``--check-length`` under one seed.

Usage:
    python benchmarks/bench_wavenet_generation.py                   # 1,000 x 2,000 on 2 threads
    python benchmarks/bench_wavenet_generation.py --samples 100 --length 500 --steps 100 250 500
"""

from __future__ import annotations

import argparse
import time

import torch
from _report import command, machine

from genaug.nn.wavenet import WaveNet

LEVELS, CLASSES = 256, 10


def categorical_draw(seed: int):
    """Gumbel-max draw of a bin centre in [-1, 1] from 256 logits, with its own generator."""
    g = torch.Generator().manual_seed(seed)

    def draw(logits: torch.Tensor) -> torch.Tensor:
        u = torch.rand(logits.shape, generator=g, dtype=logits.dtype).clamp(1e-12, 1.0 - 1e-7)
        k = (logits - torch.log(-torch.log(u))).argmax(-1)
        return (k + 0.5) / LEVELS * 2.0 - 1.0

    return draw


def one_hot(n: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.arange(n) % CLASSES, CLASSES).float()


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@torch.no_grad()
def naive_step_seconds(net: WaveNet, n: int, t: int, repeats: int) -> float:
    """Best of ``repeats`` timings of the naive loop's work at step t: the trunk over t+1 steps."""
    x, cond = torch.rand(n, t + 1, 1) * 2 - 1, one_hot(n)
    return min(seconds(lambda: net.features(x, cond)[:, t]) for _ in range(repeats))


def fit_linear(ts: list[int], ys: list[float]) -> tuple[float, float]:
    """Least-squares a, b of y = a + b*t."""
    design = torch.tensor([[1.0, t] for t in ts], dtype=torch.float64)
    sol = torch.linalg.lstsq(design, torch.tensor(ys, dtype=torch.float64)[:, None]).solution
    return sol[0, 0].item(), sol[1, 0].item()


def predicted_naive(a: float, b: float, length: int) -> float:
    """Sum of a + b*t over the steps t = 0..length-1."""
    return a * length + b * length * (length - 1) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--length", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, nargs="+", default=[250, 500, 1000, 2000], help="t of timed naive steps")
    parser.add_argument("--repeats", type=int, default=2, help="timings per naive step (best kept)")
    parser.add_argument("--short", type=int, default=32, help="length of the end-to-end naive run")
    parser.add_argument("--check-length", dest="check_length", type=int, default=256)
    parser.add_argument("--check-samples", dest="check_samples", type=int, default=8)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = WaveNet(1, LEVELS, cond_dim=CLASSES).eval()
    n, length = args.samples, args.length
    print(f"# {machine()}; {torch.get_num_threads()} threads\n# {command()}", flush=True)
    cache_mib = sum(b.dilation * b.width for b in net.blocks) * n * 4 / 2**20

    # equality of the two samplers
    cond = one_hot(args.check_samples)
    fast = net.sample(args.check_length, cond, categorical_draw(1))
    naive = net.sample_naive(args.check_length, cond, categorical_draw(1))
    equal = torch.equal(fast, naive)
    print(f"fast == naive at length {args.check_length}, {args.check_samples} samples, seed 1: {equal}", flush=True)

    # fast: in full
    fast_s = seconds(lambda: net.sample(length, one_hot(n), categorical_draw(0)))
    print(f"fast: {fast_s:.1f} s", flush=True)

    # naive: single steps at several t, a + b*t fitted, summed; checked on a short end-to-end run
    steps = [t for t in args.steps if t < length] + ([length - 1] if length - 1 not in args.steps else [])
    step_s = []
    for t in steps:
        step_s.append(naive_step_seconds(net, n, t, args.repeats))
        print(f"naive step t={t}: {step_s[-1]:.3f} s", flush=True)
    a, b = fit_linear(steps, step_s)
    short_s = seconds(lambda: net.sample_naive(args.short, one_hot(n), categorical_draw(0)))
    naive_s = predicted_naive(a, b, length)

    rows = [
        "| sampler | what was run | seconds | per step (ms) |",
        "|---|---|---|---|",
        f"| `sample` (queues) | {n:,} x {length:,}, in full | {fast_s:.1f} | {1e3 * fast_s / length:.1f} |",
        *(
            f"| `sample_naive` | one step at t={t:,} ({n:,} samples, prefix {t + 1:,}) | {s:.3f} | {1e3 * s:.0f} |"
            for t, s in zip(steps, step_s)
        ),
        f"| `sample_naive` | {n:,} x {args.short}, in full (model a + b*t predicts "
        f"{predicted_naive(a, b, args.short):.1f} s) | {short_s:.1f} | {1e3 * short_s / args.short:.0f} |",
        f"| `sample_naive` | {n:,} x {length:,}, **extrapolated**: sum over t of a + b*t | {naive_s:,.0f} | "
        f"{1e3 * naive_s / length:,.0f} |",
    ]
    print("\n".join(rows))
    print(
        f"\nnaive step model: a = {1e3 * a:.1f} ms, b = {1e6 * b:.1f} us per prefix step "
        f"(fitted on t = {', '.join(map(str, steps))})\n"
        f"speed-up of `sample` at {n:,} x {length:,}: {naive_s / fast_s:,.0f}x (naive extrapolated)\n"
        f"`sample` caches: {cache_mib:.0f} MiB of queues (sum of dilations x N x residual, float32), "
        f"independent of the length\n"
        f"fast == naive at length {args.check_length}: {equal}"
    )


if __name__ == "__main__":
    main()
