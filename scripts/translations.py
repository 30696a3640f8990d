"""The Chinese edition: translation catalogues kept next to the English they translate.

The English sources (``intro.md``, the chapter notebooks, the back matter and the part
captions of ``_toc.yml``) are cut into *units*: a paragraph, a list, a heading, a table,
a glossary entry, an admonition's title line. Code, display math, labels and directive
options are never units: they are copied unchanged. Each source document has one gettext
catalogue, ``locales/zh_CN/LC_MESSAGES/<docname>.po``, whose ``msgid`` is the English unit
itself (its fingerprint: when the English changes, the entry no longer matches) and whose
``msgstr`` is the Chinese.

Why units from the sources rather than Sphinx's own i18n (``sphinx-build -b gettext`` and
``language = zh_CN``)? Sphinx translates doctree paragraphs after parsing, re-parsing each
``msgstr`` in a scratch document, and there myst-nb's ``{glue:text}`` roles cannot see the
notebook's glued outputs: they render empty (seen in a Jupyter Book 1.0.4 / myst-nb 1.4 toy
build). Translating the source text instead gives a Chinese notebook whose code cells are
the English notebook's byte for byte, so jupyter-cache (which hashes code cells only) hands
it the English execution's outputs: nothing executes twice, and every glued number, figure
and widget frame is the same object in both editions. The catalogues are still standard
gettext ``.po`` files (read and written with Babel, which Sphinx already installs), so any
``.po`` editor works on them.

Commands (``make translations`` runs ``update``):

- ``update``: re-cut the English and merge it into the catalogues. An unchanged unit keeps
  its translation; a changed one keeps the old Chinese marked *fuzzy*, with the English it
  translated shown as ``#| msgid``, so the writer sees exactly what changed; a new one is
  added untranslated; a removed one is dropped. Prints what needs translating.
- ``check``: list every unit that is untranslated, fuzzy, or whose Chinese lost a piece of
  markup (a glued number, inline math, a cross-reference): exit status 1 if any.
- ``build OUT``: write the Chinese book's sources into ``OUT`` (``make book`` builds them
  into ``_build/html/zh``). A unit without a current translation stays in English there.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
LOCALE = "zh_CN"
LOCALE_DIR = ROOT / "locales" / LOCALE / "LC_MESSAGES"
TOC_DOC = "_toc"                      # the catalogue of _toc.yml's part captions

# Directives whose body is prose (cut into units); any other fenced block is copied as is.
PROSE_DIRECTIVES = {
    "admonition", "attention", "caution", "danger", "epigraph", "error", "exercise", "figure",
    "glossary", "glue:figure", "hint", "important", "margin", "note", "seealso", "sidebar",
    "solution", "tip", "topic", "warning", "dropdown", "prf:theorem", "prf:proof",
    "prf:definition", "prf:lemma", "prf:example", "prf:remark",
}
# Directives whose argument on the opening line is a title to translate.
TITLED_DIRECTIVES = {"admonition", "dropdown", "topic", "sidebar", "prf:theorem",
                     "prf:definition", "prf:lemma", "prf:example", "prf:remark", "exercise"}

_FENCE = re.compile(r"^(?P<indent>\s*)(?P<mark>`{3,}|~{3,}|:{3,})(?P<info>.*)$")
_LABEL = re.compile(r"^\s*\([\w:.-]+\)=\s*$")
_COMMENT = re.compile(r"^\s*%")


@dataclass(frozen=True)
class Segment:
    """A piece of a source text: a translatable ``unit`` or ``raw`` text copied unchanged."""

    kind: str           # "unit" or "raw"
    text: str


def _directive_name(info: str) -> str | None:
    match = re.match(r"\s*\{([\w:.-]+)\}", info)
    return match.group(1) if match else None


def segment(text: str) -> list[Segment]:
    """Cut MyST markdown into units and raw pieces; ``"".join`` of the texts gives it back.

    Units are blocks of consecutive non-blank lines (a paragraph, a list, a table, a
    heading on its own line). Fenced code, ``$$`` display math, ``(label)=`` lines and
    ``%`` comments are raw. A fenced directive with a prose body (``PROSE_DIRECTIVES``)
    keeps its opening line, its ``:option:`` lines and its closing fence raw and has its
    body cut the same way; the opening line is a unit of its own when it carries a title
    (``TITLED_DIRECTIVES``).
    """
    lines = text.splitlines(keepends=True)
    out: list[Segment] = []
    para: list[str] = []

    def emit(kind: str, chunk: str) -> None:
        if not chunk:
            return
        if out and out[-1].kind == kind == "raw":
            out[-1] = Segment("raw", out[-1].text + chunk)
        else:
            out.append(Segment(kind, chunk))

    def flush() -> None:
        if para:
            block = "".join(para)
            body = block.rstrip("\n")
            emit("unit", body)
            emit("raw", block[len(body):])
            para.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        fence = _FENCE.match(line.rstrip("\n"))
        if fence:
            flush()
            mark, info = fence.group("mark"), fence.group("info")
            # The closing fence: the same characters, at least as many, nothing after.
            j = i + 1
            while j < len(lines):
                close = _FENCE.match(lines[j].rstrip("\n"))
                if (close and close.group("mark")[0] == mark[0]
                        and len(close.group("mark")) >= len(mark) and not close.group("info").strip()):
                    break
                j += 1
            name = _directive_name(info)
            if name in PROSE_DIRECTIVES and j < len(lines):
                title = info.split("}", 1)[1].strip() if "}" in info else ""
                if title and name in TITLED_DIRECTIVES:
                    emit("unit", line.rstrip("\n"))
                    emit("raw", line[len(line.rstrip("\n")):])
                else:
                    emit("raw", line)
                k = i + 1
                while k < j and re.match(r"^\s*:[\w-]+:", lines[k]):
                    emit("raw", lines[k])
                    k += 1
                for piece in segment("".join(lines[k:j])):
                    emit(piece.kind, piece.text)
                emit("raw", lines[j])
            else:
                emit("raw", "".join(lines[i:j + 1]))
            i = j + 1
            continue
        if stripped.startswith("$$"):
            flush()
            j = i
            # One-line "$$ x $$" or "$$ x $$ (label)"; otherwise up to the line opening with
            # or ending in "$$".
            rest = stripped[2:]
            if "$$" not in rest:
                j = i + 1
                while j < len(lines) and "$$" not in lines[j]:
                    j += 1
            emit("raw", "".join(lines[i:j + 1]))
            i = j + 1
            continue
        if not stripped or _LABEL.match(line) or _COMMENT.match(line) or stripped.startswith("<!--"):
            flush()
            emit("raw", line)
            i += 1
            continue
        if stripped.startswith("#") and para:
            flush()
        para.append(line)
        if stripped.startswith("#"):          # a heading is a unit of its own
            flush()
        i += 1
    flush()
    return out


# ---- documents ------------------------------------------------------------------------------

def documents() -> list[str]:
    """Docnames of the book, as _toc.yml lists them (root first)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    names = [toc["root"]]
    for part in toc["parts"]:
        names += [c["file"] for c in part["chapters"]]
    return names


