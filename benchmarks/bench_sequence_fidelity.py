"""Class-conditional fidelity of every family's default model on sequences (issue 16, acceptance 5).

For each data set (MNIST-1D built locally: 4,000 training and 1,000 test series; GunPoint from the UCR
archive shipped inside aeon: 50 training and 150 test series) a classifier is trained on the real
training series: genaug's feature space (`genaug.evaluate.FeatureSpace`, the sequence modality's 1-D CNN
body and a class head). Its accuracy on the real test series is the ceiling a generator can reach.
Every family is then fitted with its defaults (`genaug.fit(train, family)`) on the training series,
asked for ``--per-class`` samples of every class, and scored by `genaug.evaluate.class_fidelity`: the
share of samples the classifier assigns to the class they were asked for. Acceptance: at least 85% for
every family on both sets.

Every row also gives the samples' memorization ratio (median distance to the closest training series over
that series' distance to its own closest neighbour, `genaug.evaluate.memorization`: near 0 for copies of
training series, near 1 for new ones) and, for families with a likelihood, held-out bits/dim on the test
series: a family can raise its fidelity by replaying its training series, which these two figures show.
``--config KEY=VALUE ...`` fits every family with those config fields instead of its defaults (e.g.
``--families gmm --config n_components=20``, a sweep of the gmm's capacity); the rows name them.

    python benchmarks/bench_sequence_fidelity.py [--data mnist1d ucr:GunPoint] [--families gmm vae ...] [--config K=V ...] [--write]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from sklearn.neighbors import KNeighborsClassifier

import genaug
from genaug.cli.options import key_values
from genaug.evaluate import FeatureSpace, bits_per_dim, class_fidelity, memorization

from _report import command, machine, write_section

FAMILIES = ["gmm", "vae", "gan", "flow", "pixelcnn", "diffusion", "wavenet"]
GOAL = 0.85


def split_names(source: str) -> tuple[str, str]:
    """The training and test sources of a series name (``mnist1d`` or ``ucr:NAME``)."""
    return f"{source}:train", f"{source}:test"


def flat(x: torch.Tensor):
    return x.reshape(len(x), -1).double().numpy()


def run_set(
    source: str, families: list[str], per_class: int, classifier_steps: int, seed: int,
    guidances: tuple[float, ...] = (0.0,), config: dict | None = None, temperatures: tuple[float, ...] = (),
) -> dict:
    train_name, test_name = split_names(source)
    train = genaug.load_source(train_name)
    test = genaug.load_source(test_name).conform(train.spec)
    space = FeatureSpace.fit(train, steps=classifier_steps, seed=seed)
    ceiling = class_fidelity(space, test.x, test.y)["accuracy"]  # the classifier on real test series
    nearest = KNeighborsClassifier(1).fit(flat(train.x), train.y.numpy())  # the UCR archive's 1-NN (Euclidean)
    result = {
        "source": source, "train": len(train), "test": len(test), "length": list(train.spec.shape),
        "classes": train.spec.num_classes, "classifier_val_accuracy": space.val_accuracy,
        "classifier_test_accuracy": ceiling, "nn1_test_accuracy": float(nearest.score(flat(test.x), test.y.numpy())),
        "families": {},
    }
    print(f"{source}: classifier accuracy on the real test series {ceiling:.3f}", flush=True)
    labels = torch.arange(train.spec.num_classes).repeat_interleave(per_class)
    config = config or {}
    suffix = f" ({', '.join(f'{k}={v}' for k, v in config.items())})" if config else ""
    for family in families:
        start = time.perf_counter()
        model = genaug.fit(train, family, seed=seed, train={"progress": False, "checkpoint_every": 0}, **config)
        fit_seconds = time.perf_counter() - start
        held_out = bits_per_dim(model, test).bits_per_dim if model.has_likelihood else None
        # a family with class guidance (a temperature) is also scored at each of `guidances` (`temperatures`): same fit, seed
        others = [
            (option, value) for option, values in (("guidance", guidances), ("temperature", temperatures))
            if hasattr(model.config, option) for value in values if value != getattr(model.config, option)
        ]
        for name, options in [(family + suffix, {})] + [(f"{family}{suffix} ({k} {v:g})", {k: v}) for k, v in others]:
            start = time.perf_counter()
            samples = model.sample(len(labels), labels=labels, generator=torch.Generator().manual_seed(seed), **options)
            sample_seconds = time.perf_counter() - start
            z = train.spec.to_model(samples.cpu())
            score = class_fidelity(space, z, labels)
            entry = result["families"][name] = {
                "accuracy": score["accuracy"], "per_class": score["per_class"],
                "nn1_accuracy": float(nearest.score(flat(z), labels.numpy())),
                "fit_seconds": fit_seconds, "sample_seconds": sample_seconds,
                "memorization_ratio": memorization(z, train.x).ratio, "held_out_bits_per_dim": held_out,
            }
            bpd = "" if held_out is None else f"  held-out {held_out:.3f} bits/dim"
            print(
                f"  {name}: fidelity {score['accuracy']:.3f} (1-NN {entry['nn1_accuracy']:.3f})  memorization ratio "
                f"{entry['memorization_ratio']:.2f}{bpd}  fit {fit_seconds:.1f} s  sample {sample_seconds:.1f} s", flush=True,
            )
    return result


def render(results: list[dict], per_class: int, classifier_steps: int, cmd: str | None = None, note: str | None = None) -> str:
    families = list(dict.fromkeys(f for r in results for f in r["families"]))
    names = [r["source"] for r in results]
    lines = [
        "## Sequences: class-conditional fidelity of every family (`bench_sequence_fidelity.py`, issue 16)",
        "",
        f"Command: `{cmd or command()}`  ",
        f"Machine: {machine()}",
        "",
        f"A classifier (genaug's feature space: the sequence modality's 1-D CNN body and a class head, {classifier_steps} "
        "AdamW steps) is trained on each set's real training series; every family is fitted with its defaults on the "
        f"same series and asked for {per_class} samples of every class; the table gives the share the classifier labels "
        "as asked (`genaug.evaluate.class_fidelity`), the acceptance's judge. For context a second judge, the UCR archive's "
        "1-nearest-neighbour classifier (Euclidean) over the training series, labels the same samples. The first row is "
        "each classifier on the real test series. Memorization: the samples' median memorization ratio (0: copies of "
        "training series, about 1: as far from them as the series are from each other); bits/dim: held-out, on the test "
        "series, where the family has a likelihood. Fit times in seconds." + (f" {note}" if note else ""),
        "",
        "| family | " + " | ".join(f"{n}: CNN | {n}: 1-NN | memorization | bits/dim | fit (s)" for n in names) + " |",
        "|---|" + "---:|---:|---:|---:|---:|" * len(names),
        "| real test series (each classifier's accuracy) | "
        + " | ".join(f"{r['classifier_test_accuracy']:.3f} | {r['nn1_test_accuracy']:.3f} | | | " for r in results) + " |",
    ]
    met = {}
    for family in families:
        cells = []
        for r in results:
            entry = r["families"].get(family)
            if entry is None:
                cells.append("not run | | | | ")
                continue
            mark = "**" if entry["accuracy"] >= GOAL else ""
            ratio, bpd = entry.get("memorization_ratio"), entry.get("held_out_bits_per_dim")
            cells.append(
                f"{mark}{entry['accuracy']:.3f}{mark} | {entry['nn1_accuracy']:.3f} | {'' if ratio is None else f'{ratio:.2f}'} | "
                f"{'' if bpd is None else f'{bpd:.3f}'} | {entry['fit_seconds']:.0f}"
            )
            met.setdefault(family, []).append(entry["accuracy"] >= GOAL)
        lines.append(f"| {family} | " + " | ".join(cells) + " |")
    short = [f for f, oks in met.items() if not all(oks) or len(oks) < len(results)]
    lines += [
        "",
        "Data: " + "; ".join(f"{r['source']}: {r['train']} training / {r['test']} test series of shape {tuple(r['length'])}, "
                              f"{r['classes']} classes" for r in results) + ".",
        "",
        "Acceptance 5 (at least 85% on both sets for every family): "
        + ("**met**." if not short else f"**not met** for {', '.join(short)} (bold cells reach 85%)."),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", nargs="*", default=["mnist1d", "ucr:GunPoint"])
    parser.add_argument("--families", nargs="*", default=FAMILIES)
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--classifier-steps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--guidance", type=float, nargs="*", default=[0.0], help="families with class guidance: also score at these weights")
    parser.add_argument("--temperature", type=float, nargs="*", default=[], help="families with a sampling temperature: also score at these")
    parser.add_argument("--config", nargs="*", default=[], metavar="KEY=VALUE", help="fit every family with these config fields")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--write", action="store_true", help="update this benchmark's section of BENCHMARKS.md")
    parser.add_argument("--render", default=None, metavar="JSON", help="only render the results a --json run saved")
    parser.add_argument("--note", default=None, help="a sentence on how the run was made (e.g. the machine's load)")
    args = parser.parse_args()
    if args.render:
        results = json.loads(Path(args.render).read_text(encoding="utf-8"))
        cmd = f"python benchmarks/bench_sequence_fidelity.py --json {args.render}`, rendered by `{command()}"
        text = render(results, args.per_class, args.classifier_steps, cmd, args.note)
        print(text)
        if args.write:
            write_section("bench_sequence_fidelity", text)
        return
    results = []
    config = key_values(args.config, "--config")
    for source in args.data:
        results.append(run_set(source, args.families, args.per_class, args.classifier_steps, args.seed, tuple(args.guidance), config, tuple(args.temperature)))
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
    text = render(results, args.per_class, args.classifier_steps, note=args.note)
    print(text)
    if args.write:
        write_section("bench_sequence_fidelity", text)


if __name__ == "__main__":
    main()
