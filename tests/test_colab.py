"""A chapter opened alone, as in Colab or Binder, runs top to bottom; Binder gets CPU torch.

The standalone runs do what a reader does (scripts/colab_check.py): a fresh virtual
environment holding only ipykernel, the notebook alone in an empty folder, its setup cell
installing mlbook from this checkout (``git+file://``, the committed HEAD). One numpy chapter
and one torch chapter run here; ``make colab-check`` runs all eleven and reports their times.
"""

from __future__ import annotations

import importlib
import re
import sys

import nbformat
import numpy as np
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import colab_check  # noqa: E402

STANDALONE = ["01_mle_vs_bayes",      # numpy, scipy, scikit-learn: `mlbook`
              "10_flash_attention"]   # torch: `mlbook[llm]`


@pytest.mark.parametrize("chapter", STANDALONE)
def test_chapter_runs_alone_in_a_bare_environment(chapter, tmp_path):
    run = colab_check.run_standalone(ROOT / "chapters" / f"{chapter}.ipynb", tmp_path)
    assert run.error is None, f"{chapter} failed when run alone:\n{run.error}"
    code = [c for c in run.notebook.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "not every cell ran"
    # The kernel had no mlbook: the setup cell must have installed it (not found one lying
    # around), and the sliders must have come up as live ipywidgets in that kernel.
    assert "mlbook" in code[0].source and "%pip install" in code[0].source
    mimes = {m for c in code for o in c.outputs for m in o.get("data", {})}
    assert "application/vnd.jupyter.widget-view+json" in mimes, \
        f"{chapter}: no live widget was displayed in the bare kernel"


def test_setup_cell_rewrite_points_every_chapter_at_a_local_checkout():
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        colab_check.point_setup_cell_at(nb, "file://localhost/some/checkout")
        setup = next(c for c in nb.cells if c.cell_type == "code").source
        assert re.search(r'"mlbook(\[llm\])? @ git\+file://localhost/some/checkout"', setup), \
            path.name


def test_glue_without_myst_nb_keeps_and_shows_the_value(monkeypatch, capsys):
    notebook = importlib.import_module("mlbook.notebook")
    monkeypatch.setattr(notebook, "_myst_nb_glue", None)
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda value: shown.append(value))
    notebook.glue("answer", 42)
    notebook.glue("hidden", 0.5, display=False)
    assert notebook.GLUED["answer"] == 42 and notebook.GLUED["hidden"] == 0.5
    assert shown == [42]
    notebook.glue("numpy", np.float64(0.25))
    assert type(notebook.GLUED["numpy"]) is float and shown[-1] == 0.25
    with pytest.raises(ValueError, match="name"):
        notebook.glue("", 1)
    with pytest.raises(TypeError, match="display"):
        notebook.glue("x", 1, display="yes")


# ---- Binder --------------------------------------------------------------------------

def pins(path) -> dict[str, str]:
    """``name -> version`` for each ``name==version`` line of a requirements file."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            name, sep, version = line.partition("==")
            assert sep, f"{path.name}: {line!r} is not pinned with =="
            found[name.strip().lower().replace("_", "-")] = version.strip()
    return found


def test_binder_pins_the_same_versions_with_cpu_torch():
    book = pins(ROOT / "requirements.txt")
    binder_file = ROOT / "binder" / "requirements.txt"
    binder = pins(binder_file)
    assert set(binder) == set(book), (
        f"binder/requirements.txt and requirements.txt list different packages: "
        f"only in binder {sorted(set(binder) - set(book))}, "
        f"only in requirements.txt {sorted(set(book) - set(binder))} (run `make freeze`)")
    differ = {n: (book[n], binder[n]) for n in book if n != "torch" and book[n] != binder[n]}
    assert differ == {}, f"versions differ (requirements.txt, binder): {differ}"
    assert binder["torch"] == f"{book['torch']}+cpu", binder["torch"]
    text = binder_file.read_text()
    assert re.search(r"^--extra-index-url https://download\.pytorch\.org/whl/cpu\s*$", text, re.M)


def test_binder_installs_mlbook_itself():
    post_build = ROOT / "binder" / "postBuild"
    assert post_build.exists() and post_build.stat().st_mode & 0o111, \
        "binder/postBuild must exist and be executable"
    assert re.search(r"pip install .*--no-deps .*\.", post_build.read_text())