def source_path(docname: str) -> Path:
    for suffix in (".ipynb", ".md"):
        path = ROOT / f"{docname}{suffix}"
        if path.exists():
            return path
    raise FileNotFoundError(f"no .ipynb or .md source for {docname!r}")


def toc_captions() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [part["caption"] for part in toc["parts"]]


def source_units(docname: str) -> list[tuple[str, str]]:
    """(unit, location) pairs of one document, in order; location is ``file:cell N`` or ``file``."""
    if docname == TOC_DOC:
        return [(caption, "_toc.yml") for caption in toc_captions()]
    path = source_path(docname)
    rel = path.relative_to(ROOT).as_posix()
    if path.suffix == ".md":
        return [(s.text, rel) for s in segment(path.read_text()) if s.kind == "unit"]
    nb = json.loads(path.read_text())
    out = []
    for n, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "markdown":
            out += [(s.text, f"{rel}:cell {n}") for s in segment("".join(cell["source"]))
                    if s.kind == "unit"]
    return out


def catalogue_path(docname: str) -> Path:
    return LOCALE_DIR / f"{docname}.po"


def all_docnames() -> list[str]:
    return documents() + [TOC_DOC]


def load_catalogue(docname: str) -> Catalog:
    path = catalogue_path(docname)
    if not path.exists():
        return Catalog(locale=LOCALE, domain=docname.rsplit("/", 1)[-1])
    with path.open("rb") as f:
        catalog = read_po(f, locale=LOCALE)
    # Babel reads a wrapped "#| msgid" (the English a fuzzy entry translated) back as a
    # translator comment "| ..."; once the entry is translated again it is only noise.
    for message in catalog:
        message.user_comments = [c for c in message.user_comments if not c.startswith("|")]
    return catalog


