"""The Chinese edition: its catalogues are complete and current, and its pages match the English.

The catalogues (``locales/zh_CN/LC_MESSAGES``) hold one entry per English unit (paragraph,
list, heading, ...), keyed by the English itself; ``scripts/translations.py`` explains the
design. The site tests read the built site: English at ``_build/html``, Chinese at
``_build/html/zh``.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog

from conftest import ROOT, toc_files

sys.path.insert(0, str(ROOT / "scripts"))
import translations  # noqa: E402

PAGES = ["intro", *toc_files()]


# ---- the catalogues -------------------------------------------------------------------------

def test_every_english_unit_has_a_current_translation():
    """0 untranslated, 0 stale (fuzzy) and 0 broken units; otherwise each one is named."""
    found = translations.findings()
    report = "\n".join(str(f) for f in found[:60])
    more = f"\n... and {len(found) - 60} more" if len(found) > 60 else ""
    assert not found, (f"{len(found)} unit(s) need translating (run `make translations`, then "
                       f"translate them in locales/zh_CN):\n{report}{more}")


def test_cutting_a_source_into_units_loses_nothing():
    for docname in translations.documents():
        path = translations.source_path(docname)
        if path.suffix == ".md":
            texts = [path.read_text()]
        else:
            texts = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                     if c["cell_type"] == "markdown"]
        for text in texts:
            pieces = translations.segment(text)
            assert "".join(p.text for p in pieces) == text, docname
            for piece in pieces:
                if piece.kind == "unit":
                    assert "\n\n" not in piece.text, (docname, piece.text[:80])
                    assert not piece.text.lstrip().startswith(("```{code", "$$", "```python")), (
                        docname, piece.text[:80])


def test_code_and_math_are_not_units():
    text = ("Some prose with $x$.\n\n```python\nprint('hi')\n```\n\n$$\na = b\n$$ (eq-x)\n\n"
            "(label)=\n## A heading\n\n:::{note}\nA note.\n:::\n")
    units = [p.text for p in translations.segment(text) if p.kind == "unit"]
    assert units == ["Some prose with $x$.", "## A heading", "A note."]


def test_a_changed_english_paragraph_is_reported_stale(tmp_path, monkeypatch):
    """Translate a document, change one English unit: `update` marks it fuzzy, and the check
    names it, while the unchanged units stay translated."""
    monkeypatch.setattr(translations, "LOCALE_DIR", tmp_path)
    english = ["First paragraph about $x$ and {glue:text}`k:.2f`.", "Second paragraph."]
    monkeypatch.setattr(translations, "source_units",
                        lambda docname: [(u, "doc.md") for u in english])
    translations.update("doc")
    catalog = translations.load_catalogue("doc")
    for message in catalog:
        if message.id:
            message.string = f"译文：{message.id}"
    translations.save_catalogue("doc", catalog)
    assert translations.findings(["doc"]) == []

    english[1] = "Second paragraph, changed."
    translations.update("doc")
    found = translations.findings(["doc"])
    assert [(f.english, f.problem.split()[0]) for f in found] == [
        ("Second paragraph, changed.", "stale")]
    stale = translations.load_catalogue("doc").get("Second paragraph, changed.")
    assert stale.fuzzy and stale.string == "译文：Second paragraph."


def test_a_translation_that_loses_markup_is_reported():
    english = "Value {glue:text}`ch1_a:.2f` at $x = 1$, see {ref}`ch1-x` and {term}`agent`."
    good = "在 $x = 1$ 处取值 {glue:text}`ch1_a:.2f`，见 {ref}`ch1-x` 与 {term}`智能体 <agent>`。"
    assert translations.markup_problems(english, good) == []
    assert translations.markup_problems(english, good.replace("{glue:text}`ch1_a:.2f`", "0.12"))
    assert translations.markup_problems(english, good.replace("$x = 1$", "$x=1$"))
    assert translations.markup_problems(english, good.replace("<agent>", "<agents>"))
    assert translations.markup_problems(english, good.replace("。", "。\n\n另起一段。"))


def test_catalogues_are_standard_gettext_files():
    from babel.messages.pofile import read_po

    for docname in translations.all_docnames():
        path = translations.catalogue_path(docname)
        assert path.exists(), f"{path} is missing: run `make translations`"
        with path.open("rb") as f:
            catalog = read_po(f)
        assert isinstance(catalog, Catalog)
        assert (catalog.locale.language, catalog.locale.territory) == ("zh", "CN"), path
        assert '"Language: zh_CN\\n"' in path.read_text(encoding="utf-8"), path


# ---- the built Chinese site -----------------------------------------------------------------

class Pasted(HTMLParser):
    """The text of every glued value on a page (myst-nb's ``<span class="pasted-text">``)."""

    def __init__(self):
        super().__init__()
        self.values: list[str] = []
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if self._depth:
            self._depth += 1
        elif tag == "span" and "pasted-text" in classes:
            self._depth = 1
            self.values.append("")

    def handle_endtag(self, tag):
        if self._depth:
            self._depth -= 1

    def handle_data(self, data):
        if self._depth:
            self.values[-1] += data


def pasted(page: Path) -> Counter:
    parser = Pasted()
    parser.feed(page.read_text(encoding="utf-8"))
    return Counter(v.strip() for v in parser.values)


@pytest.fixture(scope="module")
def zh_site(site) -> Path:
    zh = site / "zh"
    if not (zh / "index.html").exists():
        pytest.fail("no Chinese edition in _build/html/zh: run `make book`")
    return zh


@pytest.mark.parametrize("page", PAGES)
def test_every_glued_number_reads_the_same_in_both_editions(site, zh_site, page):
    english, chinese = pasted(site / f"{page}.html"), pasted(zh_site / f"{page}.html")
    assert "" not in chinese, f"{page}: a glued value rendered empty in the Chinese page"
    assert chinese == english, (f"{page}: glued values differ: only English "
                                f"{english - chinese}, only Chinese {chinese - english}")


@pytest.mark.parametrize("page", [*PAGES, "genindex", "search"])
def test_every_page_links_to_its_counterpart(site, zh_site, page):
    for here, there, prefix in ((site, zh_site, "zh/"), (zh_site, site, "../")):
        text = (here / f"{page}.html").read_text(encoding="utf-8")
        match = re.search(r'<p class="mlbook-language-switch"[^>]*><a href="([^"]+)"', text)
        assert match, f"{here / page}.html has no language switch"
        target = (here / f"{page}.html").parent / match.group(1)
        assert target.resolve() == (there / f"{page}.html").resolve(), (page, match.group(1))


def test_the_chinese_pages_are_chinese_and_share_the_english_outputs(site, zh_site):
    for page in PAGES:
        text = (zh_site / f"{page}.html").read_text(encoding="utf-8")
        assert re.search(r'<html[^>]+lang="zh[-_]CN"', text), page
        body = re.sub(r"<[^>]+>", "", text.split('id="main-content"', 1)[-1])
        han = len(re.findall(r"[\u4e00-\u9fff]", body))
        assert han > 200 or page in ("bibliography", "execution") and han > 10, (page, han)
    # Figures are the English build's images, byte for byte.
    english_images = {p.name: p.read_bytes() for p in (site / "_images").iterdir()}
    chinese_images = {p.name: p.read_bytes() for p in (zh_site / "_images").iterdir()}
    assert chinese_images and chinese_images.keys() <= english_images.keys()
    assert all(chinese_images[k] == english_images[k] for k in chinese_images)


def test_the_chinese_build_executed_nothing(zh_site):
    times = json.loads((ROOT / "_build" / "zh" / "_build" / "chapter_times.json").read_text())
    chapters = [d for d in times if d.startswith("chapters/")]
    assert len(chapters) == 11
    executed = [d for d in chapters if times[d]["executed_this_build"]]
    assert executed == [], f"the Chinese build executed {executed}"


def test_chinese_search_finds_a_chapter_by_a_chinese_term(zh_site):
    text = (zh_site / "searchindex.js").read_text(encoding="utf-8")
    index = json.loads(text[text.index("(") + 1:text.rindex(")")])
    docnames = index["docnames"]
    for term, chapter in (("强化学习", "chapters/03_rl_basics"), ("集成学习", "chapters/02_ensemble_learning"),
                          ("注意力", "chapters/09_mha_to_mla")):
        # A word of a page's title is indexed under "titleterms", the rest under "terms";
        # the search looks in both.
        hits = []
        for kind in ("terms", "titleterms"):
            found = index[kind].get(term, [])
            hits += found if isinstance(found, list) else [found]
        assert hits, f"{term} is not in the Chinese search index"
        assert docnames.index(chapter) in hits, (term, [docnames[h] for h in hits])
