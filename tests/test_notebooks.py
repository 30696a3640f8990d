"""Chapter notebooks: stored clean, set up for Colab, and executed by the book build.

Each chapter is executed once per test run, by the book build (`make test` runs
`make book` first); the build stores the executed notebook in the jupyter-cache, and these
tests read that record instead of executing the chapter a second time.
"""

from __future__ import annotations

import re

import nbformat
import pytest
import yaml
from jupyter_cache import get_cache

from conftest import ROOT, chapter_notebooks, toc_files

NOTEBOOKS = chapter_notebooks()
IDS = [p.stem for p in NOTEBOOKS]


def config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def test_every_notebook_is_a_chapter_of_the_toc():
    toc = set(toc_files())
    assert NOTEBOOKS, "no chapter notebooks"
    for path in NOTEBOOKS:
        assert f"chapters/{path.stem}" in toc, f"{path.name} is not in _toc.yml"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
             and (c.outputs or c.execution_count is not None)]
    assert dirty == [], f"{path.name}: cells {dirty} have stored outputs (clear them)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_setup_cell_installs_mlbook_from_the_configured_repository(path):
    url = config()["repository"]["url"]
    nb = nbformat.read(path, as_version=4)
    setup = next(c for c in nb.cells if c.cell_type == "code").source
    assert re.search(r"^try:\n\s+import mlbook\b.*\nexcept ImportError:", setup, re.M), \
        f"{path.name}: the first code cell must try `import mlbook` first"
    installs = re.findall(r'%pip install .*"mlbook(?:\[\w+\])? @ git\+([^"]+)"', setup)
    assert installs == [url], (f"{path.name}: setup cell installs from {installs}, but "
                               f"_config.yml says {url} (run `make set-repo URL=...`)")


TORCH_IMPORT = re.compile(r"^\s*(import torch|from torch\b|import transformers|from transformers\b"
                          r"|from mlbook\.(llm|attention|vlm)\b|from mlbook import (llm|attention|vlm))",
                          re.M)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_setup_cell_installs_what_the_chapter_imports(path):
    """A chapter opened alone gets its imports from its setup cell: mlbook's base
    dependencies, plus the `llm` extra (torch, transformers, ...) where the chapter uses
    them; and nothing imports the site toolchain (myst-nb): glue comes from mlbook."""
    nb = nbformat.read(path, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert not any(re.search(r"^\s*(from|import) myst_nb\b", s, re.M) for s in code), \
        f"{path.name} imports myst_nb, which a chapter opened alone lacks: use mlbook.notebook.glue"
    needs_llm = any(TORCH_IMPORT.search(s) for s in code[1:])
    installs_llm = '"mlbook[llm] @ git+' in code[0]
    assert needs_llm == installs_llm, (
        f"{path.name}: {'uses' if needs_llm else 'does not use'} torch/transformers but its "
        f"setup cell {'does not install' if needs_llm else 'installs'} mlbook[llm]")
    if needs_llm:
        first_try = code[0].split("except ImportError")[0]
        for module in ("torch", "transformers", "tokenizers", "rouge_score"):
            assert re.search(rf"\b{module}\b", first_try), \
                f"{path.name}: the setup cell must also try importing {module}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_has_a_title_and_a_time_budget(path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    # One H1 title; the book numbers chapters itself (_toc.yml: numbered), so no "6." in it.
    assert first.cell_type == "markdown" and re.match(r"# [^\d\s]", first.source), \
        f"{path.name} must open with its title as '# Title' (no chapter number)"
    budget = nb.metadata.get("mlbook", {}).get("time_budget_s")
    assert isinstance(budget, (int, float)) and budget > 0
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_executed_top_to_bottom_in_the_build(path):
    """The build's execution cache holds a successful run of this exact notebook."""
    cache_dir = ROOT / config()["execute"]["cache"]
    assert cache_dir.exists(), "no execution cache: run `make book` first"
    cache = get_cache(str(cache_dir))
    nb = nbformat.read(path, as_version=4)
    try:
        record = cache.match_cache_notebook(nb)
    except KeyError:
        pytest.fail(f"{path.name}: no cached execution of its current contents "
                    "(did the build execute it, or did it fail?)")
    executed = cache.get_cache_bundle(record.pk).nb
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "not every cell ran"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert errors == [], f"{path.name}: cells raised {[e.ename for e in errors]}"
    assert record.data.get("execution_seconds", 0) > 0


def test_cell_timeout_guards_against_hangs():
    timeout = config()["execute"]["timeout"]
    assert isinstance(timeout, int) and 0 < timeout <= 600
