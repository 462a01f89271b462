"""Render a recipe run's report.html in headless Chromium and check the page has its tables and images.

Checks: Chromium loads the page and screenshots it (1280 px wide, not one flat colour); the DOM has
the metrics table with every arm of the run, the per-class and generator tables, and every image the
report embeds (one sample grid and one nearest-pairs PNG per generator, the curve plots), each a
decodable PNG. Used on the report that README's main job (`genaug run`) writes.

Usage:
    python benchmarks/check_report.py runs/quick [--png report.png] [--write]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import re
import tempfile
from pathlib import Path

import numpy as np
from _report import command, machine, write_section
from PIL import Image

from genaug.recipes.report import render_in_chromium


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a recipe's output folder (holds report.html and metrics.json)")
    parser.add_argument("--png", type=Path, default=None, help="keep the screenshot here")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    metrics = json.loads((args.run / "metrics.json").read_text())
    html = (args.run / "report.html").read_text()
    with tempfile.TemporaryDirectory() as tmp:
        png = args.png or Path(tmp) / "report.png"
        dom = render_in_chromium(args.run / "report.html", png)
        shot = np.asarray(Image.open(png).convert("RGB"))
    sources = re.findall(r'<img[^>]*src="data:image/png;base64,([^"]+)"', dom)
    sizes = [Image.open(io.BytesIO(base64.b64decode(s))).size for s in sources]
    expected_images = 2 * len(metrics["generators"])  # grids and pairs; plots come on top
    checks = {
        "screenshot 1280 px wide, not blank": shot.shape[1] == 1280 and len(np.unique(shot.reshape(-1, 3), axis=0)) > 10,
        "metrics table lists every arm": all(f"<td>{arm}</td>" in dom for arm in metrics["arms"]),
        "tables": dom.count("<table") >= 3,
        "every embedded image in the DOM and decodable": len(sources) == html.count("<img") and all(w > 0 for w, _ in sizes),
        f"at least {expected_images} images (grids, pairs) plus curves": len(sources) > expected_images,
    }
    lines = [f"- {'pass' if ok else 'FAIL'}: {name}" for name, ok in checks.items()]
    body = "\n".join(
        [
            "## The quick recipe's report in Chromium (`check_report.py`)",
            "",
            f"Command: `{command()}` after README's main job (`genaug run`) on a fresh install  ",
            f"Machine: {machine()}; {Path('/usr/bin/chromium').name} from Debian's packages, headless",
            "",
            f"`{args.run}/report.html`: {len(html) / 1024:.0f} KiB, {dom.count('<table')} tables, {len(sources)} embedded PNGs; "
            f"screenshot {shot.shape[1]}x{shot.shape[0]}.",
            "",
            *lines,
        ]
    )
    print(body)
    if not all(checks.values()):
        raise SystemExit(1)
    if args.write:
        write_section("check_report", body)


if __name__ == "__main__":
    main()
