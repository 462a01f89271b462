"""Benchmark: a long fuzz campaign over genaug's edges (issue 21), the properties of tests/fuzz_edges.py.

tests/test_fuzz.py runs each property on a small fixed budget in CI; this runs each on ``--examples``
cases (hypothesis, random seed ``--seed``) and counts the outcomes: what was returned, what was refused
with the documented error, the known contract breaks of modules still to be fixed (``fuzz_edges.KNOWN``),
and every unexplained exception (a property that failed, with hypothesis' smallest failing case).

Usage:
    python benchmarks/bench_fuzz.py                    # 2,000 cases per property (12,000 in all), print the table
    python benchmarks/bench_fuzz.py --examples 200     # a quick look
    python benchmarks/bench_fuzz.py --write            # and update its section of BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the properties live beside the tests
from _report import machine, write_section  # noqa: E402  (benchmarks/ is the script's folder)
from fuzz_edges import KNOWN, PROPERTIES, Property  # noqa: E402

__all__ = ["campaign", "main"]


def campaign(prop: Property, examples: int, random_seed: int) -> dict[str, object]:
    """Run ``prop`` on ``examples`` generated cases; its outcome counts, the unexplained failure if any, the time."""
    outcomes: Counter[str] = Counter()

    @seed(random_seed)
    @settings(max_examples=examples, deadline=None, database=None, print_blob=False,
              suppress_health_check=list(HealthCheck))
    @given(prop.strategy)
    def run(case: object) -> None:
        outcomes[prop.check(case)] += 1

    start = time.perf_counter()
    unexplained = None
    try:
        run()
    except Exception as err:  # a broken contract: hypothesis has shrunk it to its smallest case
        unexplained = "".join(traceback.format_exception_only(type(err), err)).strip()
        unexplained = f"{unexplained} | {getattr(err, '__notes__', [''])[-1] if getattr(err, '__notes__', None) else ''}".strip(" |")
    return {"name": prop.name, "cases": sum(outcomes.values()), "outcomes": outcomes, "unexplained": unexplained,
            "seconds": time.perf_counter() - start}


def table(rows: Sequence[dict[str, object]]) -> str:
    """One row per property: cases, contract kept, refused clearly, known breaks, unexplained."""
    known = set(KNOWN.values())
    lines = ["| property | cases | contract kept | refused (documented error) | known breaks | unexplained | time (s) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        outcomes: Counter[str] = r["outcomes"]
        refused = sum(n for o, n in outcomes.items() if o.startswith(("refused", "constructor refused", "argparse")))
        broken = sum(n for o, n in outcomes.items() if o in known)
        kept = r["cases"] - refused - broken
        lines.append(f"| {r['name']} | {r['cases']:,} | {kept:,} | {refused:,} | {broken:,} | {0 if r['unexplained'] is None else 1} | {r['seconds']:.0f} |")
    total = sum(r["cases"] for r in rows)
    failed = sum(r["unexplained"] is not None for r in rows)
    lines.append(f"| **all** | **{total:,}** | | | | **{failed}** | **{sum(r['seconds'] for r in rows):.0f}** |")
    return "\n".join(lines)


def details(rows: Sequence[dict[str, object]]) -> str:
    """Every outcome's count per property, and the unexplained failures in full."""
    lines = []
    for r in rows:
        counts = ", ".join(f"{o}: {n:,}" for o, n in r["outcomes"].most_common())
        lines.append(f"- `{r['name']}`: {counts or 'no case'}")
        if r["unexplained"] is not None:
            lines.append(f"  - UNEXPLAINED: `{r['unexplained']}`")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="generated cases per property (default 2000: 12,000 in all)")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis' random seed (default 0)")
    parser.add_argument("--properties", nargs="*", default=None, metavar="NAME",
                        help=f"only these properties (default all: {', '.join(p.name for p in PROPERTIES)})")
    parser.add_argument("--write", action="store_true", help="update the bench_fuzz section of BENCHMARKS.md")
    args = parser.parse_args(argv)
    chosen = [p for p in PROPERTIES if args.properties is None or p.name in args.properties]
    if args.examples < 1 or not chosen:
        parser.error(f"--examples must be positive and --properties among {[p.name for p in PROPERTIES]}")
    rows = []
    for prop in chosen:
        rows.append(campaign(prop, args.examples, args.seed))
        print(f"{prop.name}: {rows[-1]['cases']:,} cases in {rows[-1]['seconds']:.0f} s", file=sys.stderr, flush=True)
    command = " ".join(["python benchmarks/bench_fuzz.py", *(sys.argv[1:] if argv is None else argv)])
    body = "\n".join([
        "## Fuzzing the edges (issue 21)", "",
        f"Command: `{command}`  ", f"Machine: {machine()}.", "",
        "Hypothesis draws inputs at each edge (tests/fuzz_edges.py says what each property draws and checks); a case keeps "
        "the contract, is refused with the documented error (ValueError/TypeError, RecipeError, FileNotFoundError, an "
        "argparse usage error), is a known break of a module still to fix (`fuzz_edges.KNOWN`), or is unexplained: any "
        "other exception or a broken contract (the property then stops at hypothesis' smallest failing case). Cases "
        "include the ones hypothesis reruns while shrinking.", "",
        table(rows), "", details(rows),
    ])
    sys.stdout.write(body + "\n")
    if args.write:
        write_section("bench_fuzz", body)
    return 1 if any(r["unexplained"] is not None for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
