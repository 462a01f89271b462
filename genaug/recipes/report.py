"""The report of a recipe run: one self-contained ``report.html`` (images embedded) and its plots as PNGs.

The page reads ``metrics.json`` as the runner wrote it (see `genaug.recipes.runner`) and nothing else
but the PNGs it names and the generators' ``metrics.jsonl`` logs, so a report can be rebuilt from a
finished run folder. Every string from the run is HTML-escaped; every image is a ``data:`` URI, so
the one file can be mailed or attached to an issue.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from genaug.recipes.stats import summarize
from genaug.utils.io import atomic_path, atomic_write_text

__all__ = ["CHROMIUM", "render_in_chromium", "render_summary_text", "write_report"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_DASH = "–"  # shown for a metric that was not measured

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       max-width: 1180px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.meta, .note, figcaption { color: #666; } .note { font-style: italic; }
ul.verdicts li { margin: 0.2em 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5em 0 1.2em; font-size: 0.92em; }
th, td { padding: 0.3em 0.7em; border-bottom: 1px solid #e3e3e3; text-align: left; white-space: nowrap; }
th { background: #f5f5f5; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.helped { color: #1a7f37; font-weight: 600; } .hurt { color: #c62828; font-weight: 600; }
figure { display: inline-block; margin: 0.4em 1.2em 1em 0; vertical-align: top; }
figcaption { font-size: 0.85em; }
img { max-width: 100%; } img.pixels { image-rendering: pixelated; }
pre { background: #f6f8fa; padding: 1em; overflow-x: auto; font-size: 0.85em; }
"""


def write_report(out_dir: str | os.PathLike, metrics: dict[str, Any], timings: dict[str, Any] | None = None) -> Path:
    """Write ``out_dir/report.html`` for a recipe run, and its plots into ``out_dir/plots/``.

    Args:
        out_dir: the run's output folder; the PNG paths in ``metrics`` are relative to it.
        metrics: the run's ``metrics.json`` as a dict (``summary`` is computed when absent).
        timings: the run's ``timings.json`` as a dict (``total_seconds``, ``units``), or None.

    Returns:
        The path of the report. Missing PNGs or generator logs leave a note, never an error.

    Example:
        >>> metrics = {"name": "demo", "arms": ["none", "classic"], "shots": [5], "seeds": [0, 1],
        ...            "results": [{"shots": 5, "seed": s, "arm": a, "accuracy": 0.8 + 0.01 * s + 0.02 * (a != "none")}
        ...                        for s in (0, 1) for a in ("none", "classic")]}
        >>> import tempfile
        >>> path = write_report(tempfile.mkdtemp(), metrics)
        >>> path.name, "<table>" in path.read_text()
        ('report.html', True)
    """
    out_dir = Path(out_dir)
    summary = _summary(metrics)
    sections = [
        _header_section(metrics, summary),
        _metrics_section(metrics, summary),
        _per_class_section(metrics, summary),
        _generator_section(metrics),
        _filters_section(metrics),
        _images_section(
            "Samples per class", "One row per class, as each generator drew them.", metrics, "grid", out_dir
        ),
        _text_samples_section(metrics),
        _images_section(
            "Nearest training neighbours",
            "Samples beside the training record closest to them, the closest first: of every sample the evaluation drew, "
            "before any filter (a near-copy filter drops the closest of them).",
            metrics,
            "pairs",
            out_dir,
        ),
        _curves_section(metrics, out_dir),
        _timings_section(timings),
        _recipe_section(metrics),
    ]
    title = f"genaug report: {metrics.get('name', 'recipe run')}"
    page = (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{_e(title)}</title>\n'
        f"<style>{_STYLE}</style>\n</head>\n<body>\n" + "\n".join(s for s in sections if s) + "\n</body>\n</html>\n"
    )
    path = out_dir / "report.html"
    atomic_write_text(path, page)
    return path


