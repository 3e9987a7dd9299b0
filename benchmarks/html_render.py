"""What the HTML report costs for a large gate: rendering it in Python, loading it in a browser.

Run from the repository root::

    python benchmarks/html_render.py                # 5,000 model files (15,000 items), 5 loads
    python benchmarks/html_render.py --files 1667 --repeat 7

The documents are ``tests/reports/html_documents.py``'s :func:`large_documents`: a matrix of
``--files`` model files with three checks each, built by the plugin's ``build_matrix`` and
``render_json``, every file with an informational "no sha256 pin" finding and one in twenty
with a blocking pickle finding (the findings a real unpinned project reports), and a BOM with
the files' hashes. Prints, as medians:

- ``render_s``: :func:`~pytest_mlsupply.reports.html.render_html` in this process;
- ``load_ms``: navigation start to the end of the load event (the Performance API), in headless
  chromium (the system's, ``/usr/bin/chromium`` or ``$MLSUPPLY_CHROMIUM``, driven by
  playwright), a fresh page for each load;
- ``dom_content_loaded_ms``: the same to DOMContentLoaded (the HTML parsed, the script run);
- ``first_contentful_paint_ms``: navigation start to the first paint with content;
- ``filter_ms``: clicking "fail" (every row and finding shown or hidden once);
- ``baseline_load_ms``: the same browser loading the same report with its ``<style>`` and
  ``<script>`` elements removed (the same elements, unstyled, no filter script), measured in the
  same run: the ratio says what the report's styling and script add to parsing its markup.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_TIMING = """() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const button = document.querySelector('button[data-only="verdict"]');
    const paint = performance.getEntriesByName("first-contentful-paint")[0];
    let filter = null;
    if (button && window.__measureFilter) { const t0 = performance.now(); button.click(); filter = performance.now() - t0; }
    return {load_ms: nav.loadEventEnd - nav.startTime,
            dom_content_loaded_ms: nav.domContentLoadedEventEnd - nav.startTime,
            first_contentful_paint_ms: paint ? paint.startTime : null,
            filter_ms: filter};
}"""


def measure(files: int = 5000, repeat: int = 5) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    from pytest_mlsupply.reports.html import render_html
    from tests.reports.html_documents import large_documents

    matrix, bom = large_documents(files)
    renders = []
    for _ in range(repeat):
        start = time.perf_counter()
        text = render_html(matrix, bom)
        renders.append(time.perf_counter() - start)
    chromium = os.environ.get("MLSUPPLY_CHROMIUM") or shutil.which("chromium") or "chromium"
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.html"
        report.write_text(text, encoding="utf-8")
        baseline = Path(scratch) / "baseline.html"
        bare = re.sub(r"<style>.*?</style>|<script>.*?</script>", "", text, flags=re.DOTALL)
        baseline.write_text(bare, encoding="utf-8")
        loads: dict[str, list[float]] = {}
        with sync_playwright() as playwright:
            args = ["--no-sandbox"] if os.geteuid() == 0 else []
            browser = playwright.chromium.launch(executable_path=chromium, args=args)
            for _ in range(repeat):
                for name, path in (("", report), ("baseline_", baseline)):
                    page = browser.new_page(viewport={"width": 1366, "height": 768})
                    page.goto(path.as_uri())
                    # The unstyled baseline has no filter script: only the report's is timed.
                    page.evaluate(f"window.__measureFilter = {'true' if not name else 'false'}")
                    timing: dict[str, Any] = page.evaluate(_TIMING)
                    page.close()
                    for key, value in timing.items():
                        if value is not None:
                            loads.setdefault(name + key, []).append(float(value))
            browser.close()
    figures = {key: statistics.median(values) for key, values in loads.items()}
    figures["render_s"] = statistics.median(renders)
    figures["bytes"] = float(len(text.encode()))
    figures["files"] = float(files)
    figures["items"] = float(3 * files)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    figures = measure(args.files, args.repeat)
    for key in sorted(figures):
        print(f"{key:28} {figures[key]:12.3f}")
    ratio = figures["load_ms"] / figures["baseline_load_ms"]
    print(f"{'load / baseline':28} {ratio:12.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
