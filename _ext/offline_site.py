"""Sphinx extension for this book's site: offline assets and chapter timing.

* **MathJax from the site itself.** Sphinx's default ``mathjax_path`` points at a CDN. We
  copy MathJax 3 (``tex-chtml.js`` and the CHTML web fonts it loads) from the
  ``django-static-mathjax`` package on PyPI into ``_static/mathjax`` of the built site, and
  ``_config.yml`` sets ``mathjax_path: mathjax/tex-chtml.js``. Only what pages load is
  copied (about 2.2 MB of the package's 24 MB).
* **No CDN widget scripts.** Our widgets carry their own static view (``text/html``), so the
  ipywidgets embed manager and require.js that myst-nb would load from CDNs are not needed:
  ``_config.yml`` sets ``nb_ipywidgets_js: {}``.
* **Each script once.** sphinx-thebe registers its inline configuration script on every
  ``env-before-read-docs`` event, so a page can declare ``THEBE_JS_URL`` twice and the
  browser logs a SyntaxError; identical script tags are dropped from every page.
* **The book as a PDF.** The landing page links to the whole book as one PDF
  (``_downloads/book.pdf`` in the site, ``PDF_IN_SITE``), which ``make pdf``
  (``scripts/build_pdf.py``) prints from the built site and copies there.
* **Chapter execution times.** After each build, print how long every chapter took to
  execute (and whether it was re-executed or taken from the jupyter-cache), and write them
  to ``_build/chapter_times.json`` for ``make bench``.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

#: What tex-chtml.js needs at read time, relative to MathJax's es5 folder: the script, the
#: CHTML fonts, and the TeX extensions it autoloads when a page uses, say, \boldsymbol.
MATHJAX_FILES = ["tex-chtml.js", "output/chtml/fonts/woff-v2", "input/tex/extensions"]


def mathjax_source() -> Path:
    """The es5 folder of the MathJax copy installed by ``django-static-mathjax``."""
    import mathjax  # installed from PyPI as django-static-mathjax

    return Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"


def copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    source = mathjax_source()
    target = Path(app.outdir) / "_static" / "mathjax"
    for rel in MATHJAX_FILES:
        src, dst = source / rel, target / rel
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)


def drop_duplicate_scripts(app: Sphinx, pagename: str, templatename: str, context: dict,
                           doctree) -> None:
    seen, unique = set(), []
    for script in context.get("script_files", []):
        key = (getattr(script, "filename", str(script)) or "",  # None and "" both mean inline
               tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


#: Where ``make pdf`` puts the book's PDF in the site (scripts/build_pdf.py: PDF_IN_SITE).
PDF_IN_SITE = "_downloads/book.pdf"


def link_the_pdf(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """On the landing page, after its first paragraph: a link to the book as one PDF."""
    if docname != app.config.root_doc or app.builder.format != "html":
        return
    first = next(iter(doctree.findall(nodes.paragraph)), None)
    if first is None:
        return
    para = nodes.paragraph("", "", classes=["mlbook-pdf-link"])
    if getattr(app.config, "mlbook_edition", "en") == "zh":
        link = nodes.reference("", "整本书的 PDF", refuri=PDF_IN_SITE,
                               classes=["mlbook-pdf-download"])
        para += [nodes.strong("", "离线阅读："), nodes.Text("下载"), link,
                 nodes.Text("，无需联网即可阅读、打印或批注。其中的数学公式、图、代码和输出都与本网站"
                            "相同，交互式图形以默认设置显示，每道练习之后紧接着它的解答。")]
    else:
        link = nodes.reference("", "the whole book as one PDF", refuri=PDF_IN_SITE,
                               classes=["mlbook-pdf-download"])
        para += [nodes.strong("", "Offline: "), nodes.Text("download "), link,
                 nodes.Text(" to read without a connection, print or annotate. Math, figures, "
                            "code and outputs are as on this site, interactive figures are "
                            "shown at their default setting, and each exercise is followed by "
                            "its solution.")]
    first.parent.insert(first.parent.index(first) + 1, para)


def record_start(app: Sphinx) -> None:
    app.env.mlbook_build_started = time.time()


def report_chapter_times(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None:
        return
    started = getattr(app.env, "mlbook_build_started", time.time())
    rows = {}
    for docname, data in sorted(getattr(app.env, "nb_metadata", {}).items()):
        exec_data = data.get("exec_data")
        if not exec_data:
            continue
        rows[docname] = {
            "seconds": exec_data.get("runtime"),
            "executed_this_build": exec_data.get("mtime", 0) >= started,
            "succeeded": exec_data.get("succeeded"),
        }
    if not rows:
        return
    logger.info("\nChapter execution times (seconds):")
    for docname, row in rows.items():
        how = "executed now" if row["executed_this_build"] else "from cache, not re-run"
        secs = row["seconds"]
        shown = f"{secs:7.1f}" if secs is not None else "      ?"
        logger.info(f"  {shown}  {docname}  ({how})")
    out = Path(app.outdir).parent / "chapter_times.json"
    out.write_text(json.dumps(rows, indent=2) + "\n")


def setup(app: Sphinx) -> dict:
    app.connect("builder-inited", record_start)
    app.connect("html-page-context", drop_duplicate_scripts)
    app.connect("doctree-resolved", link_the_pdf)
    app.connect("build-finished", copy_mathjax)
    app.connect("build-finished", report_chapter_times)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
