"""The built site: it builds with warnings as errors, and a page loads nothing from elsewhere."""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlparse

import pytest

from conftest import ROOT, toc_files
from mlbook.widgets import MAX_BYTES, MAX_FRAMES

# Elements whose URL attribute the browser fetches when the page loads. Links a reader
# clicks (<a href>) are not loads, and neither are <link rel="canonical"> and the like.
LOADING_LINK_RELS = {"stylesheet", "icon", "shortcut", "preload", "modulepreload",
                     "prefetch", "manifest", "apple-touch-icon", "mask-icon"}


class LoadedURLs(HTMLParser):
    """Collect every URL an HTML page loads by itself."""

    def __init__(self):
        super().__init__()
        self.urls: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "img", "iframe", "audio", "video", "source", "track", "embed", "input"):
            if a.get("src"):
                self.urls.append((tag, a["src"]))
        if tag == "object" and a.get("data"):
            self.urls.append((tag, a["data"]))
        if tag == "link" and set((a.get("rel") or "").lower().split()) & LOADING_LINK_RELS:
            self.urls.append((tag, a.get("href", "")))
        if a.get("style"):
            self.urls += [(tag, u) for u in css_urls(a["style"])]

    def handle_data(self, data):
        # @import and url() inside inline <style> blocks
        self.urls += [("style", u) for u in css_urls(data) if "url(" in data or "@import" in data]


def css_urls(css: str) -> list[str]:
    found = re.findall(r"url\(\s*['\"]?([^'\")]+)", css)
    found += re.findall(r"@import\s+['\"]([^'\"]+)", css)
    return found


def is_external(url: str) -> bool:
    parsed = urlparse(url.strip())
    return bool(parsed.netloc) or parsed.scheme in ("http", "https")


def built_pages(site: Path) -> list[Path]:
    return [site / f"{page}.html" for page in ["intro", *toc_files(), "genindex", "search"]]


EDITIONS = ["", "zh"]           # English at the site's root, Chinese under zh/


@pytest.mark.parametrize("edition", EDITIONS, ids=["en", "zh"])
def test_no_page_loads_anything_from_another_host(site, edition):
    offenders = []
    for page in built_pages(site / edition):
        parser = LoadedURLs()
        parser.feed(page.read_text(encoding="utf-8"))
        offenders += [f"{page.name}: <{tag}> {url}" for tag, url in parser.urls if is_external(url)]
    assert offenders == [], "pages load from other hosts:\n" + "\n".join(offenders)


@pytest.mark.parametrize("edition", EDITIONS, ids=["en", "zh"])
def test_no_stylesheet_imports_from_another_host(site, edition):
    site = site / edition
    offenders = []
    for css in (site / "_static").rglob("*.css"):
        offenders += [f"{css.relative_to(site)}: {u}"
                      for u in css_urls(css.read_text(encoding="utf-8", errors="replace"))
                      if is_external(u)]
    assert offenders == [], "stylesheets load from other hosts:\n" + "\n".join(offenders)


@pytest.mark.parametrize("edition", EDITIONS, ids=["en", "zh"])
def test_mathjax_is_served_by_the_site(site, edition):
    site = site / edition
    page = (site / "chapters" / "01_mle_vs_bayes.html").read_text(encoding="utf-8")
    assert re.search(r'<script[^>]+src="\.\./_static/mathjax/tex-chtml\.js', page)
    assert (site / "_static" / "mathjax" / "tex-chtml.js").stat().st_size > 100_000
    fonts = list((site / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    assert len(fonts) > 10
    # extensions MathJax autoloads (\boldsymbol in chapter 6, for one)
    assert (site / "_static" / "mathjax" / "input" / "tex" / "extensions" / "boldsymbol.js").exists()


@pytest.mark.parametrize("edition", EDITIONS, ids=["en", "zh"])
def test_every_widget_on_the_site_is_static_and_light(site, edition):
    """Each chapter page has its widgets as HTML sliders over frames, within the budgets."""
    found = 0
    for page in built_pages(site / edition):
        text = page.read_text(encoding="utf-8")
        assert "application/vnd.jupyter.widget-view+json" not in text, page.name
        for match in re.finditer(r'<div class="mlbook-explorer"[^>]*data-frames="(\d+)"(.*?)</script>',
                                 text, flags=re.S):
            found += 1
            frames = re.findall(r'"(iVBORw0KGgo[A-Za-z0-9+/=]+)"', match.group(2))
            assert len(frames) == int(match.group(1)) <= MAX_FRAMES
            assert sum(len(f) for f in frames) <= MAX_BYTES
    assert found >= 1


def test_every_chapter_in_the_toc_is_an_executable_notebook(site):
    chapters = [page for page in toc_files() if page.startswith("chapters/")]
    assert len(chapters) == 11
    for page in toc_files():
        sources = [s for s in (ROOT / f"{page}.ipynb", ROOT / f"{page}.md") if s.exists()]
        assert len(sources) == 1, f"{page}: expected one .ipynb or one .md, found {sources}"
        if page in chapters:
            assert sources[0].suffix == ".ipynb", f"{page} is not a notebook yet"


def test_the_book_builds_from_scratch_with_warnings_as_errors(tmp_path):
    """A full rebuild into a new folder (all pages re-read; notebooks from the cache)."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "jupyter-book"), "build", str(ROOT),
         "--path-output", str(tmp_path), "--warningiserror", "--keep-going"],
        cwd=ROOT, capture_output=True, text=True, timeout=1800)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-5000:]
    assert "executed now" not in log, "a chapter re-executed: the execution cache was not shared"
    assert (tmp_path / "_build" / "html" / "chapters" / "01_mle_vs_bayes.html").exists()
