"""Every equation number that mlbook's docstrings and comments cite exists in its chapter.

Modules cite equations by the number the reader sees on the site, "(5.3)". The site numbers
an equation either from its MyST label (``$$ ... $$ (eq-ch5-...)``: Sphinx numbers them per
chapter in order of appearance, rendered as ``<span class="eqno">(5.3)``) or, in chapters
not yet moved to labels, from an explicit ``\\tag{6.3}``. Chapters 1-5 use labels only.
"""

from __future__ import annotations

import io
import re
import tokenize

import nbformat
import pytest

from conftest import ROOT, chapter_notebooks

CITED = re.compile(r"\((1[01]|[1-9])\.(\d+)\)")
LABELLED_ONLY = [p for p in chapter_notebooks() if int(p.name[:2]) <= 5]


def chapter_page(number: int):
    return next(p for p in chapter_notebooks() if int(p.name[:2]) == number)


def shown_equation_numbers(site, number: int) -> set[str]:
    """The equation numbers a reader sees in chapter ``number``."""
    path = chapter_page(number)
    html = (site / "chapters" / f"{path.stem}.html").read_text()
    shown = set(re.findall(r'class="eqno">\((\d+\.\d+)\)', html))
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    shown |= set(re.findall(r"\\tag\{(\d+\.\d+)\}", text))
    return shown


def cited_equation_numbers() -> dict[str, list[str]]:
    """``"5.3" -> ["mlbook/approximation.py:12", ...]``: the numbers cited in strings and
    comments of mlbook's source (numbers in code, like ``x ** (1.5)``, are not citations)."""
    cited: dict[str, list[str]] = {}
    for path in sorted((ROOT / "code" / "mlbook").rglob("*.py")):
        source = path.read_text()
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type not in (tokenize.STRING, tokenize.COMMENT):
                continue
            for m in CITED.finditer(tok.string):
                line = tok.start[0] + tok.string[:m.start()].count("\n")
                where = f"{path.relative_to(ROOT / 'code')}:{line}"
                cited.setdefault(f"{m.group(1)}.{m.group(2)}", []).append(where)
    return cited


def test_every_cited_equation_number_exists_in_its_chapter(site):
    cited = cited_equation_numbers()
    assert cited, "no equation citations found in mlbook: the pattern is wrong"
    shown = {n: shown_equation_numbers(site, n) for n in range(1, 12)}
    missing = {eq: where for eq, where in cited.items()
               if eq not in shown[int(eq.split(".")[0])]}
    assert missing == {}, f"cited in mlbook but not shown in the chapter: {missing}"


@pytest.mark.parametrize("path", LABELLED_ONLY, ids=[p.stem for p in LABELLED_ONLY])
def test_chapters_1_to_5_number_equations_with_myst_labels_only(path):
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "\\tag{" not in text, f"{path.name}: use $$ ... $$ (eq-label), not \\tag{{}}"
    labels = re.findall(r"^\s*\$\$ \((eq-[\w-]+)\)", text, re.M)
    assert labels, f"{path.name}: no labelled equations"
    assert len(labels) == len(set(labels)), f"{path.name}: a label is used twice"
    for ref in re.findall(r"\{eq\}`([^`]+)`", text):
        assert ref in labels, f"{path.name}: {{eq}}`{ref}` refers to no equation"