def render_summary_text(metrics: dict[str, Any]) -> str:
    """The verdict lines and the metrics table of the report, as plain text (for a terminal).

    Example:
        >>> metrics = {"name": "demo", "arms": ["none", "classic"],
        ...            "results": [{"shots": 5, "seed": s, "arm": a, "accuracy": 0.8 + 0.01 * s + 0.02 * (a != "none")}
        ...                        for s in (0, 1) for a in ("none", "classic")]}
        >>> print(render_summary_text(metrics).splitlines()[1])
        At k=5, classic: +2.0 points (95% CI +2.0 to +2.0), helped
    """
    summary = _summary(metrics)
    header, rows = _metrics_table(summary, _baseline(metrics))
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    aligns = _metrics_aligns(len(header))

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(cells, widths, aligns)).rstrip()

    table = [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]
    return "\n".join(
        [
            f"{metrics.get('name', 'recipe run')}: downstream accuracy",
            *_verdict_lines(summary, _baseline(metrics)),
            "",
            *table,
        ]
    )


# ----------------------------------------------------------------------------- summary and verdicts


def _summary(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The stored ``summary`` rows, or rows computed from ``results`` when the run stored none."""
    if not isinstance(metrics, dict):
        raise TypeError(f"metrics: expected the dict of a metrics.json, got {type(metrics).__name__}")
    for key in ("arms", "results"):
        if key not in metrics:
            raise ValueError(f"metrics: expected a {key!r} entry, got keys {sorted(metrics)}")
    if metrics.get("summary"):
        return metrics["summary"]
    return summarize(metrics["results"], metrics["arms"], _baseline(metrics))


def _baseline(metrics: dict[str, Any]) -> str | None:
    baseline = metrics.get("baseline", "none")
    return baseline if baseline in metrics["arms"] else None


def _shots_label(shots: Any) -> str:
    return "all labels" if shots == "all" else f"k={shots}"


def _verdict_lines(summary: list[dict[str, Any]], baseline: str | None) -> list[str]:
    """Per shots, one sentence per arm compared with the baseline (or the best arm without one)."""
    lines = []
    for shots in dict.fromkeys(row["shots"] for row in summary):
        rows = [row for row in summary if row["shots"] == shots]
        where = "With all labels" if shots == "all" else f"At k={shots}"
        compared = [row for row in rows if row.get("vs_baseline")]
        if not compared:
            best = max(rows, key=lambda row: row["accuracy_mean"])
            reason = "no baseline arm" if baseline is None else f"no arm paired with {baseline}"
            lines.append(f"{where}: {reason}; best mean accuracy {best['arm']} ({_pct(best['accuracy_mean'])}%)")
        for row in compared:
            diff = row["vs_baseline"]
            lines.append(
                f"{where}, {row['arm']}: {_points(diff['mean'])} points ({_interval_text(diff)}), {row['verdict']}"
            )
    return lines


def _interval_text(diff: dict[str, Any]) -> str:
    if diff.get("ci") is None:
        return f"{diff['n']} seed, no interval"
    level = round(100 * diff.get("confidence", 0.95))
    return f"{level}% CI {_points(diff['ci'][0])} to {_points(diff['ci'][1])}"


def _metrics_table(summary: list[dict[str, Any]], baseline: str | None) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the metrics table, shared by the HTML and the text summary."""
    against = baseline if baseline is not None else "baseline"
    header = ["shots", "arm", "accuracy (%)", f"vs {against} (points)", "95% CI", "wins/n", "verdict"]
    rows = []
    for row in summary:
        diff = row.get("vs_baseline")
        ci = (
            _DASH if diff is None or diff.get("ci") is None else f"{_points(diff['ci'][0])} to {_points(diff['ci'][1])}"
        )
        rows.append(
            [
                _shots_label(row["shots"]),
                str(row["arm"]),
                f"{_pct(row['accuracy_mean'])} ± {_pct(row['accuracy_std'])}",
                _DASH if diff is None else _points(diff["mean"]),
                ci,
                _DASH if diff is None else f"{diff['wins']}/{diff['n']}",
                row.get("verdict") or _DASH,
            ]
        )
    return header, rows


def _metrics_aligns(n: int) -> str:
    return "ll" + "r" * (n - 3) + "l"


# ----------------------------------------------------------------------------- HTML sections


def _header_section(metrics: dict[str, Any], summary: list[dict[str, Any]]) -> str:
    data = metrics.get("data") or {}
    shape = "×".join(str(s) for s in data.get("shape") or [])
    described = ", ".join(str(part) for part in (data.get("modality", _DASH), shape) if part)
    facts = [
        f"data: {data.get('source', _DASH)} ({described}, {len(data.get('class_names') or [])} classes)",
        f"training pool: {data.get('n_train_pool', _DASH)}",
        f"test set: {data.get('n_test', _DASH)}",
        f"seeds: {', '.join(str(s) for s in metrics.get('seeds') or []) or _DASH}",
    ]
    verdicts = "".join(f"<li>{_verdict_html(line)}</li>" for line in _verdict_lines(summary, _baseline(metrics)))
    return (
        f'<h1>{_e(metrics.get("name", "recipe run"))}</h1>\n<p class="meta">{_e(" · ".join(facts))}</p>\n'
        f'<ul class="verdicts">{verdicts}</ul>'
    )


def _verdict_html(text: str) -> str:
    """An escaped verdict line with its closing word coloured."""
    for word in ("helped", "hurt"):
        if text.endswith(f", {word}"):
            return f'{_e(text[: -len(word)])}<span class="{word}">{word}</span>'
    return _e(text)


def _metrics_section(metrics: dict[str, Any], summary: list[dict[str, Any]]) -> str:
    header, rows = _metrics_table(summary, _baseline(metrics))
    aligns = _metrics_aligns(len(header))
    body = []
    for row, summary_row in zip(rows, summary):
        cells = "".join(_td(cell, align) for cell, align in zip(row[:-1], aligns))
        verdict = summary_row.get("verdict")
        css = f' class="{verdict}"' if verdict in ("helped", "hurt") else ""
        body.append(f"<tr>{cells}<td{css}>{_e(row[-1])}</td></tr>")
    note = (
        '<p class="note">Accuracy: mean ± standard deviation over seeds. Differences are paired by seed; '
        "the interval is Student's t over the seed differences.</p>"
    )
    return f"<h2>Downstream accuracy</h2>\n{_table(header, aligns, body)}\n{note}"


def _per_class_section(metrics: dict[str, Any], summary: list[dict[str, Any]]) -> str:
    names = list((metrics.get("data") or {}).get("class_names") or [])
    parts = ["<h2>Accuracy per class (%)</h2>"]
    for shots in dict.fromkeys(row["shots"] for row in summary):
        rows = [row for row in summary if row["shots"] == shots and row.get("per_class_mean")]
        if not rows:
            continue
        width = max(len(row["per_class_mean"]) for row in rows)
        header = ["arm", *(names[i] if i < len(names) else str(i) for i in range(width))]
        body = [
            "<tr>" + _td(row["arm"], "l") + "".join(_td(_pct(v), "r") for v in row["per_class_mean"]) + "</tr>"
            for row in rows
        ]
        parts.append(f"<h3>{_e(_shots_label(shots))}</h3>\n{_table(header, 'l' + 'r' * width, body)}")
    return "\n".join(parts) if len(parts) > 1 else parts[0] + '\n<p class="note">No per-class results.</p>'


_GENERATOR_COLUMNS: list[tuple[str, Callable[[dict], str]]] = [
    ("bits/dim", lambda e: _bits(_dig(e, "likelihood"))),
    ("train bits/dim", lambda e: _fmt(_dig(e, "likelihood", "train_bits_per_dim"))),
    ("class agreement", lambda e: _fmt(_dig(e, "class_agreement", "accuracy"))),
    ("Fréchet", lambda e: _fmt(_dig(e, "fidelity", "frechet_distance"))),
    ("KID", lambda e: _fmt(_dig(e, "fidelity", "kid", "mean"), "{:.4f}")),
    ("precision", lambda e: _fmt(_dig(e, "fidelity", "prdc", "precision"))),
    ("recall", lambda e: _fmt(_dig(e, "fidelity", "prdc", "recall"))),
    ("C2ST", lambda e: _fmt(_dig(e, "fidelity", "c2st", "accuracy"))),
    ("class fidelity", lambda e: _fmt(_dig(e, "fidelity", "class_fidelity", "accuracy"))),
    ("memorization", lambda e: _fmt(_dig(_closeness(e), "ratio"))),
    ("near-copies", lambda e: _fmt(_dig(_closeness(e), "near_copy_share"))),
]
# where a near_copy filter is on, the samples the arms inject: those the filter keeps (`genaug.evaluate.evaluate`'s after_filter)
_FILTERED_COLUMNS: list[tuple[str, Callable[[dict], str]]] = [
    ("dropped as near-copies", lambda e: _dropped(_dig(e, "memorization", "after_filter"))),
    ("memorization (injected)", lambda e: _fmt(_dig(_closeness(_dig(e, "memorization", "after_filter")), "ratio"))),
    ("near-copies (injected)", lambda e: _fmt(_dig(_closeness(_dig(e, "memorization", "after_filter")), "near_copy_share"))),
    ("feature near-copies (injected)", lambda e: _fmt(_dig(e, "memorization", "after_filter", "feature", "near_copy_share"))),
]


def _closeness(memorization_of: Any) -> Any:
    """The memorization entry in the data's own space: pixels (model space), or edit distance for text.

    ``memorization_of``: an evaluation (its ``memorization``), or an ``after_filter`` entry (its own entries).
    """
    entries = _dig(memorization_of, "memorization") or memorization_of
    found = _dig(entries, "pixel")
    return found if found is not None else _dig(entries, "edit")


def _dropped(after: Any) -> str:
    """``dropped of seen`` from a filter's report, or a dash."""
    if not isinstance(after, dict) or not _is_number(after.get("seen")):
        return _DASH
    return f"{after.get('dropped', 0)} of {after['seen']}"


def _generator_section(metrics: dict[str, Any]) -> str:
    generators = metrics.get("generators") or []
    if not generators:
        return '<h2>Generators</h2>\n<p class="note">No generator in this recipe.</p>'
    filtered = any(_dig(g, "evaluation", "memorization", "after_filter") for g in generators)
    columns = _GENERATOR_COLUMNS + (_FILTERED_COLUMNS if filtered else [])
    header = ["shots", "seed", "generator", "labelled", *(name for name, _ in columns)]
    body = []
    for g in generators:
        evaluation = g.get("evaluation") or {}
        cells = [
            _shots_label(g.get("shots")),
            str(g.get("seed", _DASH)),
            _generator_name(g),
            _labelled(g),
        ]
        cells += [column(evaluation) for _, column in columns]
        body.append("<tr>" + "".join(_td(c, a) for c, a in zip(cells, "lrlr" + "r" * len(columns))) + "</tr>")
    note = (
        '<p class="note">bits/dim: held-out likelihood (≤: an upper bound from the ELBO); train bits/dim: the same on the '
        "records the generator was fitted on (far below the held-out figure: it memorizes them). Class agreement: share of "
        "samples a logistic regression trained on the held-out data assigns to the class asked for; class fidelity: the "
        "same for the classifier of the feature space (trained on the records the generator was fitted on). Fréchet distance, "
        "KID, precision/recall and C2ST (0.5 = indistinguishable) are measured in that feature space, not Inception. "
        "Memorization: median distance of a sample to its closest training record relative to "
        "that record's distance to its own closest neighbour (below 1: closer than records are to each other); "
        "near-copies: share of samples below the near-copy threshold (for text: edit distances, so exact copies "
        "count as near-copies). These are measured on every sample drawn, before any filter"
        + (
            "; the columns marked injected on the samples the arms' near-copy filter keeps, and dropped as near-copies "
            "counts what it removed of the samples drawn for the evaluation (feature near-copies: in the feature space)."
            if filtered
            else "."
        )
        + "</p>"
    )
    return f"<h2>Generators</h2>\n{_table(header, 'lrlr' + 'r' * len(columns), body)}\n{note}"


def _filters_section(metrics: dict[str, Any]) -> str:
    """Per shots, arm and filter: the samples the quality filters saw and dropped while the arm trained, over its seeds."""
    totals: dict[tuple[Any, str, str], list[int]] = {}
    for r in metrics.get("results") or []:
        for f in r.get("filters") or []:
            settings = ", ".join(f"{k} {v}" for k, v in f.items() if k not in ("filter", "seen", "dropped", "dropped_share", "added_for"))
            name = f"{f.get('filter', _DASH)} ({settings})" if settings else str(f.get("filter", _DASH))
            if f.get("added_for"):
                name += f", on by default: {f['added_for']}"
            seen_dropped = totals.setdefault((r.get("shots"), str(r.get("arm")), name), [0, 0])
            seen_dropped[0] += f.get("seen", 0) if _is_number(f.get("seen")) else 0
            seen_dropped[1] += f.get("dropped", 0) if _is_number(f.get("dropped")) else 0
    if not totals:
        return ""
    body = [
        "<tr>" + "".join(_td(c, a) for c, a in zip([_shots_label(shots), arm, name, seen, dropped, _pct(dropped / seen if seen else None)], "lllrrr")) + "</tr>"
        for (shots, arm, name), (seen, dropped) in totals.items()
    ]
    identities = (metrics.get("data") or {}).get("identities")
    why = (
        " The data's records are people (data.identities): a sample that copies one leaks an identity, so every generative "
        "arm drops near-copies."
        if identities
        else ""
    )
    note = (
        '<p class="note">Samples drawn for the downstream training (over all seeds) that reached each filter, and how many it '
        f"dropped; each filter sees what the ones before it kept.{why}</p>"
    )
    return f"<h2>Quality filters</h2>\n{_table(['shots', 'arm', 'filter', 'seen', 'dropped', 'dropped (%)'], 'lllrrr', body)}\n{note}"


def _generator_name(g: dict[str, Any]) -> str:
    """``family``, or ``variant (family)`` for a recipe's named variant."""
    family = str(g.get("family", _DASH))
    return family if not g.get("variant") else f"{g['variant']} ({family})"


def _labelled(g: dict[str, Any]) -> str:
    """The records the generator was fitted on: labelled, plus kept pseudo-labels and how many are right."""
    text, pseudo = str(g.get("n_labelled", _DASH)), g.get("pseudo_labels")
    if isinstance(pseudo, dict):
        right = "" if pseudo.get("accuracy") is None else f", {_pct(pseudo['accuracy'])}% right"
        text += f" + {pseudo.get('n_kept', _DASH)} pseudo{right}"
    return text


def _images_section(title: str, caption: str, metrics: dict[str, Any], key: str, out_dir: Path) -> str:
    """Each generator's PNG named by ``key`` (relative to ``out_dir``), or a note when there is none."""
    figures = []
    for g in metrics.get("generators") or []:
        if g.get(key):
            label = f"{_shots_label(g.get('shots'))}, seed {g.get('seed')}" + (f", {g['variant']}" if g.get("variant") else "")
            figures.append(_embed_file(out_dir, g[key], label, pixels=True))
    if not figures:
        return ""
    return f'<h2>{_e(title)}</h2>\n<p class="meta">{_e(caption)}</p>\n' + "\n".join(figures)


def _text_samples_section(metrics: dict[str, Any]) -> str:
    """Generated strings as a table per generator, one row per class (text generators report ``samples``)."""
    tables = []
    for g in metrics.get("generators") or []:
        samples = _dig(g, "evaluation", "samples")
        if not isinstance(samples, dict) or not samples:
            continue
        label = f"{_shots_label(g.get('shots'))}, seed {g.get('seed')}" + (f", {g['variant']}" if g.get("variant") else "")
        body = ["<tr>" + _td(name, "l") + _td(", ".join(map(str, texts)), "l") + "</tr>" for name, texts in samples.items()]
        tables.append(f'<p class="meta">{_e(label)}</p>\n' + _table(["class", "samples"], "ll", body))
    if not tables:
        return ""
    return "<h2>Generated strings</h2>\n" + "\n".join(tables)


def _curves_section(metrics: dict[str, Any], out_dir: Path) -> str:
    figures = [
        _figure(png, f"Downstream training, {_shots_label(shots)}: mean over seeds")
        for shots, png in _downstream_plots(metrics, out_dir / "plots")
    ]
    figures += [
        _figure(png, f"Generator training, {_shots_label(shots)}" + (f", {variant}" if variant else ""))
        for (shots, variant), png in _generator_plots(metrics, out_dir, out_dir / "plots")
    ]
    if not figures:
        return '<h2>Training curves</h2>\n<p class="note">No training curves were logged.</p>'
    return "<h2>Training curves</h2>\n" + "\n".join(figures)


def _timings_section(timings: dict[str, Any] | None) -> str:
    if not timings:
        return ""
    units = timings.get("units") or {}
    body = [f"<tr>{_td(name, 'l')}{_td(_fmt(seconds, '{:.1f}'), 'r')}</tr>" for name, seconds in units.items()]
    total = f"<p>Total: {_e(_fmt(timings.get('total_seconds'), '{:.1f}'))} s</p>"
    return f"<h2>Timings</h2>\n{total}\n" + (_table(["unit", "seconds"], "lr", body) if body else "")


def _recipe_section(metrics: dict[str, Any]) -> str:
    if metrics.get("recipe") is None:
        return ""
    text = json.dumps(metrics["recipe"], indent=2, default=str)
    return (
        f"<h2>Recipe</h2>\n<details><summary>The recipe as run (validated)</summary>\n<pre>{_e(text)}</pre>\n</details>"
    )


# ----------------------------------------------------------------------------- plots


def _downstream_plots(metrics: dict[str, Any], plots: Path) -> list[tuple[Any, bytes]]:
    """Per shots, downstream loss and train accuracy vs step, mean over seeds, one line per arm."""
    arms = list(metrics["arms"])
    curves: dict[Any, dict[str, list[list[dict]]]] = {}
    for r in metrics["results"]:
        if r.get("curve"):
            curves.setdefault(r["shots"], {}).setdefault(r["arm"], []).append(r["curve"])
    pngs = []
    for shots, by_arm in curves.items():
        fig, axes = _new_figure(2)
        for ax, key, label in zip(axes, ("loss", "train_accuracy"), ("loss", "train accuracy")):
            for arm in (a for a in arms if a in by_arm):
                steps, values = _mean_by_step(by_arm[arm], key)
                if steps:
                    _line(ax, steps, values, label=arm, color=f"C{arms.index(arm) % 10}")
            ax.set(xlabel="step", ylabel=label, title=label)
        axes[0].legend(fontsize="small")
        pngs.append((shots, _save_figure(fig, plots / f"downstream_{_slug(shots)}.png")))
    return pngs


def _generator_plots(metrics: dict[str, Any], out_dir: Path, plots: Path) -> list[tuple[tuple[Any, Any], bytes]]:
    """Per shots and generator variant, the logged losses vs step (one panel per loss, one line per seed)."""
    logs: dict[tuple[Any, Any], list[tuple[Any, list[dict]]]] = {}
    for g in metrics.get("generators") or []:
        records = _read_jsonl(out_dir / g["folder"] / "metrics.jsonl") if g.get("folder") else []
        if records:
            logs.setdefault((g.get("shots"), g.get("variant")), []).append((g.get("seed"), records))
    pngs = []
    for (shots, variant), runs in logs.items():
        keys = _loss_keys([record for _, records in runs for record in records])
        if not keys:
            continue
        # the validation loss shares the training loss's panel (dashed), so the gap between them shows
        paired = "loss" in keys and "val/loss" in keys
        panels = [k for k in keys if not (paired and k == "val/loss")]
        fig, axes = _new_figure(len(panels))
        for ax, key in zip(axes, panels):
            for i, (seed, records) in enumerate(runs):
                color = f"C{i % 10}"
                points = [(r["step"], r[key]) for r in records if _is_number(r.get(key)) and _is_number(r.get("step"))]
                if points:
                    _line(ax, *zip(*points), label=f"seed {seed}" + (" train" if paired and key == "loss" else ""), color=color)
                if paired and key == "loss":
                    val = [(r["step"], r["val/loss"]) for r in records if _is_number(r.get("val/loss")) and _is_number(r.get("step"))]
                    if val:
                        _line(ax, *zip(*val), label=f"seed {seed} validation", color=color, linestyle="--")
                    kept = [r["kept_step"] for r in records if _is_number(r.get("kept_step"))]
                    if kept:
                        ax.axvline(kept[-1], color=color, linestyle=":", linewidth=1)
            title = "loss (train solid, validation dashed; dotted: weights kept)" if paired and key == "loss" else key
            ax.set(xlabel="step", ylabel=key, title=title)
        axes[0].legend(fontsize="small")
        name = f"generator_{_slug(shots)}" + (f"_{variant}" if variant else "")  # variant names are file-safe (schema)
        pngs.append(((shots, variant), _save_figure(fig, plots / f"{name}.png")))
    return pngs


def _loss_keys(records: list[dict]) -> list[str]:
    """The keys to plot: every ``loss`` (also per optimizer group and validation), else the first numeric key."""
    numeric = [
        k
        for k in dict.fromkeys(k for r in records for k in r)
        if k != "step" and any(_is_number(r.get(k)) for r in records)
    ]
    losses = [k for k in numeric if k == "loss" or k.endswith("/loss")]
    return losses or numeric[:1]


def _mean_by_step(curves: list[list[dict]], key: str) -> tuple[list[float], list[float]]:
    """The mean of ``key`` over curves at each logged step (curves missing a step are left out there)."""
    by_step: dict[float, list[float]] = {}
    for curve in curves:
        for point in curve:
            if _is_number(point.get("step")) and _is_number(point.get(key)):
                by_step.setdefault(point["step"], []).append(float(point[key]))
    steps = sorted(by_step)
    return steps, [sum(by_step[s]) / len(by_step[s]) for s in steps]


def _new_figure(panels: int) -> tuple[Any, list[Any]]:
    # A bare Figure on the Agg canvas: no pyplot, so no global backend switch and no figure registry to leak.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(4.4 * panels, 3.2), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, panels, squeeze=False)[0]
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # steps: whole numbers
    return fig, list(axes)


def _line(ax: Any, steps: Sequence[float], values: Sequence[float], **style: Any) -> None:
    """A curve; a short one (a validation every few hundred steps, a converged EM fit) also gets markers."""
    ax.plot(steps, values, marker="o" if len(steps) <= 20 else None, markersize=3, **style)


def _save_figure(fig: Any, path: Path) -> bytes:
    """Write ``fig`` to ``path`` atomically and return its PNG bytes (no version metadata: same run, same bytes)."""
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})
    return path.read_bytes()


