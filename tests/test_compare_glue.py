"""scripts/compare_glue.py: two builds agree on every glued value but their timings."""

from __future__ import annotations

import sys

import nbformat

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import compare_glue  # noqa: E402


def executed(path, values: dict[str, str]) -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("glue(...)")
    cell.outputs = [nbformat.v4.new_output(
        "display_data", data={"text/plain": text},
        metadata={"scrapbook": {"name": key, "mime_prefix": "application/papermill.record/"}})
        for key, text in values.items()]
    nb.cells = [cell]
    nbformat.write(nb, path)


def test_timings_are_known_by_their_names():
    for key in ["train_seconds", "ch4_eps_s", "lora_ms", "tokens_per_second", "cache_speedup"]:
        assert compare_glue.is_timing(key), key
    for key in ["bv_stack_err", "ch5_steps", "ch4_s_for_001", "n_seeds", "ratio_small"]:
        assert not compare_glue.is_timing(key), key


def test_a_changed_value_is_reported_and_a_changed_timing_is_not(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    executed(a / "02_x.ipynb", {"bv_stack_err": "0.06725", "fit_ms": "12.0", "n": "3"})
    executed(b / "02_x.ipynb", {"bv_stack_err": "0.06625", "fit_ms": "15.0", "n": "3"})
    problems = compare_glue.compare(a, b, [])
    assert len(problems) == 1 and "bv_stack_err" in problems[0]
    executed(b / "02_x.ipynb", {"bv_stack_err": "0.06725", "fit_ms": "15.0", "n": "3"})
    assert compare_glue.compare(a, b, []) == []
    executed(b / "02_x.ipynb", {"bv_stack_err": "0.06725"})
    assert compare_glue.compare(a, b, []) == ["02_x.ipynb: n glued in only one build"]
