"""The whole book as one PDF, printed from the built site: `make pdf` (after `make book`).

Usage: python scripts/build_pdf.py [--edition en|zh] [--site DIR] [--out FILE]

``make pdf`` prints both editions: English from ``_build/html`` to ``_build/pdf/book.pdf``,
and, when the Chinese edition is built, Chinese from ``_build/html/zh`` to
``_build/pdf/book-zh.pdf`` (its title page, contents and notes in Chinese, its part captions
and title from the Chinese build's ``_build/zh/src``).

How it is made, with nothing but what the book already has (the built site, the headless
Chromium its browser tests drive, and pypdf), and no network:

1. The built site is served on a local port, and every page of ``_toc.yml`` (the landing
   page, the chapters, the back matter) is opened in Chromium in the book's order.
2. On each page we wait for the site's own MathJax to finish typesetting, then prepare it for
   paper: the site's navigation, sidebars and launch buttons are hidden by a print style
   sheet; folded exercise solutions are unfolded in place (so each exercise is followed by
   its solution, the code it runs included); code cells folded on the site ("hide-input":
   plotting code and the checks behind the prose) are left out, their outputs stay; every
   interactive figure shows its default frame, its sliders replaced by one line giving the
   default values and where to move them online (the page on the published site when
   ``html.baseurl`` is set in ``_config.yml``, otherwise the page's path in the site); long
   code lines wrap, and a table or display equation wider than the page is scaled to fit.
3. Each page is printed by Chromium (``page.pdf``, A4, with the chapter's title in the page
   header and a PDF outline of its headings), then the pieces are merged with pypdf behind
   a title page and a table of contents built from those outlines.
4. Page numbers are stamped after the merge, so they run continuously through the book and
   agree with the page numbers a PDF viewer shows (the title page is page 1). The bookmarks
   follow the site's numbering: parts, chapters ("3. ..."), sections ("3.2. ...") and
   subsections. Links between pages of the site become links inside the PDF (to the page
   where the target's section starts); links to other sites stay as they are.

The PDF lands in ``--out``, with a summary beside it (``book.json``: pages, size, time, and
anything still wider than the page), and, so that the landing page's download link works, in the
site's ``_downloads/book.pdf`` (``PDF_IN_SITE``; ``_ext/offline_site.py`` links to it).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from html import escape
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import yaml

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
OUT = ROOT / "_build" / "pdf" / "book.pdf"
#: Where the PDF is copied inside the site; the landing page links here.
PDF_IN_SITE = "_downloads/book.pdf"

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-dev-shm-usage"]

#: Paper: A4 with these margins (CSS units, as page.pdf takes them). The content box is
#: 210 - 2 * 16 = 178 mm wide, which is CONTENT_WIDTH_PX CSS pixels (96 px per inch).
PAPER = "A4"
PAGE_MM = (210.0, 297.0)
MARGIN = {"top": "18mm", "bottom": "18mm", "left": "16mm", "right": "16mm"}
CONTENT_WIDTH_PX = round(178 / 25.4 * 96)

#: Links from the table of contents point here; they are turned into links to pages.
TOC_LINK = "https://pdf-page.invalid/"

PRINT_CSS = """
@media print, screen {
  html, body { background: white !important; }
  .bd-header, .bd-header-article, .bd-sidebar-primary, .bd-sidebar-secondary, .bd-footer,
  .bd-footer-article, .bd-footer-content, .prev-next-area, .prev-next-footer,
  .header-article-items, .article-header-buttons, #pst-back-to-top, .search-button,
  .pst-async-banner-revealer, #pst-skip-link, .skip-link, .bd-search, .toggle-button,
  .copybtn, .headerlink, .mlbook-controls, .mlbook-language-switch, .sidebar-toggle, .bd-header-announcement,
  dialog { display: none !important; }
  .bd-main .bd-content .bd-article h1:first-of-type { display: block !important; }
  .bd-main .bd-content { margin-left: 0 !important; }
  .cell_input, div.highlight, .cell_output { break-inside: avoid; }
  .bd-container, .bd-container__inner, .bd-page-width, .bd-main, .bd-content,
  .bd-article-container, .bd-article { max-width: none !important; width: 100% !important;
    margin: 0 !important; padding: 0 !important; display: block !important; }
  body { font-size: 10.5pt !important; }
  article h1 { font-size: 2.1em !important; margin-top: 0.5em !important; }
  article h2 { font-size: 1.55em !important; }
  article h3 { font-size: 1.25em !important; }
  article h4 { font-size: 1.1em !important; }
  pre, pre * { white-space: pre-wrap !important; overflow-wrap: anywhere !important;
    word-break: break-word; }
  pre { font-size: 8pt !important; line-height: 1.35 !important; overflow: visible !important;
    max-height: none !important; }
  div.highlight, .cell_output, .output, .table-wrapper, .pst-scrollable-table-container,
  .math-wrapper, div.math { overflow: visible !important; max-height: none !important; }
  h1, h2, h3, h4, dt, .admonition-title, p.caption { break-after: avoid; }
  img, figure, svg, .mlbook-explorer, tr, mjx-container[display="true"] {
    break-inside: avoid; }
  img { max-width: 100% !important; height: auto; }
  .toggle-hidden { display: block !important; visibility: visible !important;
    height: auto !important; opacity: 1 !important; }
  .admonition.dropdown > *:not(.admonition-title) { display: revert !important; }
  details > summary { display: none !important; }
  .mlbook-pdf-note { font-size: 8.5pt; color: #444; font-style: italic; margin: 0.2em 0 1em; }
  a { color: inherit !important; text-decoration: none !important; }
  a.mlbook-pdf-online { color: #1a5fb4 !important; }
}
"""

#: Run on each page once MathJax has finished: unfold, strip, annotate (see the module
#: docstring). Returns the page's headings and where each id on the page lives.
PREPARE_JS = r"""
({pageUrl, onlineUrl, text}) => {
  // The site's chrome goes, hidden or not: Chromium's outline would list its headings.
  document.querySelectorAll('#jb-print-docs-body, .bd-header, .bd-header-article, '
      + '.bd-sidebar-primary, .bd-sidebar-secondary, .bd-footer, .bd-footer-article, '
      + '.prev-next-area, .prev-next-footer, #pst-back-to-top, dialog, .search-button__wrapper, '
      + '.mlbook-pdf-link')
    .forEach(e => e.remove());
  // Folded exercise solutions (sphinx-togglebutton): show their content.
  document.querySelectorAll('.toggle-hidden').forEach(e => e.classList.remove('toggle-hidden'));
  // Folded code cells: inside a solution they are part of the answer (open them); elsewhere
  // they are the plotting code and the checks behind the prose, left to the online book.
  document.querySelectorAll('details').forEach(d => {
    if (d.matches('.hide.above-input') && !d.closest('.solution')) d.remove();
    else d.open = true;
  });
  document.querySelectorAll('.headerlink, .toggle-button').forEach(e => e.remove());
  // Interactive figures: their default frame, and a line saying what it shows.
  document.querySelectorAll('.mlbook-explorer').forEach(w => {
    const values = [...w.querySelectorAll('.mlbook-control')].map(c => {
      const name = c.querySelector('.mlbook-control-name')?.textContent.trim();
      const range = c.querySelector('input[type=range]');
      if (range && range.defaultValue !== range.value) {
        range.value = range.defaultValue;
        range.dispatchEvent(new Event('input', {bubbles: true}));
      }
      const value = c.querySelector('output')?.textContent.trim();
      return `${name} = ${value}`;
    });
    const section = w.closest('section[id]');
    const rel = pageUrl + (section ? '#' + section.id : '');
    const note = document.createElement('p');
    note.className = 'mlbook-pdf-note';
    note.append(text.widget.replace('{values}', values.join(text.comma)));
    if (onlineUrl) {
      const a = document.createElement('a');
      a.href = onlineUrl + rel; a.textContent = onlineUrl + rel; a.className = 'mlbook-pdf-online';
      note.append(a);
    } else {
      const code = document.createElement('code');
      code.textContent = rel;
      note.append(code, text.in_site);
    }
    w.after(note);
  });
  // Wide tables and display equations: scale to the page width (measured at print width).
  const scaleToFit = (el, avail, need) => {
    if (need > avail + 1) el.style.zoom = (Math.floor(1000 * avail / need) / 1000).toString();
  };
  document.querySelectorAll('mjx-container[display="true"]').forEach(m => {
    scaleToFit(m, m.clientWidth, m.scrollWidth);
    m.style.overflow = 'visible';
  });
  document.querySelectorAll('article table').forEach(t =>
    scaleToFit(t, t.parentElement.clientWidth, t.getBoundingClientRect().width));
  // Anything still wider than the page (reported by the build, so it can be fixed).
  const article = document.querySelector('article') || document.body;
  const limit = article.getBoundingClientRect().right + 2;
  const overflow = [...article.querySelectorAll('pre, table, img, mjx-container, .cell_output, p, li')]
    .filter(e => e.getBoundingClientRect().right > limit || e.scrollWidth > e.clientWidth + 2 && getComputedStyle(e).overflowX !== 'visible')
    .map(e => `${e.tagName.toLowerCase()} in ${e.closest('section[id]')?.id}: ${e.textContent.trim().slice(0, 60)}`);
  // Where every id lives: the nearest section, so links can land on its page.
  const where = {};
  document.querySelectorAll('article [id]').forEach(e => {
    const s = e.matches('section[id]') ? e : e.closest('section[id]');
    if (s) where[e.id] = s.id;
  });
  // Headings as text, for bookmarks and the contents: math in them from its TeX source.
  const tex = new Map();
  Array.from(window.MathJax?.startup?.document?.math || []).forEach(m => tex.set(m.typesetRoot, m.math));
  const greek = {alpha: 'α', beta: 'β', gamma: 'γ', delta: 'δ', epsilon: 'ϵ', varepsilon: 'ε',
                 theta: 'θ', lambda: 'λ', mu: 'μ', pi: 'π', sigma: 'σ', tau: 'τ', phi: 'φ'};
  const asText = (h) => {
    const c = h.cloneNode(true), originals = [...h.querySelectorAll('mjx-container')];
    [...c.querySelectorAll('mjx-container')].forEach((m, i) => {
      const src = (tex.get(originals[i]) || '').replace(/\\([a-zA-Z]+)/g, (all, n) => greek[n] || all);
      m.replaceWith(src);
    });
    return c.textContent.replace(/\s+/g, ' ').trim();
  };
  const headings = [...document.querySelectorAll('article h1, article h2, article h3, article h4, article h5, article h6')]
    .map(h => ({level: +h.tagName[1], text: asText(h), section: h.closest('section[id]')?.id || null}));
  return {where, headings, overflow, title: headings.length ? headings[0].text : document.title};
}
"""


def system_chromium() -> str | None:
    """The system's Chromium, if any (MLBOOK_CHROMIUM overrides); as tests/test_browser.py."""
    if os.environ.get("MLBOOK_CHROMIUM"):
        return os.environ["MLBOOK_CHROMIUM"]
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


#: Where each edition's book sources are (the Chinese ones are written by
#: scripts/translations.py during `make book`), and the words the PDF adds in its language.
SOURCES = {"en": ROOT, "zh": ROOT / "_build" / "zh" / "src"}
TEXT = {
    "en": {
        "widget": "Interactive figure, shown here at its default setting ({values}). "
                  "Move its sliders in the online book: ",
        "comma": ", ", "in_site": " in the site.", "contents": "Contents",
        "note": "This PDF is printed from the book's site: every number and figure in it was "
                "computed when the book was built. Each interactive figure is shown at its "
                "default setting, with a line saying where to move its sliders in the online "
                "book{where}. Each exercise is followed by its solution.",
    },
    "zh": {
        "widget": "交互式图形，此处显示其默认设置（{values}）。在线版中可以拖动它的滑块：",
        "comma": "，", "in_site": "（网站中的页面）。", "contents": "目录",
        "note": "本 PDF 由本书网站打印而成：其中每个数字和每幅图都是在构建本书时计算出来的。"
                "每个交互式图形都以默认设置显示，并附一行说明在在线版{where}中到哪里拖动它的滑块。"
                "每道练习之后紧接着它的解答。",
    },
}


def book_config(edition: str = "en") -> dict:
    return yaml.safe_load((SOURCES[edition] / "_config.yml").read_text())


def toc_pages(edition: str = "en") -> list[tuple[str | None, str]]:
    """(part caption, page) for every page of _toc.yml in order; the root page has no part."""
    toc = yaml.safe_load((SOURCES[edition] / "_toc.yml").read_text())
    pages = [(None, toc["root"])]
    for part in toc["parts"]:
        pages += [(part.get("caption"), c["file"]) for c in part["chapters"]]
    return pages


def online_url(config: dict) -> str | None:
    """The published site's address (html.baseurl in _config.yml), with a trailing slash."""
    base = (config.get("html") or {}).get("baseurl")
    if not base:
        return None
    return base if base.endswith("/") else base + "/"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(site: Path) -> tuple[ThreadingHTTPServer, str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0),
                                functools.partial(QuietHandler, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def header_template(text: str) -> str:
    return ('<div style="font-size:7.5pt;color:#777;width:100%;text-align:center;'
            f'font-family:sans-serif;padding:0 16mm">{escape(text)}</div>')


def print_page(browser, origin: str, page_path: str, out: Path, online: str | None,
               text: dict | None = None) -> dict:
    """Open one page of the site, prepare it for paper and print it to ``out``."""
    page = browser.new_page(viewport={"width": CONTENT_WIDTH_PX, "height": 1100},
                            color_scheme="light")
    try:
        page.route(re.compile(r"^(?!http://127\.0\.0\.1)"), lambda route: route.abort())
        page.goto(f"{origin}/{page_path}.html", wait_until="load")
        page.emulate_media(media="print")
        if page.locator("script[src*='mathjax/tex-chtml.js']").count():
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                                   timeout=60_000)
            page.evaluate("() => MathJax.startup.promise")
        page.add_style_tag(content=PRINT_CSS)
        info = page.evaluate(PREPARE_JS, {"pageUrl": f"{page_path}.html", "onlineUrl": online,
                                          "text": text or TEXT["en"]})
        page.evaluate("() => document.fonts.ready.then(() => true)")
        page.pdf(path=str(out), format=PAPER, margin=MARGIN, print_background=True,
                 display_header_footer=True, header_template=header_template(info["title"]),
                 footer_template="<div></div>", outline=True, tagged=True)
    finally:
        page.close()
    return info


def outline_entries(reader) -> list[tuple[int, str, int]]:
    """(depth, title, page index) of a printed page's outline (Chromium's, of its headings)."""
    rows = []

    def walk(items, depth):
        for item in items:
            if isinstance(item, list):
                walk(item, depth + 1)
            else:
                rows.append((depth, item.title, reader.get_destination_page_number(item)))

    walk(reader.outline, 0)
    return rows


def _key(text: str) -> str:
    """Letters, digits and Han characters of a heading: what an outline title and the heading's
    text have in common (Chromium's titles lose spaces at line breaks and math, and may
    repeat a heading's number and text)."""
    text = re.sub(r"^((?:\d+\.)+)\s+\1(?=\s)", r"\1", text.strip())
    return re.sub(r"[^A-Za-z0-9\u4e00-\u9fff]", "", text)


def heading_pages(headings: list[dict], reader) -> list[int]:
    """The 0-based page of each heading, from Chromium's outline; a heading the outline
    lacks (the outline often skips the page's first heading) takes the page before it."""
    outline = outline_entries(reader)
    pages: list[int | None] = [None] * len(headings)
    at = 0
    for _, title, index in outline:
        key = _key(title)
        for j in range(at, min(at + 4, len(headings))):
            want = _key(headings[j]["text"])
            # Ten characters of an English heading; four of a Chinese one (its number and
            # first characters), since a formula early in it may be missing from the title.
            want = want[:4] if re.search(r"[\u4e00-\u9fff]", want) else want[:10]
            if want and key.startswith(want):
                pages[j], at = index, j + 1
                break
    missing = [h["text"] for h, page in zip(headings[1:], pages[1:]) if page is None]
    if missing:
        print(f"warning: headings placed on the page before them (not in Chromium's outline): "
              f"{missing}", file=sys.stderr)
    last = 0
    for j, page in enumerate(pages):
        last = pages[j] = page if page is not None else last
    return pages


def contents(pages, infos, readers, front_pages: int) -> list[dict]:
    """The table of contents: parts, pages (their title) and, for numbered chapters, their
    sections, each with its page number (1-based, counting the ``front_pages`` first)."""
    entries, start, last_part = [], front_pages, None
    for (part, _), info, reader in zip(pages, infos, readers):
        if part and part != last_part:
            entries.append({"kind": "part", "title": part})
        last_part = part or last_part
        entries.append({"kind": "chapter", "title": info["title"], "page": start + 1})
        if re.match(r"\d+\. ", info["title"]):
            entries += [{"kind": "section", "title": h["text"], "page": start + index + 1}
                        for h, index in zip(info["headings"], info["pages"]) if h["level"] == 2]
        start += len(reader.pages)
    return entries


def toc_html(config: dict, entries: list[dict], online: str | None, text: dict | None = None) -> str:
    """Title page and table of contents; ``entries``: kind, title, page (1-based)."""
    rows = []
    for e in entries:
        if e["kind"] == "part":
            rows.append(f'<div class="part">{escape(e["title"])}</div>')
        else:
            rows.append(f'<a class="{e["kind"]}" href="{TOC_LINK}{e["page"]}">'
                        f'<span class="t">{escape(e["title"])}</span>'
                        f'<span class="n">{e["page"]}</span></a>')
    text = text or TEXT["en"]
    where = f' (<a href="{online}">{escape(online)}</a>)' if online else ""
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>
body {{ font-family: sans-serif; font-size: 10.5pt; color: #222; margin: 0; }}
.title {{ height: 240mm; display: flex; flex-direction: column; justify-content: center;
          text-align: center; break-after: page; }}
.title h1 {{ font-size: 28pt; margin: 0 0 0.4em; }}
.title .by {{ font-size: 13pt; color: #444; }}
.title .note {{ font-size: 9pt; color: #555; margin: 4em 10% 0; line-height: 1.5; }}
h2 {{ font-size: 18pt; margin: 0 0 0.8em; }}
.part {{ font-weight: bold; margin: 1em 0 0.3em; text-transform: uppercase; font-size: 9pt;
         letter-spacing: 0.05em; color: #555; }}
a {{ display: flex; color: inherit; text-decoration: none; line-height: 1.55; }}
a .t {{ flex: 1; }}
a .t::after {{ content: ""; }}
a.chapter {{ font-weight: bold; margin-top: 0.35em; }}
a.section {{ padding-left: 1.6em; font-size: 9.5pt; }}
a .n {{ min-width: 2.5em; text-align: right; font-variant-numeric: tabular-nums; }}
</style></head><body>
<div class="title"><h1>{escape(config.get("title", ""))}</h1>
<div class="by">{escape(config.get("author", ""))}</div>
<div class="note">{text["note"].format(where=where)}<br>&copy; {escape(str(config.get("copyright", "")))}</div></div>
<h2>{text["contents"]}</h2>
{''.join(rows)}
</body></html>"""


def stamp_page_numbers(writer, first: int) -> None:
    """Write each page's number (counted from 1) at the foot of pages ``first`` onwards, in
    Helvetica (a standard PDF font: nothing to embed). The page's own content streams are
    kept as they are (still compressed), wrapped in q/Q so their graphics state cannot move
    the number, which is drawn by a small stream added after them."""
    from pypdf.generic import (ArrayObject, DictionaryObject, IndirectObject, NameObject,
                               StreamObject)

    font = writer._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica")}))

    def stream(data: bytes):
        obj = StreamObject()
        obj.set_data(data)
        return writer._add_object(obj)

    save = stream(b"q\n")
    for index, page in enumerate(writer.pages):
        if index < first:
            continue
        text = str(index + 1)
        x = float(page.mediabox.width) / 2 - 2.5 * len(text)
        resources = page["/Resources"].get_object()
        fonts = resources.get("/Font")
        fonts = fonts.get_object() if fonts is not None else DictionaryObject()
        fonts[NameObject("/MLBookPageNo")] = font
        resources[NameObject("/Font")] = fonts
        own = page.raw_get("/Contents")  # a reference to the stream(s), kept as such
        if isinstance(own.get_object(), ArrayObject):
            own = [part if isinstance(part, IndirectObject) else writer._add_object(part)
                   for part in own.get_object()]
        else:
            own = [own if isinstance(own, IndirectObject) else writer._add_object(own)]
        number = stream(f"\nQ q BT /MLBookPageNo 9 Tf 0.35 g {x:.2f} 24 Td ({text}) Tj ET Q\n"
                        .encode())
        page[NameObject("/Contents")] = ArrayObject([save, *own, number])


def link_pages(writer, origin: str, targets: dict, online: str | None) -> tuple[int, int]:
    """Turn links to the local server into links inside the PDF (or to the online book).

    ``targets`` maps ``(page path, id or "")`` to a 0-based page of the merged PDF. Returns
    (links made internal, links dropped)."""
    from pypdf.generic import ArrayObject, NameObject, NullObject

    internal = dropped = 0
    for page in writer.pages:
        annots = page.get("/Annots")
        if annots is None:
            continue
        keep = ArrayObject()
        for ref in annots.get_object():
            annot = ref.get_object()
            action = annot.get("/A")
            uri = action.get_object().get("/URI") if action is not None else None
            target = None
            if uri is not None and (uri.startswith(origin) or uri.startswith(TOC_LINK)):
                if uri.startswith(TOC_LINK):
                    target = int(uri[len(TOC_LINK):]) - 1
                else:
                    parsed = urlparse(uri)
                    path = unquote(parsed.path).lstrip("/").removesuffix(".html")
                    target = targets.get((path, parsed.fragment), targets.get((path, "")))
                    if target is None and online:
                        action.get_object()[NameObject("/URI")] = type(uri)(
                            online + uri[len(origin) + 1:])
                        keep.append(ref)
                        continue
                if target is None:
                    dropped += 1
                    continue
                del annot["/A"]
                annot[NameObject("/Dest")] = ArrayObject(
                    [writer.pages[target].indirect_reference, NameObject("/XYZ"),
                     NullObject(), NullObject(), NullObject()])
                internal += 1
            keep.append(ref)
        page[NameObject("/Annots")] = keep
    return internal, dropped


def build(site: Path = SITE, out: Path = OUT, copy_into_site: bool = True,
          verbose: bool = True, edition: str = "en") -> dict:
    """Print the book to ``out``; returns a summary (pages, bytes, seconds, chapters)."""
    from playwright.sync_api import sync_playwright
    from pypdf import PdfReader, PdfWriter

    started = time.time()
    say = print if verbose else (lambda *a, **k: None)
    if not (site / "index.html").exists():
        sys.exit(f"no built site in {site}: run `make book` first")
    config = book_config(edition)
    text = TEXT[edition]
    online = online_url(config)
    if online and edition != "en":
        online += f"{edition}/"
    if shutil.which("fc-list") and not subprocess.run(
            ["fc-list", ":lang=zh"], capture_output=True, text=True).stdout.strip():
        print("warning: no Chinese font installed, so the glossary's Chinese terms print as "
              "empty boxes (Debian/Ubuntu: apt-get install fonts-wqy-microhei)", file=sys.stderr)
    pages = toc_pages(edition)
    work = out.parent / f"pages-{edition}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    httpd, origin = serve(site)
    infos = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=system_chromium(), args=CHROMIUM_FLAGS)
            for i, (_, path) in enumerate(pages):
                t0 = time.time()
                infos.append(print_page(browser, origin, path, work / f"{i:02d}.pdf", online, text))
                say(f"  printed {path} in {time.time() - t0:.1f} s")
                for what in infos[-1]["overflow"]:
                    print(f"warning: {path}: wider than the page: {what}", file=sys.stderr)
            # Title page and contents: laid out once to count their pages, then with the
            # page numbers they imply (printing again if that changed their length).
            readers = [PdfReader(work / f"{i:02d}.pdf") for i in range(len(pages))]
            for info, reader in zip(infos, readers):
                info["pages"] = heading_pages(info["headings"], reader)
            toc_page = browser.new_page()
            front_pages = 2
            for _ in range(3):
                entries = contents(pages, infos, readers, front_pages)
                toc_page.set_content(toc_html(config, entries, online, text), wait_until="load")
                toc_page.pdf(path=str(work / "front.pdf"), format=PAPER, margin=MARGIN)
                n = len(PdfReader(work / "front.pdf").pages)
                if n == front_pages:
                    break
                front_pages = n
            browser.close()
    finally:
        httpd.shutdown()

    writer = PdfWriter()
    writer.append(PdfReader(work / "front.pdf"), import_outline=False)
    writer.add_outline_item(title=text["contents"], page_number=1)
    targets: dict[tuple[str, str], int] = {}
    start, part_item, last_part = front_pages, None, None
    for (part, path), info, reader in zip(pages, infos, readers):
        writer.append(reader, import_outline=False)
        if part and part != last_part:
            part_item = writer.add_outline_item(title=part, page_number=start)
        last_part = part or last_part
        targets[(path, "")] = start
        # Bookmarks: the page's headings, nested by level under the part (if any).
        stack = [(0, part_item if part else None)]
        section_page = {}
        for h, index in zip(info["headings"], info["pages"]):
            while len(stack) > 1 and stack[-1][0] >= h["level"]:
                stack.pop()
            item = writer.add_outline_item(title=h["text"], page_number=start + index,
                                           parent=stack[-1][1])
            stack.append((h["level"], item))
            if h["section"] and h["section"] not in section_page:
                section_page[h["section"]] = start + index
        for anchor, section in info["where"].items():
            if section in section_page:
                targets[(path, anchor)] = section_page[section]
        start += len(reader.pages)
    internal, dropped = link_pages(writer, origin, targets, online)
    stamp_page_numbers(writer, first=1)
    t0 = time.time()
    writer.compress_identical_objects(remove_duplicates=True, remove_unreferenced=False)
    say(f"  deduplicated in {time.time() - t0:.1f} s")
    writer.add_metadata({"/Title": config.get("title", ""), "/Author": config.get("author", "")})
    writer.page_mode = "/UseOutlines"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as fh:
        writer.write(fh)
    shutil.rmtree(work, ignore_errors=True)
    if copy_into_site:
        dest = site / PDF_IN_SITE
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(out, dest)
    summary = {"pages": len(writer.pages), "bytes": out.stat().st_size,
               "seconds": round(time.time() - started, 1),
               "titles": [i["title"] for i in infos],
               "links_internal": internal, "links_dropped": dropped,
               "wider_than_the_page": {path: info["overflow"]
                                       for (_, path), info in zip(pages, infos)
                                       if info["overflow"]}}
    out.with_suffix(".json").write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    say(f"==> wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}: "
        f"{summary['pages']} pages, {summary['bytes'] / 1e6:.1f} MB, "
        f"{summary['seconds']:.0f} s ({internal} links inside the PDF, {dropped} dropped)")
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edition", choices=sorted(TEXT), default="en")
    parser.add_argument("--site", type=Path, help="default: _build/html (zh: _build/html/zh)")
    parser.add_argument("--out", type=Path, help="default: _build/pdf/book.pdf (zh: book-zh.pdf)")
    parser.add_argument("--no-copy", action="store_true",
                        help=f"do not copy the PDF into the site's {PDF_IN_SITE}")
    args = parser.parse_args(argv)
    zh = args.edition == "zh"
    site = args.site or (SITE / "zh" if zh else SITE)
    out = args.out or (OUT.with_name("book-zh.pdf") if zh else OUT)
    build(site.resolve(), out.resolve(), copy_into_site=not args.no_copy, edition=args.edition)


if __name__ == "__main__":
    main()
