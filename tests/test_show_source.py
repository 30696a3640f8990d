"""mlbook.notebook.show_source: chapters show code cut at named marks, never at a line of code."""

import json
import re
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


# ---- chapters 7 and 8 (mlbook.llm) -------------------------------------------------------
LLM_CHAPTERS = [ROOT / "chapters" / "07_alpaca.ipynb", ROOT / "chapters" / "08_dpo.ipynb"]


def _llm_names() -> dict:
    """The names chapters 7 and 8 can show code of: each mlbook.llm module's own names."""
    import importlib
    names = {}
    for module in ("tasks", "self_instruct", "lora", "instruct", "dpo", "dpo_bandit", "llama"):
        mod = importlib.import_module(f"mlbook.llm.{module}")
        names[module] = mod
        names.update({n: getattr(mod, n) for n in mod.__all__})
    return names


def _show_source_calls(path: Path) -> list[tuple[str, str, str, str]]:
    """(target, start, stop, the rest of the call) of every show_source call in a chapter."""
    calls = re.compile(r"show_source\(([\w.]+)(?:, start=\"([\w-]+)\")?(?:, stop=\"([\w-]+)\")?"
                       r"([^)]*)\)")
    found = []
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "code":
            found += calls.findall("".join(cell["source"]))
    return found


@pytest.mark.parametrize("path", LLM_CHAPTERS, ids=lambda p: p.stem)
def test_chapters_7_and_8_show_code_with_show_source_only(path):
    # no inspect.getsource, no slicing of source text, no private functions shown
    calls = _show_source_calls(path)
    assert calls, f"{path.name} shows no code with show_source"
    names = _llm_names()
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "code":
            assert "getsource" not in "".join(cell["source"]), path.name
    for target, *_ in calls:
        assert not any(part.startswith("_") for part in target.split(".")), target
        assert target.split(".")[0] in names, f"{path.name} shows {target}, not an llm name"


def test_every_call_of_show_source_in_chapters_7_and_8_runs(capsys):
    names = _llm_names()
    checked = 0
    for path in LLM_CHAPTERS:
        for target, start, stop, rest in _show_source_calls(path):
            obj = names[target.split(".")[0]]
            for part in target.split(".")[1:]:
                obj = getattr(obj, part)
            docstring = "docstring=True" in rest
            assert shown(capsys, obj, start=start or None, stop=stop or None,
                         docstring=docstring).strip()
            checked += 1
    assert checked >= 5           # rouge_l, SFTConfig, LoRALinear.forward and .merged, dpo_loss


def test_chapter_7_shows_sftconfigs_fields_and_not_their_checks(capsys):
    from mlbook.llm.instruct import SFTConfig
    out = shown(capsys, SFTConfig, stop="checks", docstring=True)
    assert out.startswith("@dataclass(frozen=True)\nclass SFTConfig:")
    for field in ("steps", "batch_size", "lr", "warmup_steps", "min_lr_ratio", "weight_decay",
                  "grad_clip", "seed"):
        assert re.search(rf"^    {field}: ", out, re.M), field
    assert "__post_init__" not in out and "train_config" not in out and "[mark:" not in out


# ---- chapters 6, 9, 10 and 11 (mlbook.llm.llama, mlbook.attention, mlbook.vlm) ------------
MODEL_CHAPTERS = [ROOT / "chapters" / f"{name}.ipynb"
                  for name in ("06_llama", "09_mha_to_mla", "10_flash_attention", "11_kimi_vl")]


def _model_names() -> dict:
    """The names chapters 6, 9, 10 and 11 show code of, as they import them."""
    import mlbook.attention as attention
    import mlbook.vlm as vlm
    from mlbook.llm import llama
    return {"llama": llama, **{n: getattr(attention, n) for n in attention.__all__},
            **{n: getattr(vlm, n) for n in vlm.__all__}}


@pytest.mark.parametrize("path", MODEL_CHAPTERS, ids=lambda p: p.stem)
def test_chapters_6_and_9_to_11_show_public_code_with_show_source_only(path, capsys):
    # no inspect.getsource; each target has a public name, and each call runs
    calls = _show_source_calls(path)
    assert calls, f"{path.name} shows no code with show_source"
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "code":
            assert "getsource" not in "".join(cell["source"]), path.name
    names = _model_names()
    for target, start, stop, rest in calls:
        assert not any(part.startswith("_") for part in target.split(".")), target
        obj = names[target.split(".")[0]]
        for part in target.split(".")[1:]:
            obj = getattr(obj, part)
        assert shown(capsys, obj, start=start or None, stop=stop or None,
                     docstring="docstring=True" in rest).strip()


def test_chapter_9_shows_the_absorbed_form_that_never_up_projects_the_cache(capsys):
    from mlbook.attention import MultiHeadLatentAttention
    absorbed = shown(capsys, MultiHeadLatentAttention.absorbed_attention)
    explicit = shown(capsys, MultiHeadLatentAttention.explicit_attention)
    assert "self.kv_b_proj(c_kv)" in explicit and "kv_b_proj(" not in absorbed
    assert "self.up_projections()" in absorbed                  # W^UK, W^UV: (9.8), (9.9)


def test_chapter_10_shows_algorithm_1_with_the_papers_line_numbers_in_order(capsys):
    from mlbook.attention import forward_kv_outer
    out = shown(capsys, forward_kv_outer, docstring=True)
    assert "Algorithm 1 of FlashAttention" in out
    numbers = [int(n) for n in re.findall(r"#\s+lines? (\d+)", out)]
    assert numbers == sorted(set(numbers)) and set(range(5, 14)) <= set(numbers), numbers