def _read_jsonl(path: Path) -> list[dict]:
    """The records of a trainer log; a missing file gives none, and a torn last line (a killed run) is skipped."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


# ----------------------------------------------------------------------------- HTML helpers


def _embed_file(out_dir: Path, relative: str, caption: str, *, pixels: bool = False) -> str:
    """A figure with the PNG at ``out_dir/relative`` embedded, or a note saying why it is missing."""
    path = out_dir / relative
    data = path.read_bytes() if path.is_file() else b""
    if not data.startswith(_PNG_SIGNATURE):
        reason = "missing" if not data else "not a PNG"
        return f'<p class="note">{_e(caption)}: {_e(relative)} is {reason}.</p>'
    return _figure(data, caption, pixels=pixels)


def _figure(png: bytes, caption: str, *, pixels: bool = False) -> str:
    css = ' class="pixels"' if pixels else ""
    src = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return f'<figure><img{css} alt="{_e(caption)}" src="{src}"><figcaption>{_e(caption)}</figcaption></figure>'


def _table(header: Sequence[str], aligns: str, body: list[str]) -> str:
    head = "".join(f'<th class="num">{_e(h)}</th>' if a == "r" else f"<th>{_e(h)}</th>" for h, a in zip(header, aligns))
    return (
        f'<div class="scroll"><table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
        + "\n".join(body)
        + "\n</tbody></table></div>"
    )


def _td(text: Any, align: str) -> str:
    return f'<td class="num">{_e(text)}</td>' if align == "r" else f"<td>{_e(text)}</td>"


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _slug(value: Any) -> str:
    return "k" + re.sub(r"[^A-Za-z0-9_.-]", "_", str(value))


# ----------------------------------------------------------------------------- number formatting


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _dig(mapping: Any, *keys: str) -> Any:
    """``mapping[k1][k2]...``, or None where a level is missing or not a dict."""
    for key in keys:
        if not isinstance(mapping, dict):
            return None
        mapping = mapping.get(key)
    return mapping


def _fmt(value: Any, spec: str = "{:.3f}") -> str:
    return spec.format(value) if _is_number(value) else _DASH


def _bits(likelihood: Any) -> str:
    text = _fmt(_dig(likelihood, "bits_per_dim"))
    return "≤" + text if text != _DASH and _dig(likelihood, "is_bound") else text


def _pct(value: Any) -> str:
    return f"{100 * value:.1f}" if _is_number(value) else _DASH


def _points(value: Any) -> str:
    return f"{100 * value:+.1f}" if _is_number(value) else _DASH


CHROMIUM = Path("/usr/bin/chromium")


def render_in_chromium(html: Path, out_png: Path) -> str:
    """Load ``html`` in headless Chromium: a 1280x2000 screenshot into ``out_png``; returns the DOM after load.

    For checking that a report renders (the tests, ``benchmarks/check_report.py``); needs Debian's
    ``chromium`` package at `CHROMIUM`. One run gives both (``--screenshot`` and ``--dump-dom``), with a fresh profile, no network
    services and a 60 s limit.
    """
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--window-size=1280,2000",
            f"--screenshot={Path(out_png).resolve()}",
            "--dump-dom",
            Path(html).resolve().as_uri(),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0 or not Path(out_png).is_file():
        raise RuntimeError(f"chromium exited with {done.returncode} and no screenshot: {done.stderr[-2000:]}")
    return done.stdout
