"""Held-out bits per character on the US Census first names (issue 18, acceptance 1, 2 and 5): the default
``charlm`` against the best smoothed character n-gram model, and its samples' class fidelity and copies.

The names (`genaug.data.load_names`: 5,163 lowercased names, female or male, each name once; a name on
both census lists goes to the list where it is more frequent) are split stratified by sex into a
training part and a test part (20%). Every model sees the training part only:

- n-gram: orders 2 to 5, interpolated Kneser-Ney or add-k (k in 0.01 .. 1), chosen on a validation
  tenth of the training part (stratified), then refitted on the whole training part. Unconditional
  (one model of all names) and class-conditional (one model per sex; the marginal mixes them by the
  training shares).
- ``charlm`` with its defaults (its own validation tenth, early stopping, best weights kept).

Scores are bits per character with each name's end mark counted (total bits / total symbols), on the
test names: the marginal (sex unknown) and the conditional (given the true sex). The fit time and the
time to sample 10,000 names are wall-clock seconds on this machine (acceptance 5: within 5 minutes
and 30 seconds on 2 CPU cores). Then 1,000 samples per sex are labelled by a classifier trained on all
the real names (class fidelity) and compared with the training names (exact copies, edit-distance
memorization ratio, novelty, distinct 2-grams) before and after the copy filter.

    python benchmarks/bench_text_likelihood.py [--seed 0] [--write]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

import genaug
from genaug.data import load_names
from genaug.evaluate.features import FeatureSpace
from genaug.evaluate.fidelity import class_fidelity
from genaug.evaluate.ngram import NgramLM, best_ngram
from genaug.evaluate.textmetrics import CopyFilter, distinct_n, text_memorization
from genaug.train import Trainer, resolve_train_config

try:
    from _report import command, machine, write_section
except ImportError:  # run as a module
    from benchmarks._report import command, machine, write_section


def ngram_rows(train: genaug.ArraySet, test: genaug.ArraySet, seed: int) -> list[dict]:
    fit, val = train.split(0.1, seed=seed)
    texts = {name: data.user_x() for name, data in (("fit", fit), ("val", val), ("train", train), ("test", test))}
    vocab = train.spec.vocabulary
    start = time.perf_counter()
    best, tried = best_ngram(texts["fit"], texts["val"], vocabulary=vocab)
    choose_seconds = time.perf_counter() - start

    def make(texts_: list[str]) -> NgramLM:
        return NgramLM(texts_, best.order, smoothing=best.smoothing, k=best.k if best.k is not None else 0.1, vocabulary=vocab)

    lm = make(texts["train"])
    unconditional = lm.bits_per_char(texts["test"])
    # class-conditional: one model per class, marginal = log sum_c prior_c P_c(name)
    classes = range(train.spec.num_classes)
    per_class = {c: make([t for t, y in zip(texts["train"], train.y.tolist()) if y == c]) for c in classes}
    prior = np.bincount(train.y.numpy(), minlength=len(classes)) / len(train)
    symbols = sum(len(t) + 1 for t in texts["test"])
    cond_bits, marg_bits = 0.0, 0.0
    for t, y in zip(texts["test"], test.y.tolist()):
        logs = {c: per_class[c].log2_prob(t) for c in classes}
        cond_bits -= logs[y]
        marg_bits -= math.log2(sum(prior[c] * 2 ** logs[c] for c in classes))
    described = f"order {best.order}, {best.smoothing}" + (f" k={best.k}" if best.k is not None else "")
    return [
        {"model": f"n-gram, one model of all names ({described}; chosen among {len(tried)} on validation, {choose_seconds:.0f} s)", "marginal": unconditional, "conditional": None},
        {"model": f"n-gram, one model per class ({described})", "marginal": marg_bits / symbols, "conditional": cond_bits / symbols},
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    data = load_names()
    train, test = data.train_test_split(0.2, seed=args.seed)
    rows = ngram_rows(train, test, args.seed)
    for row in rows:
        print(row, flush=True)
    start = time.perf_counter()
    torch.manual_seed(args.seed)
    config = resolve_train_config("charlm", {"progress": False, "seed": args.seed}, n_records=len(train))
    trainer = Trainer(genaug.create("charlm", train.spec), train, config)
    model = trainer.fit()
    fit_seconds = time.perf_counter() - start
    result = genaug.bits_per_dim(model, test)
    start = time.perf_counter()
    samples = model.sample(10_000, generator=torch.Generator().manual_seed(args.seed))
    sample_seconds = time.perf_counter() - start
    rows.insert(0, {"model": "genaug charlm (defaults)", "marginal": result.bits_per_dim, "conditional": result.bits_per_dim_conditional})
    print(rows[0], fit_seconds, sample_seconds, flush=True)
    uniform = math.log2(len(train.spec.vocabulary) + 1)
    best_ngram_bits = min(r["marginal"] for r in rows[1:])
    best_ngram_cond = min(r["conditional"] for r in rows[1:] if r["conditional"] is not None)
    # acceptance 2: a classifier trained on all real names labels default samples as asked; copies before and after the filter
    space = FeatureSpace.fit(data, seed=args.seed)
    asked = torch.arange(train.spec.num_classes).repeat_interleave(1000)
    judged = model.sample(len(asked), labels=asked, generator=torch.Generator().manual_seed(args.seed + 1))
    fidelity = class_fidelity(space, train.spec.to_model(judged), asked)
    sweep = []  # class guidance (the default is charlm's config.guidance): fidelity against variety
    for guidance in (0.0, 0.5, 1.0, 2.0, 4.0):
        drawn = model.sample(len(asked), labels=asked, guidance=guidance, generator=torch.Generator().manual_seed(args.seed + 1))
        swept = text_memorization(drawn, train.user_x())
        sweep.append((guidance, class_fidelity(space, train.spec.to_model(drawn), asked)["accuracy"], swept.exact_copy_share, swept.novelty, distinct_n(drawn, 2)))
        print(sweep[-1], flush=True)
    memo = text_memorization(judged, train.user_x())
    copy_filter = CopyFilter(train)
    kept = [s for s, k in zip(judged, copy_filter(judged, asked).tolist()) if k]
    after = text_memorization(kept, train.user_x())
    lines = [
        "## Text: bits per character, class fidelity and copies on the census names (`bench_text_likelihood.py`, issue 18)",
        "",
        f"Command: `{command()}`  ",
        f"Machine: {machine()}",
        "",
        f"{len(train)} training and {len(test)} test names (`genaug.data.load_names`, split stratified by sex, seed {args.seed}); "
        f"{len(train.spec.vocabulary)} characters and the end mark: a uniform model scores {uniform:.3f} bits per character. "
        "Bits per character count each name's end mark; marginal: sex unknown, conditional: given the true sex. "
        "The n-gram's order and smoothing are chosen on a validation tenth of the training names.",
        "",
        "| model | held-out bits/char (marginal) | given the sex |",
        "|---|---:|---:|",
    ]
    for row in rows:
        cond = "" if row["conditional"] is None else f"{row['conditional']:.3f}"
        bold = row is rows[0]
        lines.append(f"| {row['model']} | {'**' if bold else ''}{row['marginal']:.3f}{'**' if bold else ''} | {cond} |")
    met = result.bits_per_dim < best_ngram_bits and result.bits_per_dim_conditional < best_ngram_cond
    lines += [
        "",
        f"- Acceptance 1 (charlm below the best n-gram): **{'met' if met else 'not met'}**: marginal {result.bits_per_dim:.3f} vs "
        f"{best_ngram_bits:.3f}, given the sex {result.bits_per_dim_conditional:.3f} vs {best_ngram_cond:.3f}.",
        f"- Acceptance 5: the default fit took {fit_seconds:.0f} s (limit 300 s; {trainer.state.step} steps of {config.steps}, "
        f"best validation at step {trainer.state.best_step}); sampling 10,000 names took {sample_seconds:.1f} s (limit 30 s).",
        "",
        f"Acceptance 2: 1,000 default samples per sex, labelled by the feature-space classifier (`genaug.evaluate.FeatureSpace`, "
        f"a character CNN) trained on all {len(data)} real names (its accuracy on a held-out tenth of them: {space.val_accuracy:.3f}): "
        f"class fidelity **{fidelity['accuracy']:.3f}** ({', '.join(f'{k} {v:.3f}' for k, v in fidelity['per_class'].items())}); "
        f"the goal is 0.85: **{'met' if fidelity['accuracy'] >= 0.85 else 'not met'}**. Default samples use class guidance "
        f"{model.config.guidance:g} (`charlm`'s `guidance`: each symbol drawn from p(s | prefix, sex) p(sex | prefix + s)^g / "
        "p(sex | prefix)^g with the model's own posterior; the default 1 was set before this was measured). The same samples at "
        "each guidance:",
        "",
        "| guidance | class fidelity | exact copies | novelty | distinct 2-grams |",
        "|---:|---:|---:|---:|---:|",
        *[f"| {g:g} | {f:.3f} | {c:.1%} | {nv:.1%} | {d:.3f} |" for g, f, c, nv, d in sweep],
        "",
        "| samples | n | exact copies of a training name | median edit-distance ratio | near-copies (ratio < 0.1) | novelty (distinct, not in training) | distinct 2-grams |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| before the copy filter | {memo.n_samples} | {memo.exact_copy_share:.1%} | {memo.ratio:.2f} | {memo.near_copy_share:.1%} | {memo.novelty:.1%} | {distinct_n(judged, 2):.3f} |",
        f"| after `CopyFilter` (drops exact copies) | {after.n_samples} | {after.exact_copy_share:.1%} | {after.ratio:.2f} | {after.near_copy_share:.1%} | {after.novelty:.1%} | {distinct_n(kept, 2):.3f} |",
        "",
        f"Samples (sex drawn by the training shares): {', '.join(samples[:16])}",
    ]
    body = "\n".join(lines)
    print(body)
    if args.write:
        write_section("bench_text_likelihood", body)


if __name__ == "__main__":
    main()