_DATES = re.compile(r'^"(POT-Creation-Date|PO-Revision-Date): .*\\n"$', re.M)


def save_catalogue(docname: str, catalog: Catalog) -> None:
    """Write the catalogue, unless only its dates would change (no churn in git)."""
    path = catalogue_path(docname)
    path.parent.mkdir(parents=True, exist_ok=True)
    catalog.project, catalog.version = "mlbook", "1"
    catalog.msgid_bugs_address = "https://github.com/mlbook-authors/ml-interactively/issues"
    catalog.last_translator = "mlbook authors"
    catalog.language_team = "mlbook authors"
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=0, omit_header=False, sort_output=False,
             include_previous=True, ignore_obsolete=True)
    new = buffer.getvalue().decode()
    if path.exists() and _DATES.sub("", path.read_text()) == _DATES.sub("", new):
        return
    path.write_text(new)


def template(docname: str) -> Catalog:
    tmpl = Catalog(locale=None, domain=docname.rsplit("/", 1)[-1], project="mlbook",
                   header_comment=f"# {docname}: the English units of the book, for translation.",
                   fuzzy=False)
    for unit, location in source_units(docname):
        # Babel's locations are (file, line): for a notebook the "line" is the cell's index.
        file, _, cell = location.partition(":cell ")
        where = (file, int(cell) if cell else None)
        if unit in tmpl:
            if where not in tmpl[unit].locations:
                tmpl[unit].locations.append(where)
        else:
            tmpl.add(unit, locations=[where])
    return tmpl


def update(docname: str) -> Catalog:
    """Merge the current English of ``docname`` into its catalogue and save it."""
    catalog = load_catalogue(docname)
    tmpl = template(docname)
    catalog.update(tmpl, no_fuzzy_matching=False, update_header_comment=True,
                   keep_user_comments=True)
    catalog.fuzzy = False
    save_catalogue(docname, catalog)
    return catalog


# ---- checks ---------------------------------------------------------------------------------

_ROLE = re.compile(r"\{([\w:.-]+)\}`([^`]*)`")
_INLINE_MATH = re.compile(r"(?<![\\$])\$(?!\$)((?:\\\$|[^$])+?)\$")


def _role_targets(text: str) -> list[str]:
    """Cross-references and glued values, as ``role:target`` (an explicit title dropped)."""
    out = []
    for role, body in _ROLE.findall(text):
        target = body
        match = re.match(r"^(.*?)<([^<>]+)>$", body, re.S)
        if match and role not in ("glue:text", "glue", "math"):
            target = match.group(2)
        out.append(f"{role}:{target.strip()}")
    return sorted(out)


def markup_problems(english: str, chinese: str) -> list[str]:
    """What the Chinese lost or changed of the English's markup (empty if nothing)."""
    problems = []
    if _role_targets(english) != _role_targets(chinese):
        missing = sorted(set(_role_targets(english)) - set(_role_targets(chinese)))
        extra = sorted(set(_role_targets(chinese)) - set(_role_targets(english)))
        problems.append(f"roles differ (missing {missing}, extra {extra})")
    math_en = sorted(m.strip() for m in _INLINE_MATH.findall(english))
    math_zh = sorted(m.strip() for m in _INLINE_MATH.findall(chinese))
    if math_en != math_zh:
        missing = sorted(set(math_en) - set(math_zh))
        extra = sorted(set(math_zh) - set(math_en))
        problems.append(f"inline math differs (missing {missing}, extra {extra})")
    if english.lstrip().startswith("#"):
        level = len(english.lstrip()) - len(english.lstrip().lstrip("#"))
        level_zh = len(chinese.lstrip()) - len(chinese.lstrip().lstrip("#"))
        if level != level_zh:
            problems.append("heading level differs")
    fence = _FENCE.match(english)
    if fence and not chinese.startswith(english.split("}", 1)[0] + "}"):
        problems.append("directive opening changed")
    if english.count("`") % 2 == 0 and chinese.count("`") % 2:
        problems.append("unbalanced backticks")
    if "\n\n" in chinese.strip():
        problems.append("blank line inside a unit (it would split the paragraph)")
    return problems


