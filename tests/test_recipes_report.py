"""genaug.recipes.stats and .report: paired differences by hand, summaries, the self-contained report in Chromium."""

from __future__ import annotations

import base64
import io
import json
import math
import re
import shutil

import numpy as np
import pytest
from PIL import Image
from scipy import stats as scipy_stats

from genaug.recipes.report import render_summary_text, write_report
from genaug.recipes.stats import paired_difference, summarize

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# ----------------------------------------------------------------------------- a synthetic run

CLASSES = ["zero", "one", "<script>alert(1)</script>"]
ARMS = ["none", "classic", "generative"]
SEEDS = [0, 1, 2]
BASE = {5: [0.70, 0.72, 0.74], 10: [0.80, 0.82, 0.84]}
GAIN = {  # arm - baseline per seed, chosen so each verdict occurs
    5: {"none": [0.0] * 3, "classic": [0.05, 0.06, 0.04], "generative": [-0.05, -0.06, -0.04]},
    10: {"none": [0.0] * 3, "classic": [0.02, -0.02, 0.01], "generative": [0.03, 0.04, 0.035]},
}
VERDICTS = {
    (5, "classic"): "helped",
    (5, "generative"): "hurt",
    (10, "classic"): "no clear difference",
    (10, "generative"): "helped",
}


def synthetic_results(with_curves: bool = False) -> list[dict]:
    results = []
    for shots in BASE:
        for seed in SEEDS:
            for arm in ARMS:
                accuracy = BASE[shots][seed] + GAIN[shots][arm][seed]
                row = {"shots": shots, "seed": seed, "arm": arm, "accuracy": accuracy}
                row["per_class"] = [accuracy + 0.01 * c for c in range(len(CLASSES))]
                if with_curves:
                    row["curve"] = [
                        {"step": 10 * i, "loss": 2.0 / i + seed, "train_accuracy": accuracy * i / 5}
                        for i in range(1, 6)
                    ]
                    row["curve"][2]["loss"] = None  # a non-finite value, written as null
                results.append(row)
    return results


