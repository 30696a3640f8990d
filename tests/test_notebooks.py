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
    assert re.search(r"^try:\n\s+import mlbook\nexcept ImportError:", setup, re.M), \
        f"{path.name}: the first code cell must try `import mlbook` first"
    installs = re.findall(r'%pip install .*"mlbook @ git\+([^"]+)"', setup)
    assert installs == [url], (f"{path.name}: setup cell installs from {installs}, but "
                               f"_config.yml says {url} (run `make set-repo URL=...`)")


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
