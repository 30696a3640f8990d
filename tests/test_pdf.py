"""The book as one PDF (`make pdf`, scripts/build_pdf.py): complete, navigable, typeset.

Every test runs on both editions: the English PDF (_build/pdf/book.pdf, from _build/html)
and the Chinese one (_build/pdf/book-zh.pdf, from _build/html/zh). Each is read where
`make pdf` made it from the current site; otherwise the built site is printed to a PDF in a
temporary folder first (about two minutes, Chromium needed as for tests/test_browser.py).
"""

from __future__ import annotations

import html
import json
import re
import sys
import unicodedata
from pathlib import Path

import pypdf
import pytest

from conftest import ROOT, toc_files

sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "_ext"))
import build_pdf  # noqa: E402

# LaTeX that MathJax should have typeset: a command the book's math uses, or a delimiter.
RAW_LATEX = re.compile(
    r"\\(?:frac|dfrac|sqrt|sum|prod|int|mathbf|mathrm|mathcal|mathbb|boldsymbol|hat|bar|"
    r"tilde|left|right|begin|end|alpha|beta|gamma|delta|epsilon|varepsilon|theta|lambda|mu|"
    r"sigma|pi|log|exp|top|cdot|times|leq?|geq?|infty|partial|nabla|text|operatorname)"
    r"(?![A-Za-z])|\\\(|\\\)|\\\[|\\\]|\$\$")


def squash(text: str) -> str:
    """Text without whitespace or ligatures: PDF text extraction splits and joins words."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def occurrences(needle: str, text: str) -> int:
    """How often ``needle`` appears in ``text``, both squashed, read as PDF text is extracted.

    A CJK font may map an ideograph's glyph to a *radical* code point (the PDF's text of 贝
    comes back as U+2EC9 ⻉): NFKC folds the Kangxi radicals back, but not the CJK Radicals
    Supplement, so in the needle every Han character also matches any such radical.
    """
    radical = "[\u2e80-\u2eff]"
    pattern = "".join(f"(?:{re.escape(c)}|{radical})" if "\u4e00" <= c <= "\u9fff" else re.escape(c)
                      for c in squash(needle))
    return len(re.findall(pattern, squash(text)))


def strip_tags(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def site_html(site: Path) -> dict[str, str]:
    return {page: (site / f"{page}.html").read_text(encoding="utf-8")
            for page in ["intro", *toc_files()]}


def page_title(page_html: str) -> str:
    """The page's first heading in its article, as the site shows it (number included)."""
    article = page_html[page_html.index("<article"):]
    h1 = re.search(r"<h1[^>]*>(.*?)</h1>", article, re.S).group(1)
    h1 = re.sub(r'<a class="headerlink".*?</a>', "", h1, flags=re.S)
    return " ".join(strip_tags(h1).split())