def png_bytes(size: tuple[int, int], seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


EVALUATION = {  # the key layout of genaug.evaluate()'s dict (values from a gmm on digits)
    "family": "gmm",
    "likelihood": {"bits_per_dim": 2.7582, "bits_per_dim_conditional": 2.7394, "is_bound": False, "train_bits_per_dim": 2.2893},
    "class_agreement": {"accuracy": 0.972, "per_class": {"zero": 1.0}, "real_accuracy": 0.999},
    "fidelity": {
        "frechet_distance": 1.3214,
        "kid": {"mean": 0.04156, "std": 0.0025},
        "prdc": {"precision": 0.978, "recall": 0.8765, "density": 1.019, "coverage": 0.9288},
        "c2st": {"accuracy": 0.7303, "std": 0.027, "n": 1798},
    },
    "memorization": {"pixel": {"ratio": 1.1793, "near_copy_share": 0.0125}, "feature": {"ratio": 1.1056}},
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, digits_gmm_dir):
    """A run folder as the runner leaves it: PNGs (one missing, one broken), generator logs, metrics."""
    out = tmp_path_factory.mktemp("recipe-run")
    (out / "k5/seed0").mkdir(parents=True)
    (out / "k5/seed0/samples.png").write_bytes(png_bytes((40, 30), 0))
    (out / "k5/seed0/nearest_pairs.png").write_bytes(png_bytes((60, 20), 1))
    (out / "k5/seed2").mkdir(parents=True)
    (out / "k5/seed2/samples.png").write_text("not an image")
    (out / "k5/seed0/generator").mkdir()
    log = [
        {"step": 1, "loss": 3.0, "kl": 0.5},
        {"step": 2, "loss": None},
        {"step": 2, "val/loss": 2.5},
        {"step": 3, "loss": 2.0},
        {"step": 3, "val/loss": 2.7},
        {"step": 3, "kept_step": 2},  # the Trainer kept the weights of its best validation
    ]
    text = "".join(json.dumps(record) + "\n" for record in log) + '{"step": 4, "lo'  # torn last line: a killed run
    (out / "k5/seed0/generator/metrics.jsonl").write_text(text)
    (out / "k10/seed0").mkdir(parents=True)
    shutil.copytree(digits_gmm_dir, out / "k10/seed0/generator")  # a real trainer log (gmm: "nll", no "loss")
    generators = [
        {"shots": 5, "seed": 0, "family": "gmm", "grid": "k5/seed0/samples.png", "pairs": "k5/seed0/nearest_pairs.png"},
        {"shots": 5, "seed": 1, "family": "vae", "grid": "k5/seed1/samples.png", "pairs": None},
        {"shots": 5, "seed": 2, "family": "gmm", "grid": "k5/seed2/samples.png", "pairs": None},
        *({"shots": 10, "seed": s, "family": "gmm", "grid": None, "pairs": None} for s in SEEDS),
    ]
    for g in generators:
        g["n_labelled"] = 3 * g["shots"]
        g["folder"] = f"k{g['shots']}/seed{g['seed']}/generator"
        g["evaluation"] = None
    generators[0]["evaluation"] = EVALUATION
    generators[1]["evaluation"] = {"likelihood": {"bits_per_dim": 3.1, "is_bound": True}, "fidelity": {"kid": None}}
    metrics = {
        "format": 1,
        "name": "synthetic <run>",
        "recipe": {"name": "synthetic <run>", "generator": {"family": "gmm"}, "arms": ARMS},
        "data": {"source": "digits", "modality": "image", "shape": [1, 8, 8], "class_names": CLASSES},
        "arms": ARMS,
        "baseline": "none",
        "shots": [5, 10],
        "seeds": SEEDS,
        "generators": generators,
        "results": synthetic_results(with_curves=True),
    }
    timings = {"total_seconds": 123.4, "units": {"k5/seed0/fit": 12.3, "k5/seed0/arm/none": 4.5}}
    return out, metrics, timings, write_report(out, metrics, timings)


# ----------------------------------------------------------------------------- stats


def test_paired_difference_matches_a_hand_computation():
    arm, base = [0.82, 0.85, 0.84, 0.90], [0.80, 0.81, 0.83, 0.91]
    d = np.array(arm) - np.array(base)  # 0.02, 0.04, 0.01, -0.01
    std = math.sqrt(((d - d.mean()) ** 2).sum() / 3)
    half = scipy_stats.t.ppf(0.975, 3) * std / 2
    result = paired_difference(arm, base)
    assert result["mean"] == pytest.approx(0.015)
    assert result["std"] == pytest.approx(std)
    assert result["ci"] == pytest.approx([0.015 - half, 0.015 + half])
    assert result["ci"] == pytest.approx(list(scipy_stats.ttest_rel(arm, base).confidence_interval(0.95)))
    assert (result["n"], result["wins"], result["losses"], result["ties"]) == (4, 3, 1, 0)
    narrower = paired_difference(arm, base, confidence=0.8)["ci"]
    assert narrower[1] - narrower[0] == pytest.approx(2 * scipy_stats.t.ppf(0.9, 3) * std / 2)
    json.dumps(result, allow_nan=False)


def test_paired_difference_of_one_seed_has_no_interval():
    result = paired_difference([0.9], [0.8])
    assert result["ci"] is None and result["std"] == 0.0 and result["wins"] == 1
    assert result["mean"] == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("arm", "baseline", "kwargs", "error", "names"),
    [
        ([], [], {}, ValueError, "arm"),
        ([0.5, 0.6], [0.5], {}, ValueError, "baseline"),
        ([float("nan")], [0.5], {}, ValueError, "arm"),
        ([0.5], [float("inf")], {}, ValueError, "baseline"),
        ([True], [0.5], {}, ValueError, "arm"),
        ("0.5", [0.5], {}, TypeError, "arm"),
        ([0.5], [0.5], {"confidence": 1.0}, ValueError, "confidence"),
    ],
)
def test_paired_difference_rejects_bad_input(arm, baseline, kwargs, error, names):
    with pytest.raises(error, match=f"^{names}:"):
        paired_difference(arm, baseline, **kwargs)


