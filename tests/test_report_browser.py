"""The report opens offline in headless Chromium and shows its figures (screenshot test).

Needs Python playwright and Debian's chromium (``apt-get install -y chromium``); skipped
cleanly when either is missing. ``playwright install`` is never run: the system browser is
launched through ``executable_path``.
"""

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests._runs import tiny_report

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium")


def grey(image: Image.Image, size: int = 48) -> np.ndarray:
    return np.asarray(image.convert("L").resize((size, size), Image.Resampling.BILINEAR), float)


@pytest.fixture(scope="module")
def report() -> Path:
    return tiny_report()


def test_report_opens_offline_and_shows_every_figure(report):
    html = report.read_text()
    first_png = re.search(r'src="data:image/png;base64,([^"]+)"', html).group(1)
    source = Image.open(io.BytesIO(base64.b64decode(first_png)))
    outside: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})

            def guard(route):
                if route.request.url.startswith(("file:", "data:")):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            page.route("**/*", guard)
            page.on(
                "request",
                lambda r: None if r.url.startswith(("file:", "data:")) else outside.append(r.url),
            )
            page.goto(report.as_uri(), wait_until="load")
            images = page.evaluate(
                "Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt])"
            )
            shot = Image.open(io.BytesIO(page.screenshot(full_page=False)))
            first = page.locator("img").first
            first.scroll_into_view_if_needed()
            rendered = Image.open(io.BytesIO(first.screenshot()))
            title = page.title()
        finally:
            browser.close()
    assert outside == []
    assert "tiny-islands" in title
    expected = html.count("<img ")
    assert expected >= 8  # metric curves, heatmaps, map, GIF, network, neologisms, ...
    assert len(images) == expected
    assert all(complete and width > 0 for complete, width, _ in images), images
    assert "dialect map animation" in {alt for *_, alt in images}
    pixels = np.asarray(shot.convert("L"), float)
    assert pixels.std() > 10  # not a blank page
    # the browser shows the figure that was embedded: coarse pixel agreement
    difference = np.abs(grey(rendered) - grey(source)).mean()
    assert difference < 12, difference


def test_findings_come_first_and_curves_carry_event_markers(report):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(report.as_uri(), wait_until="load")
            headings = page.evaluate(
                "Array.from(document.querySelectorAll('h2')).map(h => h.textContent)"
            )
            dialects = page.locator("#findings li[data-topic=dialects]").inner_text()
            top = page.locator("#findings").bounding_box()["y"]
            visible = page.locator("#findings li").first.is_visible()
            curves = page.evaluate(
                'Array.from(document.querySelectorAll(\'img[alt$="curves"], img[alt*="curves;"]\'))'
                ".map(i => [i.alt, i.dataset.events])"
            )
            summary_width = page.locator("table").first.bounding_box()["width"]
        finally:
            browser.close()
    assert headings[0] == "Findings"
    assert top < 900 and visible  # on the first screen
    assert re.search(r"\d+ dialects from round \d+, .* the \d+ communities \(ARI [\d.]+", dialects)
    assert len(curves) == 4
    for alt, events in curves:
        assert json.loads(events) == [{"round": 1, "label": "isolate_communities"}]
        assert "isolate_communities (round 1)" in alt
    assert summary_width < 1180  # the narrow table fits the page
