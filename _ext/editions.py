"""Sphinx extension: the book's two editions, English at the site's root and Chinese in ``zh/``.

* **A language switch on every page.** Each page gets a link to the same page in the other
  edition (``zh/<page>.html`` from the English, ``../<page>.html`` from the Chinese) at the
  top of its article, and ``<link rel="alternate" hreflang>`` tags for search engines. Both
  editions have the same page names (``scripts/translations.py`` builds the Chinese sources
  from the English ones), so the counterpart always exists.
* **The Chinese edition executes nothing.** Its notebooks' code cells are the English ones,
  so myst-nb finds their outputs in the English build's execution cache; a Chinese page
  that had to execute would mean the two editions' code differ, and is reported as an
  error.

``mlbook_edition`` (``"en"`` or ``"zh"``) says which edition is being built; the Chinese
build's ``_config.yml`` (written by ``scripts/translations.py build``) sets ``"zh"``.
"""

from __future__ import annotations

import html

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

EDITIONS = {
    "en": {"lang": "en", "name": "English", "root": ""},
    "zh": {"lang": "zh-CN", "name": "中文", "root": "zh/"},
}
SWITCH_LABEL = {"en": "中文版", "zh": "English edition"}


def counterpart_href(pagename: str, edition: str) -> str:
    """Relative link from ``pagename`` of ``edition`` to the same page of the other edition."""
    up = "../" * pagename.count("/")
    if edition == "en":
        return f"{up}zh/{pagename}.html"
    return f"{up}../{pagename}.html"


def add_switch(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    if app.builder.format != "html":
        return
    edition = app.config.mlbook_edition
    other = "zh" if edition == "en" else "en"
    href = counterpart_href(pagename, edition)
    label = SWITCH_LABEL[edition]
    switch = (
        f'<p class="mlbook-language-switch" style="text-align: right; margin: 0 0 0.5rem; '
        f'font-size: 0.9rem;"><a href="{html.escape(href)}" hreflang="{EDITIONS[other]["lang"]}" '
        f'lang="{EDITIONS[other]["lang"]}">{label}</a></p>'
    )
    if "body" in context:                  # a page of the book
        context["body"] = switch + "\n" + context["body"]
    else:                                  # the index and search pages have no body: a script
        context["metatags"] = context.get("metatags", "") + (  # puts it at the article's top
            "<script>document.addEventListener('DOMContentLoaded', function () {"
            "var where = document.querySelector('article') || document.querySelector('main')"
            " || document.body;"
            f"where.insertAdjacentHTML('afterbegin', '{switch}');}});</script>\n")
    own = f"{'../' * pagename.count('/')}{pagename}.html"
    tags = (f'<link rel="alternate" hreflang="{EDITIONS[edition]["lang"]}" href="{own}" />\n'
            f'<link rel="alternate" hreflang="{EDITIONS[other]["lang"]}" href="{html.escape(href)}" />\n')
    context["metatags"] = context.get("metatags", "") + tags


def refuse_execution(app: Sphinx, exception: Exception | None) -> None:
    """In the Chinese edition, a chapter executed by this build is an error."""
    if exception is not None or app.config.mlbook_edition != "zh":
        return
    started = getattr(app.env, "mlbook_build_started", None)
    if started is None:
        return
    for docname, data in sorted(getattr(app.env, "nb_metadata", {}).items()):
        exec_data = data.get("exec_data") or {}
        if exec_data.get("mtime", 0) >= started:
            logger.warning(f"{docname}: executed by the Chinese build; its code cells should be "
                           "the English notebook's, whose outputs are in the execution cache")


def setup(app: Sphinx) -> dict:
    app.add_config_value("mlbook_edition", "en", "html", types=[str])
    app.connect("html-page-context", add_switch)
    app.connect("build-finished", refuse_execution)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