@dataclass(frozen=True)
class Finding:
    docname: str
    location: str
    english: str
    problem: str

    def __str__(self) -> str:
        first = self.english.strip().splitlines()[0][:100]
        return f"{self.docname} ({self.location}): {self.problem}: {first!r}"


def findings(docnames: list[str] | None = None) -> list[Finding]:
    """Every unit of the English that has no current, well-formed translation."""
    out = []
    for docname in docnames or all_docnames():
        catalog = load_catalogue(docname)
        for unit, location in source_units(docname):
            message = catalog.get(unit)
            if message is None or not message.string:
                out.append(Finding(docname, location, unit, "untranslated"))
            elif message.fuzzy:
                out.append(Finding(docname, location, unit, "stale (fuzzy: the English changed)"))
            else:
                for problem in markup_problems(unit, message.string):
                    out.append(Finding(docname, location, unit, problem))
    return out


# ---- the Chinese sources --------------------------------------------------------------------

def translate_text(text: str, catalog: Catalog) -> str:
    pieces = []
    for piece in segment(text):
        if piece.kind == "unit":
            message = catalog.get(piece.text)
            if message is not None and message.string and not message.fuzzy:
                pieces.append(message.string)
                continue
        pieces.append(piece.text)
    return "".join(pieces)


def build_sources(out: Path, cache: Path) -> None:
    """Write the Chinese book's sources into ``out`` (code cells unchanged)."""
    out.mkdir(parents=True, exist_ok=True)
    for docname in documents():
        path = source_path(docname)
        catalog = load_catalogue(docname)
        target = out / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".md":
            new = translate_text(path.read_text(), catalog)
        else:
            nb = json.loads(path.read_text())
            for cell in nb["cells"]:
                if cell["cell_type"] == "markdown":
                    cell["source"] = translate_text("".join(cell["source"]), catalog).splitlines(
                        keepends=True)
            new = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        if not target.exists() or target.read_text() != new:
            target.write_text(new)
    # _toc.yml with translated part captions.
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    captions = load_catalogue(TOC_DOC)
    for part in toc["parts"]:
        message = captions.get(part["caption"])
        if message is not None and message.string and not message.fuzzy:
            part["caption"] = message.string
    _write_if_changed(out / "_toc.yml", yaml.safe_dump(toc, allow_unicode=True, sort_keys=False))
    # _config.yml: the same book, in Chinese, reading the English build's execution cache.
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["title"] = "交互式机器学习"
    config["execute"]["cache"] = str(cache.resolve())
    config["bibtex_bibfiles"] = ["references.bib"]
    config["sphinx"]["local_extensions"] = {
        name: str((ROOT / "_ext").resolve()) for name in config["sphinx"]["local_extensions"]}
    config["sphinx"]["config"]["language"] = LOCALE
    config["sphinx"]["config"]["mlbook_edition"] = "zh"
    # Search: Sphinx cuts Chinese text into words with jieba; its dictionary learns the
    # book's own terms, so that a reader's query for a whole term (强化学习) finds it.
    terms = out / "search_terms.txt"
    _write_if_changed(terms, "".join(f"{term} 100 n\n" for term in search_terms()))
    config["sphinx"]["config"]["html_search_options"] = {"dict": str(terms.resolve())}
    config["exclude_patterns"] = ["_build", "**.ipynb_checkpoints"]
    _write_if_changed(out / "_config.yml", yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    # Files the pages use as they are.
    for name in ("references.bib",):
        _copy_if_changed(ROOT / name, out / name)
    figures = ROOT / "chapters" / "figures"
    if figures.exists():
        shutil.copytree(figures, out / "chapters" / "figures", dirs_exist_ok=True)


def search_terms() -> list[str]:
    """The Chinese terms of the glossary and the part captions, for the search's dictionary.

    A glossary entry's translation starts with its Chinese term line (see the glossary);
    every run of two or more Han characters in it, and in each part caption, is a term.
    """
    found: list[str] = []
    glossary = load_catalogue("glossary")
    for message in glossary:
        lines = message.string.splitlines() if message.id and message.string else []
        if len(lines) >= 3 and lines[-1].startswith("  "):
            found += re.findall(r"[\u4e00-\u9fff]{2,}", lines[0])
    for message in load_catalogue(TOC_DOC):
        if message.id and message.string:
            found += re.findall(r"[\u4e00-\u9fff]{2,}", message.string)
    return sorted(set(found))


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def _copy_if_changed(src: Path, dst: Path) -> None:
    if not dst.exists() or dst.read_bytes() != src.read_bytes():
        shutil.copyfile(src, dst)


def export_units(docname: str) -> list[dict[str, str]]:
    """The units of one document with their current Chinese, for a translator to fill in."""
    catalog = load_catalogue(docname)
    out, seen = [], set()
    for unit, location in source_units(docname):
        if unit in seen:
            continue
        seen.add(unit)
        message = catalog.get(unit)
        current = message.string if message is not None and not message.fuzzy else ""
        previous = ""
        if message is not None and message.fuzzy and message.previous_id:
            previous = message.previous_id if isinstance(message.previous_id, str) else message.previous_id[0]
        item = {"where": location, "english": unit, "chinese": current or ""}
        if message is not None and message.fuzzy:
            item["stale_chinese"] = message.string
            item["previous_english"] = previous
        out.append(item)
    return out


def import_units(docname: str, items: list[dict[str, str]]) -> int:
    """Set the Chinese of the units given (matched on their exact English); returns how many."""
    catalog = update(docname)
    count = 0
    for item in items:
        english, chinese = item["english"], item.get("chinese", "")
        if not chinese:
            continue
        message = catalog.get(english)
        if message is None:          # the English changed since the export: translate it again
            print(f"skipped, the English is no longer in {docname} (export again): "
                  f"{english[:80]!r}", file=sys.stderr)
            continue
        message.string = chinese
        message.flags.discard("fuzzy")
        message.previous_id = []
        count += 1
    save_catalogue(docname, catalog)
    return count


# ---- command line ---------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("update", help="merge the current English into the catalogues")
    check = sub.add_parser("check", help="list untranslated, stale and broken units")
    check.add_argument("docnames", nargs="*")
    export = sub.add_parser("export", help="write one document's units as JSON")
    export.add_argument("docname")
    export.add_argument("out", type=Path)
    imp = sub.add_parser("import", help="read translations of one document from JSON")
    imp.add_argument("docname")
    imp.add_argument("file", type=Path)
    build = sub.add_parser("build", help="write the Chinese sources")
    build.add_argument("out", type=Path)
    build.add_argument("--cache", type=Path, default=ROOT / "_build" / ".jupyter_cache")
    args = parser.parse_args(argv)

    if args.command == "update":
        for docname in all_docnames():
            catalog = update(docname)
            units = [m for m in catalog if m.id]
            todo = sum(1 for m in units if not m.string or m.fuzzy)
            print(f"{catalogue_path(docname).relative_to(ROOT)}: {len(units)} units, "
                  f"{todo} to translate")
        return 0
    if args.command == "check":
        found = findings(args.docnames or None)
        for finding in found:
            print(finding)
        print(f"{len(found)} unit(s) untranslated, stale or broken")
        return 1 if found else 0
    if args.command == "export":
        items = export_units(args.docname)
        args.out.write_text(json.dumps(items, ensure_ascii=False, indent=1) + "\n")
        print(f"{args.out}: {len(items)} units, {sum(not i['chinese'] for i in items)} to translate")
        return 0
    if args.command == "import":
        count = import_units(args.docname, json.loads(args.file.read_text()))
        found = findings([args.docname])
        for finding in found:
            print(finding)
        print(f"{count} translations read; {len(found)} unit(s) of {args.docname} still "
              "untranslated, stale or broken")
        return 1 if found else 0
    if args.command == "build":
        build_sources(args.out, args.cache)
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