@pytest.fixture(scope="module", params=["en", "zh"])
def edition(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def site(site: Path, edition: str) -> Path:
    """The built site of this edition (the Chinese one is _build/html/zh)."""
    if edition == "en":
        return site
    if not (site / "zh" / "index.html").exists():
        pytest.fail("no Chinese edition in _build/html/zh: run `make book`")
    return site / "zh"


def made_pdf(edition: str) -> Path:
    return build_pdf.OUT if edition == "en" else build_pdf.OUT.with_name(f"book-{edition}.pdf")


@pytest.fixture(scope="module")
def pdf_path(site: Path, edition: str, tmp_path_factory) -> Path:
    made = made_pdf(edition)
    built = (site / "index.html").stat().st_mtime
    if made.exists() and made.with_suffix(".json").exists() and made.stat().st_mtime >= built:
        return made
    out = tmp_path_factory.mktemp("pdf") / made.name
    try:
        build_pdf.build(site, out, copy_into_site=False, verbose=False, edition=edition)
    except Exception as err:  # no Chromium, most likely: say how to get one
        pytest.fail(f"could not print the book to PDF: {err}\n(test_browser.py's advice on "
                    "installing Chromium applies here too)")
    return out


@pytest.fixture(scope="module")
def reader(pdf_path: Path):
    return pypdf.PdfReader(pdf_path)


@pytest.fixture(scope="module")
def page_texts(reader) -> list[str]:
    # The layout mode keeps text the plain mode can drop (a raw formula in a list, say).
    return [page.extract_text(extraction_mode="layout") for page in reader.pages]


def bookmarks(reader) -> list[tuple[int, str, int]]:
    """(depth, title, 0-based page) of every bookmark, in order (the build's own reader)."""
    return build_pdf.outline_entries(reader)


def test_every_page_of_the_book_is_in_the_pdf_in_order_with_a_bookmark(site, reader,
                                                                        page_texts):
    titles = [page_title(text) for text in site_html(site).values()]
    assert len(titles) == len(toc_files()) + 1
    assert sum(bool(re.match(r"\d+\. ", t)) for t in titles) == 11, titles
    whole = squash("".join(page_texts))
    marks = {title: page for _, title, page in bookmarks(reader)}
    pages = []
    for title in titles:
        assert occurrences(title, whole), f"{title!r} is not in the PDF's text"
        assert title in marks, f"no bookmark for {title!r}"
        # Its first page shows the title twice: in the page header and as its heading.
        assert occurrences(title, page_texts[marks[title]]) >= 2, \
            f"the bookmark for {title!r} does not land on its first page"
        pages.append(marks[title])
    assert pages == sorted(pages) and len(set(pages)) == len(pages), \
        "the pages are not in the order of _toc.yml"


def test_bookmarks_and_contents_carry_the_sites_section_numbers(site, reader, page_texts):
    marks = [title for _, title, _ in bookmarks(reader)]
    for page, text in site_html(site).items():
        numbers = re.findall(r'<h2><span class="section-number">([\d.]+) </span>(.*?)</h2>', text,
                             re.S)
        for number, _ in numbers:
            assert any(m.startswith(number + " ") for m in marks), \
                f"{page}: section {number} has no bookmark"
    # Each numbered bookmark opens the page that shows its heading (number and first word:
    # math in a heading may extract differently).
    for _, title, page in bookmarks(reader):
        if m := re.match(r"(\d+(?:\.\d+)*\.) (\w+)", title):
            assert occurrences(m.group(1) + m.group(2), page_texts[page]), \
                f"the bookmark {title!r} opens page {page + 1}, which does not show it"
    # The table of contents (page 2 on) lists chapter 1's sections with their page numbers.
    contents = "".join(page_texts[1:4])
    assert re.search(r"1\.1\.\s.*?\s(\d+)\n", contents)


def test_page_count_is_plausible_and_pages_are_numbered(reader, page_texts):
    n, pages_in_toc = len(reader.pages), len(toc_files()) + 1
    # Every page of the site takes at least a page, a chapter several; no page runs away.
    assert 3 * pages_in_toc <= n <= 60 * pages_in_toc, n
    for index in (1, n // 3, n // 2, n - 1):
        last = page_texts[index].split()[-1]
        assert last == str(index + 1), f"page {index + 1} is numbered {last!r}"
    box = reader.pages[n // 2].mediabox
    assert (round(float(box.width)), round(float(box.height))) in {(595, 842), (596, 843),
                                                                  (612, 792)}


def test_no_page_shows_raw_latex(site, page_texts):
    # Code may legitimately hold LaTeX (a matplotlib label): lines found in the site's code
    # blocks are not math left untypeset.
    code = squash("".join(strip_tags(block) for text in site_html(site).values()
                          for block in re.findall(r"<pre[^>]*>(.*?)</pre>", text, re.S)))
    raw = []
    for number, text in enumerate(page_texts, start=1):
        for line in text.splitlines():
            if RAW_LATEX.search(line) and squash(line) not in code:
                raw.append(f"page {number}: {line.strip()[:120]}")
    assert raw == [], "raw LaTeX in the PDF:\n" + "\n".join(raw)


def test_each_interactive_figure_and_solution_is_shown(site, edition, page_texts):
    pages = list(site_html(site).values())
    widgets = sum(text.count('class="mlbook-explorer"') for text in pages)
    solutions = sum(len(re.findall(r'class="solution[ "]', text)) for text in pages)
    whole = squash("".join(page_texts))
    assert widgets > 0 and solutions > 0
    note = build_pdf.TEXT[edition]["widget"].split("{values}")[0]
    assert occurrences(note, whole) == widgets
    # A solution's title as the site shows it ("Solution to Exercise 3.1"), numbers dropped.
    title = re.search(r'class="solution[ "].*?<p class="admonition-title">(.*?)</p>',
                      "".join(pages), re.S).group(1)
    label = re.sub(r"[\d.]+", "", squash(strip_tags(title)))
    assert label and occurrences(label, whole) == solutions, label


def test_the_landing_page_links_to_the_pdf_in_the_site(site, edition):
    import offline_site

    assert offline_site.PDF_IN_SITE == build_pdf.PDF_IN_SITE
    intro = (site / "intro.html").read_text(encoding="utf-8")
    assert f'href="{build_pdf.PDF_IN_SITE}"' in intro, \
        "the landing page has no link to the PDF (rebuild the site: make book)"
    made = made_pdf(edition)
    if made.exists():
        copied = site / build_pdf.PDF_IN_SITE
        assert copied.exists(), f"make pdf did not copy the PDF to {copied}"
        assert copied.stat().st_size == made.stat().st_size


def test_nothing_is_wider_than_the_page(pdf_path):
    """Code wraps, and wide tables and display equations are scaled to the page: the build
    measures every block on the page at print width and reports what still runs off."""
    summary = json.loads(pdf_path.with_suffix(".json").read_text())
    assert summary["wider_than_the_page"] == {}


def test_links_land_inside_the_pdf_or_on_other_sites(reader):
    internal, local = 0, []
    for number, page in enumerate(reader.pages, start=1):
        for ref in page.get("/Annots") or []:
            annot = ref.get_object()
            if annot.get("/Subtype") != "/Link":
                continue
            action = annot.get("/A")
            uri = action.get_object().get("/URI") if action is not None else None
            if uri is None:
                internal += "/Dest" in annot or action is not None
            elif uri.startswith(("http://127.0.0.1", "http://localhost", build_pdf.TOC_LINK)):
                local.append(f"page {number}: {uri}")
    assert local == [], "links to the server the PDF was printed from:\n" + "\n".join(local)
    # Cross-references, citations and the contents: well over one per page of the site.
    assert internal > 10 * (len(toc_files()) + 1), internal
