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


EDITIONS = ["", "zh/"]          # English at the site's root, Chinese under zh/


@pytest.mark.parametrize("edition", EDITIONS, ids=["en", "zh"])
def test_chapter_one_reads_offline_with_math_and_a_working_slider(browser, server, edition):
    reader = Reader(browser, f"{server}/{edition}chapters/01_mle_vs_bayes.html")
    tag = "" if not edition else "-zh"
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
    widget.screenshot(path=str(shots / f"ch01{tag}-widget-before.png"))
    slider = widget.locator("input[type=range]").first
    label_before = slider.locator("xpath=following-sibling::output").inner_text()
    slider.focus()
    page.keyboard.press("ArrowRight")
    after_src, after_frame = image.get_attribute("src"), image.get_attribute("data-frame")
    label_after = slider.locator("xpath=following-sibling::output").inner_text()
    widget.screenshot(path=str(shots / f"ch01{tag}-widget-after.png"))
    assert after_frame != before_frame
    assert after_src != before_src and after_src.startswith("data:image/png;base64,")
    assert label_after != label_before

    page.screenshot(path=str(shots / f"ch01{tag}-top.png"))
    assert reader.errors == [], f"console errors: {reader.errors}"
    assert reader.foreign_requests(server) == [], "requests left the site"


@pytest.mark.parametrize("edition", EDITIONS, ids=["en", "zh"])
def test_every_page_loads_without_errors_or_foreign_requests(browser, server, site, edition):
    for page in ["intro", *toc_files(), "genindex", "search"]:
        rel = f"{edition}{page}.html"
        assert (site / rel).exists(), f"{rel} was not built"
        reader = Reader(browser, f"{server}/{rel}")
        assert reader.errors == [], f"{rel}: console errors: {reader.errors}"
        assert reader.foreign_requests(server) == [], f"{rel}: requests left the site"
        assert reader.untypeset == 0, f"{rel}: {reader.untypeset} formulas were not typeset"
        reader.page.close()


@pytest.mark.parametrize("edition", EDITIONS, ids=["en", "zh"])
def test_every_slider_of_every_chapter_changes_its_figure(browser, server, edition):
    """Each static widget of each chapter: moving its first slider changes the frame shown."""
    for page in [p for p in toc_files() if p.startswith("chapters/")]:
        reader = Reader(browser, f"{server}/{edition}{page}.html")
        widgets = reader.page.locator(".mlbook-explorer")
        assert widgets.count() >= 1, f"{page}: no widget"
        for i in range(widgets.count()):
            widget = widgets.nth(i)
            widget.scroll_into_view_if_needed()
            image = widget.locator("img.mlbook-frame")
            sliders = widget.locator("input[type=range]")
            for j in range(sliders.count()):
                before = image.get_attribute("src")
                slider = sliders.nth(j)
                slider.focus()
                key = "ArrowLeft" if slider.input_value() == slider.get_attribute("max") else "ArrowRight"
                reader.page.keyboard.press(key)
                assert image.get_attribute("src") != before, f"{page}: widget {i}, slider {j}"
        assert reader.errors == [], f"{page}: console errors: {reader.errors}"
        reader.page.close()


def test_the_language_switch_and_chinese_search_work_in_the_browser(browser, server):
    shots = ROOT / "_build" / "screenshots"
    shots.mkdir(exist_ok=True)
    reader = Reader(browser, f"{server}/chapters/03_rl_basics.html")
    reader.page.locator(".mlbook-language-switch a").click()
    reader.page.wait_for_load_state("networkidle")
    assert reader.page.url == f"{server}/zh/chapters/03_rl_basics.html"
    assert reader.page.locator("html").get_attribute("lang").startswith("zh")
    reader.page.screenshot(path=str(shots / "ch03-zh-top.png"))
    reader.page.locator(".mlbook-language-switch a").click()
    reader.page.wait_for_load_state("networkidle")
    assert reader.page.url == f"{server}/chapters/03_rl_basics.html"
    reader.page.close()

    search = Reader(browser, f"{server}/zh/search.html?q=%E5%BC%BA%E5%8C%96%E5%AD%A6%E4%B9%A0")
    search.page.wait_for_selector("#search-results li a", timeout=20_000)
    links = search.page.locator("#search-results li a").evaluate_all(
        "els => els.map(e => e.getAttribute('href'))")
    assert any("chapters/03_rl_basics" in link for link in links), links
    assert search.errors == [], search.errors
    assert search.foreign_requests(server) == []
    search.page.close()