def test_summarize_rows_numbers_and_verdicts():
    rows = summarize(synthetic_results(), ARMS, baseline="none")
    assert [(r["shots"], r["arm"]) for r in rows] == [(s, a) for s in (5, 10) for a in ARMS]
    by_key = {(r["shots"], r["arm"]): r for r in rows}
    classic = by_key[(5, "classic")]
    assert classic["n"] == 3 and classic["seeds"] == SEEDS
    assert classic["accuracy_mean"] == pytest.approx(np.mean([0.75, 0.78, 0.78]))
    assert classic["accuracy_std"] == pytest.approx(np.std([0.75, 0.78, 0.78], ddof=1))
    assert classic["per_class_mean"] == pytest.approx([classic["accuracy_mean"] + 0.01 * c for c in range(3)])
    assert classic["vs_baseline"]["mean"] == pytest.approx(0.05)
    assert classic["vs_baseline"]["ci"] == pytest.approx([0.05 - 0.024841, 0.05 + 0.024841], abs=1e-6)
    assert classic["vs_baseline"]["wins"] == 3 and by_key[(10, "classic")]["vs_baseline"]["wins"] == 2
    for key, expected in VERDICTS.items():
        assert by_key[key]["verdict"] == expected, key
    for shots in (5, 10):
        assert by_key[(shots, "none")]["vs_baseline"] is None and by_key[(shots, "none")]["verdict"] is None
    assert all(type(r["accuracy_mean"]) is float and type(r["accuracy_std"]) is float for r in rows)
    assert json.dumps(rows, allow_nan=False) == json.dumps(summarize(synthetic_results(), ARMS), allow_nan=False)


def test_summarize_pairs_by_seed_and_handles_a_missing_baseline():
    results = [r for r in synthetic_results() if not (r["arm"] == "none" and r["seed"] == 2)]
    generative = {(r["shots"], r["arm"]): r for r in summarize(results, ARMS)}[(10, "generative")]
    assert generative["n"] == 3 and generative["vs_baseline"]["n"] == 2
    assert generative["vs_baseline"]["mean"] == pytest.approx(0.035)  # seeds 0 and 1: 0.03 and 0.04
    one_seed = summarize([r for r in synthetic_results() if r["seed"] == 0], ARMS)
    assert one_seed[1]["accuracy_std"] == 0.0 and one_seed[1]["verdict"] == "no clear difference"
    for baseline in (None, "smote"):
        rows = summarize(synthetic_results(), ARMS, baseline=baseline)
        assert all(r["vs_baseline"] is None and r["verdict"] is None for r in rows)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda rs: rs[0].update(arm="kde"), r"results\[0\]: arm 'kde'"),
        (lambda rs: rs.append(dict(rs[0])), r"a second result for shots=5, seed=0, arm='none'"),
        (lambda rs: rs[1].pop("accuracy"), r"results\[1\]: expected a dict with"),
        (lambda rs: rs[2].update(accuracy=float("nan")), r"results\[2\]\.accuracy: expected finite"),
        (lambda rs: rs[3].update(per_class=[0.5]), r"per_class lengths differ"),
    ],
)
def test_summarize_rejects_bad_results(mutate, match):
    results = synthetic_results()
    mutate(results)
    with pytest.raises(ValueError, match=match):
        summarize(results, ARMS)


# ----------------------------------------------------------------------------- report


def embedded_pngs(page: str) -> list[bytes]:
    sources = re.findall(r'<img[^>]*\ssrc="([^"]*)"', page)
    assert len(sources) == page.count("<img")
    assert all(s.startswith("data:image/png;base64,") for s in sources), [s[:40] for s in sources]
    return [base64.b64decode(s.split(",", 1)[1], validate=True) for s in sources]


def test_report_is_self_contained_and_has_every_section(run_dir):
    out, _, _, path = run_dir
    page = path.read_text(encoding="utf-8")
    assert path == out / "report.html"
    pngs = embedded_pngs(page)
    # two given PNGs (grid, pairs of k5/seed0), downstream curves per shots, generator curves per shots with a log
    assert len(pngs) == 6 and len({p for p in pngs}) == 6
    for data in pngs:
        assert data.startswith(PNG_SIGNATURE) and Image.open(io.BytesIO(data)).size[0] > 0
    assert sorted(p.name for p in (out / "plots").iterdir()) == [
        "downstream_k10.png",
        "downstream_k5.png",
        "generator_k10.png",
        "generator_k5.png",
    ]
    assert not re.search(r"<link|<script|https?://|\ssrc=\"(?!data:)", page)
    for heading in ("Downstream accuracy", "Accuracy per class", "Generators", "Samples per class", "Training curves"):
        assert f"<h2>{heading}" in page
    assert "k5/seed1/samples.png is missing" in page and "k5/seed2/samples.png is not a PNG" in page
    assert "Total: 123.4 s" in page and "k5/seed0/fit" in page
    assert "<details>" in page and "&quot;family&quot;: &quot;gmm&quot;" in page


