"""Kill -9 fault injection (issue 21): every kill point of a vae and a gan fit, of `generate_dataset` and of `genaug run`.

Each case runs its command under the driver ``tests/_faults.py``, which sends the process SIGKILL at
the named point (no ``finally`` block runs), checks what a reader finds there (the model folder
absent or loadable, only complete ``checkpoints/step_*``, the dataset absent or whole), reruns the
command (``--resume`` for fits) and compares the result with an uninterrupted run's: the final
``model.safetensors`` tensor by tensor (``torch.equal``), the dataset's Arrow table, the recipe's
metrics.json (its output folder aside), unit results and generator weights. Every process runs on
the CPU; the seconds are those of the killed run plus its rerun, each a fresh process, on whatever
share of the cores the machine gives.

    python benchmarks/bench_faults.py [--write]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _faults import (
    DATASET_POINTS,
    FAMILIES,
    FIT_POINTS,
    RECIPE,
    RUN_POINTS,
    TRAIN,  # tests/ is put on the path just above
    dataset_problems,
    differing_tensors,
    fit_problems,
    hidden,
    run_killed,
    run_problems,
    same_dataset,
    without_output,
)

try:
    from _report import command, machine, write_section
except ImportError:  # run as a module
    from benchmarks._report import command, machine, write_section

DATASET_ROWS, CHUNK = 50, 16


def fit_args(family: str, out: Path) -> list[str]:
    return ["fit", "--data", "digits", *FAMILIES[family], "--steps", "8", "--batch-size", "16", "--seed", "0", *TRAIN, "--out", str(out)]


def ok(done) -> None:
    if done.returncode != 0:
        raise RuntimeError(f"an uninterrupted run failed ({done.returncode}):\n{done.stderr[-4000:]}")


def row(point: str, what: str, killed: int, rerun: int, problems: list[str], identical: bool, left: list[str], seconds: float) -> dict:
    return {
        "point": point, "what": what, "killed": killed, "rerun": rerun, "problems": problems, "identical": identical,
        "left": left, "seconds": seconds,
    }


def fits(root: Path) -> list[dict]:
    rows = []
    for family in FAMILIES:
        full = root / f"{family}-full"
        ok(run_killed([], fit_args(family, full)))
        newest = max((full / "checkpoints").glob("step_*"))
        files = {p.name for p in newest.iterdir()}
        for index, (point, spec) in enumerate(FIT_POINTS.items()):
            out = root / f"{family}-{index}"
            start = time.perf_counter()
            killed = run_killed([spec], fit_args(family, out))
            problems = fit_problems(out, files)
            resumed = run_killed([], [*fit_args(family, out), "--resume"])
            seconds = time.perf_counter() - start
            if resumed.returncode == 0:
                problems += fit_problems(out, files)
            same = resumed.returncode == 0 and differing_tensors(full / "model.safetensors", out / "model.safetensors") == []
            rows.append(row(point, f"{family} fit", killed.returncode, resumed.returncode, problems, same, hidden(out), seconds))
    return rows


def datasets_rows(root: Path) -> list[dict]:
    import datasets

    model = root / "vae-full"  # a fitted model folder from fits()
    old, new = root / "ds-old", root / "ds-new"
    ok(run_killed([], ["generate_dataset", str(model), str(old), str(DATASET_ROWS // 2), str(CHUNK)]))
    ok(run_killed([], ["generate_dataset", str(model), str(new), str(DATASET_ROWS), str(CHUNK)]))
    reference, previous = datasets.load_from_disk(str(new)), datasets.load_from_disk(str(old))
    rows = []
    for index, (point, spec) in enumerate(DATASET_POINTS.items()):
        path = root / f"ds-{index}" / "synthetic"
        path.parent.mkdir()
        overwrite = point.startswith("overwrite")
        if overwrite:
            ok(run_killed([], ["generate_dataset", str(model), str(path), str(DATASET_ROWS // 2), str(CHUNK)]))
        command = ["generate_dataset", str(model), str(path), str(DATASET_ROWS), str(CHUNK), *(["--overwrite"] if overwrite else [])]
        start = time.perf_counter()
        killed = run_killed([spec], command)
        problems = dataset_problems(path, reference, previous)
        rerun = run_killed([], command)
        seconds = time.perf_counter() - start
        same = rerun.returncode == 0 and same_dataset(datasets.load_from_disk(str(path)), reference)
        left = hidden(path.parent)
        rows.append(row(point, "generate_dataset", killed.returncode, rerun.returncode, problems, same, left, seconds))
    return rows


def recipe_result(out: Path) -> dict:
    """What a recipe run produced, its timings and output folder aside."""
    units = {str(p.relative_to(out)): json.loads(p.read_text()) for p in sorted(out.glob("k*/seed*/**/*.json")) if "generator" not in p.parts}
    return {"metrics": without_output(json.loads((out / "metrics.json").read_text())), "units": units}


def runs(root: Path) -> list[dict]:
    recipe = root / "faults.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE))
    full = root / "run-full"
    ok(run_killed([], ["run", str(recipe), "--out", str(full), "-q"]))
    expected = recipe_result(full)
    generator = Path("k10/seed0/generator/model.safetensors")
    files = {p.name for p in max((full / generator.parent / "checkpoints").glob("step_*")).iterdir()}
    rows = []
    for index, (point, spec) in enumerate(RUN_POINTS.items()):
        out = root / f"run-{index}"
        start = time.perf_counter()
        killed = run_killed([spec], ["run", str(recipe), "--out", str(out), "-q"])
        problems = run_problems(out, files)
        rerun = run_killed([], ["run", str(recipe), "--out", str(out), "-q"])
        seconds = time.perf_counter() - start
        same = (
            rerun.returncode == 0
            and recipe_result(out) == expected
            and differing_tensors(full / generator, out / generator) == []
        )
        rows.append(row(point, "genaug run", killed.returncode, rerun.returncode, problems, same, hidden(out), seconds))
    return rows


def table(rows: list[dict]) -> list[str]:
    lines = [
        "| kill point | run | killed (rc) | rerun (rc) | what a reader found | identical to an uninterrupted run | hidden temporaries left after the rerun | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        found = "complete or absent" if not r["problems"] else "; ".join(r["problems"])
        lines.append(
            f"| {r['point']} | {r['what']} | {r['killed']} | {r['rerun']} | {found} | {'yes' if r['identical'] else '**no**'} "
            f"| {_left(r['left'])} | {r['seconds']:.1f} |"
        )
    return lines


def _left(names: list[str]) -> str:
    """Leftover temporaries, their random parts shortened: ``.model.safetensors.*.tmp``."""
    shortened = [re.sub(r"[.][a-z0-9_]{8}[.](tmp|old)", r".*.\1", name) for name in names]
    return ", ".join(f"`{name}`" for name in shortened) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="write the section into BENCHMARKS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = fits(root) + datasets_rows(root) + runs(root)
    lines = table(rows)
    print("\n".join(lines))
    body = [
        f"Command: `{command()}`",
        "",
        f"Machine: {machine()}.",
        "",
        (
            "**Kill -9 fault injection** (`tests/_faults.py` sends the process SIGKILL at the point; the rerun is the same "
            "command, with `--resume` for fits). Fits: 8 steps of a tiny vae / gan on digits, a checkpoint every 2 steps, "
            f"2 kept, validation and EMA on; `generate_dataset`: {DATASET_ROWS} rows of the vae in chunks of {CHUNK}; "
            "`genaug run`: a wine recipe whose vae generator fits 6 steps with checkpoints, two arms. Identical: the final "
            "weights bit for bit (`torch.equal`, every tensor), the dataset's Arrow table and fingerprint, the recipe's "
            "metrics.json (output folder aside), unit results and generator weights:"
        ),
        "",
        *lines,
    ]
    failed = [r for r in rows if r["killed"] != -9 or r["rerun"] != 0 or r["problems"] or not r["identical"]]
    if failed:
        print(f"{len(failed)} case(s) failed", file=sys.stderr)
    if args.write:
        write_section("faults", "\n".join(body))
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
