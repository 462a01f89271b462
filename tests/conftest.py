"""Fixtures shared by the test files: the bundled digits and a quickly fitted model of them."""

from __future__ import annotations

import pytest

import genaug


@pytest.fixture(scope="session")
def digits():
    """The bundled digits (1797 8x8 images, 0..16, 10 classes); tests must not modify it."""
    return genaug.load_source("digits")


@pytest.fixture(scope="session")
def digits_gmm_dir(tmp_path_factory, digits):
    """A model folder: a gmm fitted on the digits in 5 steps (a second's work)."""
    out = tmp_path_factory.mktemp("digits-gmm")
    genaug.fit(digits, "gmm", steps=5, out=out, train={"checkpoint_every": 0})
    return out


@pytest.fixture
def chromium_render():
    """``render(html, out_png) -> DOM``: load a page in headless Debian Chromium and screenshot it.

    Skips when /usr/bin/chromium is missing (``.ci/run`` installs it: ``apt-get install chromium``).
    """
    from genaug.recipes.report import CHROMIUM, render_in_chromium

    if not CHROMIUM.is_file():
        pytest.skip(f"needs {CHROMIUM} to render the report (.ci/run installs Debian's chromium)")
    return render_in_chromium


def toy_words(n: int = 200, seed: int = 0) -> tuple[list[str], list[str]]:
    """Two classes told apart by spelling: "first" words start with a and end in n, "second" words the reverse.

    The text tests' toy data (vowels in between, 1 to 4 of them).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        middle = "".join(rng.choice(list("aeiou"), size=rng.integers(1, 5)))
        texts.append("a" + middle + "n" if i % 2 == 0 else "n" + middle + "a")
        labels.append("first" if i % 2 == 0 else "second")
    return texts, labels

