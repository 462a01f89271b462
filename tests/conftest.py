"""Fixtures shared by the test files: the bundled digits and a quickly fitted model of them."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

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


CHROMIUM = Path("/usr/bin/chromium")


def _chromium_render(html: Path, out_png: Path) -> str:
    """Load ``html`` in headless Chromium: a 1280x2000 screenshot into ``out_png``; returns the DOM after load.

    One run gives both (``--screenshot`` and ``--dump-dom``), with a fresh profile, no network
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


@pytest.fixture
def chromium_render():
    """``render(html, out_png) -> DOM``: load a page in headless Debian Chromium and screenshot it.

    Skips when /usr/bin/chromium is missing (``.ci/run`` installs it: ``apt-get install chromium``).
    """
    if not CHROMIUM.is_file():
        pytest.skip("needs /usr/bin/chromium to render the report (.ci/run installs Debian's chromium)")
    return _chromium_render
