"""A real reader: headless Chromium opens a built chapter from a local HTTP server.

Checks that the math was typeset by the site's own MathJax, that the page logs no console
errors, that it sends no request to any other host, and that moving a static slider
changes the figure shown, with no kernel. Screenshots land in _build/screenshots/.
"""

from __future__ import annotations

import functools
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import pytest

from conftest import ROOT, toc_files

sys.path.insert(0, str(ROOT / "scripts"))
import build_pdf  # noqa: E402

# The same Chromium and flags as the PDF build (scripts/build_pdf.py), in one place.
CHROMIUM_FLAGS = build_pdf.CHROMIUM_FLAGS
system_chromium = build_pdf.system_chromium


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(site: Path):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0),
                                functools.partial(QuietHandler, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as p:
        executable = system_chromium()
        try:
            browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        except Error as err:
            pytest.fail(
                "no usable Chromium for the browser tests. Install the system one "
                "(Debian/Ubuntu: apt-get install chromium), point MLBOOK_CHROMIUM at a "
                "Chromium binary, or run `.venv/bin/python -m playwright install chromium` "
                f"(`make test` does this when it finds none).\n{err}")
        yield browser
        browser.close()


class Reader:
    """A page plus everything it logged and requested."""

    def __init__(self, browser, url: str):
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(url, wait_until="networkidle")
        # MathJax typesets after the page loads and may then fetch TeX extensions: wait for it
        # to finish, so its errors and requests are seen, then count math left untypeset.
        self.untypeset = 0
        if self.page.locator("script[src*='mathjax/tex-chtml.js']").count():
            self.page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                                        timeout=30_000)
            self.page.evaluate("() => MathJax.startup.promise")
            self.page.wait_for_load_state("networkidle")
            self.untypeset = self.page.locator(
                "span.math:not(:has(mjx-container)), div.math:not(:has(mjx-container))").count()

    def foreign_requests(self, origin: str) -> list[str]:
        host = urlparse(origin).netloc
        return [u for u in self.requests
                if urlparse(u).scheme not in ("data", "blob") and urlparse(u).netloc != host]


def test_chapter_one_reads_offline_with_math_and_a_working_slider(browser, server):
    reader = Reader(browser, f"{server}/chapters/01_mle_vs_bayes.html")
    page = reader.page
    # Math typeset by MathJax served from the site itself.
    page.wait_for_selector("mjx-container", timeout=20_000)
    assert page.locator("mjx-container").count() > 20
    assert reader.untypeset == 0
    assert any("/_static/mathjax/tex-chtml.js" in u for u in reader.requests)

    # The static widget: move the first slider one step with the keyboard, as a reader would.
    widget = page.locator(".mlbook-explorer").first
    widget.scroll_into_view_if_needed()
    image = widget.locator("img.mlbook-frame")
    before_src, before_frame = image.get_attribute("src"), image.get_attribute("data-frame")
    shots = ROOT / "_build" / "screenshots"
    shots.mkdir(exist_ok=True)
    widget.screenshot(path=str(shots / "ch01-widget-before.png"))
    slider = widget.locator("input[type=range]").first
    label_before = slider.locator("xpath=following-sibling::output").inner_text()
    slider.focus()
    page.keyboard.press("ArrowRight")
    after_src, after_frame = image.get_attribute("src"), image.get_attribute("data-frame")
    label_after = slider.locator("xpath=following-sibling::output").inner_text()
    widget.screenshot(path=str(shots / "ch01-widget-after.png"))
    assert after_frame != before_frame
    assert after_src != before_src and after_src.startswith("data:image/png;base64,")
    assert label_after != label_before

    page.screenshot(path=str(shots / "ch01-top.png"))
    assert reader.errors == [], f"console errors: {reader.errors}"
    assert reader.foreign_requests(server) == [], "requests left the site"


def test_every_page_loads_without_errors_or_foreign_requests(browser, server, site):
    for page in ["intro", *toc_files(), "genindex", "search"]:
        rel = f"{page}.html"
        assert (site / rel).exists(), f"{rel} was not built"
        reader = Reader(browser, f"{server}/{rel}")
        assert reader.errors == [], f"{rel}: console errors: {reader.errors}"
        assert reader.foreign_requests(server) == [], f"{rel}: requests left the site"
        assert reader.untypeset == 0, f"{rel}: {reader.untypeset} formulas were not typeset"
        reader.page.close()
