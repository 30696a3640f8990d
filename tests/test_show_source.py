"""mlbook.notebook.show_source: chapters show code cut at named marks, never at a line of code."""

import json
import re
import textwrap
from pathlib import Path

import pytest

from mlbook.notebook import MARK, show_source

ROOT = Path(__file__).resolve().parents[1]


def example(a, b):
    """Add, then double.

    A second paragraph of the docstring.
    """
    total = a + b
    # [mark: double]
    doubled = 2 * total

    def helper():
        """An inner docstring."""
        return doubled
    # [mark: end]
    return helper()


class Example:
    """A class docstring."""

    def method(self):
        """A method docstring."""
        # [mark: body]
        return 1


def twice(a):
    # [mark: same]
    x = a
    # [mark: same]
    return x


def shown(capsys, *args, **kwargs) -> str:
    show_source(*args, **kwargs)
    return capsys.readouterr().out


def test_the_whole_function_without_its_docstrings_or_marks(capsys):
    out = shown(capsys, example)
    assert out.startswith("def example(a, b):\n    total = a + b\n")
    assert '"""' not in out and "[mark:" not in out
    assert "return helper()" in out and "def helper():\n        return doubled" in out


def test_docstrings_are_kept_when_asked(capsys):
    out = shown(capsys, example, docstring=True)
    assert '"""Add, then double.' in out and "A second paragraph" in out
    assert '"""An inner docstring."""' in out
    assert "[mark:" not in out


def test_start_and_stop_cut_at_the_marks_and_dedent(capsys):
    out = shown(capsys, example, start="double", stop="end")
    assert out.splitlines()[0] == "doubled = 2 * total"        # dedented, after the mark
    assert "total = a + b" not in out and "return helper()" not in out
    assert shown(capsys, example, start="end").strip() == "return helper()"
    assert "doubled" not in shown(capsys, example, stop="double")


def test_classes_and_methods_are_shown_too(capsys):
    out = shown(capsys, Example)
    assert out.startswith("class Example:") and "docstring" not in out
    assert shown(capsys, Example.method, start="body").strip() == "return 1"
    assert shown(capsys, Example().method, start="body").strip() == "return 1"


def test_a_missing_mark_names_the_marks_there_are():
    with pytest.raises(ValueError, match=r"no mark '# \[mark: nowhere\]'.*double, end"):
        show_source(example, start="nowhere")


def test_a_repeated_mark_or_stop_before_start_is_refused():
    with pytest.raises(ValueError, match="occurs 2 times"):
        show_source(twice, start="same")
    with pytest.raises(ValueError, match="comes before"):
        show_source(example, start="end", stop="double")


@pytest.mark.parametrize("kwargs, match", [
    ({"obj": 3}, "obj"), ({"obj": len}, "obj"), ({"obj": example, "start": 1}, "start"),
    ({"obj": example, "stop": ""}, "stop"), ({"obj": example, "docstring": "no"}, "docstring")])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        show_source(**kwargs)


def test_the_mark_syntax_is_a_comment_line_of_its_own():
    assert MARK.match("    # [mark: loop]").group(1) == "loop"
    assert MARK.match("#[mark:a-b_2]").group(1) == "a-b_2"
    assert not MARK.match("x = 1  # [mark: loop]")             # not at the end of code
    assert not MARK.match("# [mark: two words]")


def test_every_mark_a_chapter_cuts_at_exists_in_the_package(capsys):
    # each chapter call of show_source with start=/stop= runs: a renamed mark fails here
    calls = re.compile(r"show_source\(([\w.]+)(?:, start=\"([\w-]+)\")?(?:, stop=\"([\w-]+)\")?")
    import mlbook.approximation as approximation
    import mlbook.ensemble as ensemble
    import mlbook.rl as rl
    names = {**vars(approximation), **vars(ensemble), **vars(rl)}
    checked = 0
    for path in sorted((ROOT / "chapters").glob("0[1-5]_*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"])
            for target, start, stop in calls.findall(source):
                if not (start or stop):
                    continue
                obj = names[target.split(".")[0]]
                for part in target.split(".")[1:]:
                    obj = getattr(obj, part)
                assert shown(capsys, obj, start=start or None, stop=stop or None).strip()
                checked += 1
    assert checked >= 4


@pytest.mark.parametrize("path", sorted((ROOT / "chapters").glob("0[1-5]_*.ipynb")),
                         ids=lambda p: p.stem)
def test_chapters_show_code_with_show_source_only(path):
    # no slicing of source text at hard-coded strings, no private functions shown
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        assert "getsource" not in source and "def show_code" not in source, path.name
        for target in re.findall(r"show_source\(([\w.]+)", source):
            assert not any(part.startswith("_") for part in target.split(".")), target
