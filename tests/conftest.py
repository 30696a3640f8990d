"""Shared fixtures: where the book, its chapters and the built site are."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest
import yaml

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"


def toc_files() -> list[str]:
    """Every page of _toc.yml, as paths without suffix ('chapters/01_mle_vs_bayes')."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [c["file"] for part in toc["parts"] for c in part["chapters"]]


def chapter_notebooks() -> list[Path]:
    return sorted((ROOT / "chapters").glob("*.ipynb"))


@pytest.fixture(scope="session")
def site() -> Path:
    """The built site; `make test` builds it first (`make book`)."""
    if not (SITE / "index.html").exists():
        pytest.fail("no built site in _build/html: run `make book` (or `make test`) first")
    return SITE


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's tests on one torch thread, then restore the previous setting."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