def test_validation_loss_shares_the_training_loss_panel(run_dir):
    out, _, _, _ = run_dir
    # the k5 log has loss and val/loss: one panel (train solid, validation dashed), not two
    one_panel = Image.open(out / "plots/generator_k5.png").size[0]
    assert 400 <= one_panel <= 480  # 4.4 inches at 100 dpi per panel


def test_report_tables_verdicts_and_escaping(run_dir):
    _, _, _, path = run_dir
    page = path.read_text(encoding="utf-8")
    assert page.count("<table>") == 5  # metrics, per class at k=5 and at k=10, generators, timings
    assert "At k=5, classic: +5.0 points (95% CI +2.5 to +7.5), " in page
    assert '<span class="hurt">hurt</span>' in page and '<td class="helped">helped</td>' in page
    for arm in ARMS:
        assert f"<td>{arm}</td>" in page
    assert '<td class="num">72.0 ± 2.0</td>' in page  # k=5 baseline accuracy, mean ± std in %
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
    assert "<h1>synthetic &lt;run&gt;</h1>" in page
    assert '<td class="num">2.758</td>' in page and '<td class="num">0.972</td>' in page  # bits/dim, class agreement
    assert '<td class="num">2.289</td>' in page  # bits/dim on the generator's own training records, beside the held-out
    assert '<td class="num">1.321</td>' in page and '<td class="num">0.013</td>' in page  # Fréchet, near-copy share
    assert '<td class="num">≤3.100</td>' in page  # an ELBO bound


def test_report_is_deterministic_and_rebuilds(run_dir):
    out, metrics, timings, path = run_dir
    first = path.read_bytes()
    assert write_report(out, metrics, timings).read_bytes() == first


def test_report_of_a_bare_run_and_bad_metrics(tmp_path):
    metrics = {"arms": ["none", "classic"], "results": [r for r in synthetic_results() if r["arm"] != "generative"]}
    page = write_report(tmp_path, metrics).read_text(encoding="utf-8")
    assert "No generator in this recipe." in page and "No training curves were logged." in page
    assert "<img" not in page and not (tmp_path / "plots").exists()
    with pytest.raises(TypeError, match="^metrics:"):
        write_report(tmp_path, [metrics])
    with pytest.raises(ValueError, match="^metrics: expected a 'results' entry"):
        write_report(tmp_path, {"arms": ["none"]})


def test_summary_text_matches_the_verdicts():
    metrics = {"name": "synthetic", "arms": ARMS, "baseline": "none", "results": synthetic_results()}
    lines = render_summary_text(metrics).splitlines()
    assert lines[0] == "synthetic: downstream accuracy"
    assert lines[1:5] == [
        "At k=5, classic: +5.0 points (95% CI +2.5 to +7.5), helped",
        "At k=5, generative: -5.0 points (95% CI -7.5 to -2.5), hurt",
        "At k=10, classic: +0.3 points (95% CI -4.8 to +5.5), no clear difference",
        "At k=10, generative: +3.5 points (95% CI +2.3 to +4.7), helped",
    ]
    assert lines[6].split() == [
        "shots",
        "arm",
        "accuracy",
        "(%)",
        "vs",
        "none",
        "(points)",
        "95%",
        "CI",
        "wins/n",
        "verdict",
    ]
    assert lines[8].split() == ["k=5", "none", "72.0", "±", "2.0", "–", "–", "–", "–"]
    assert lines[9].split()[-3:] == ["+7.5", "3/3", "helped"]
    no_baseline = render_summary_text({**metrics, "baseline": None}).splitlines()
    assert no_baseline[1] == "At k=5: no baseline arm; best mean accuracy classic (77.0%)"


def test_report_renders_in_chromium(run_dir, tmp_path, chromium_render):
    _, _, _, path = run_dir
    dom = chromium_render(path, tmp_path / "report.png")
    screenshot = np.asarray(Image.open(tmp_path / "report.png").convert("RGB"))
    assert screenshot.shape[1] == 1280
    assert len(np.unique(screenshot.reshape(-1, 3), axis=0)) > 10  # text, tables and images, not a blank page
    assert "<table>" in dom and all(f"<td>{arm}</td>" in dom for arm in ARMS)
    assert dom.count("<img") == path.read_text(encoding="utf-8").count("<img") == 6
