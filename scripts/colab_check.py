"""Run chapters the way a reader opens them in Colab: alone, in a bare Python.

For each chapter: a fresh virtual environment holding only ``ipykernel`` (nothing that
Colab preinstalls is assumed), the notebook as committed (``git show HEAD:...``, what a
reader opens from the repository) alone in an empty folder, its setup cell pointed at this
checkout (``git+file://``, so it installs the same commit's code), and an empty model
cache. The notebook then executes top to bottom in that environment's
kernel; its setup cell must install everything the chapter imports.

Usage:
    python scripts/colab_check.py                  # all chapters (`make colab-check`)
    python scripts/colab_check.py 01 10            # chapters whose file names start so

Installs come from the package registries, like every other install of the book, with
``requirements.txt`` as pip's constraints: the bare environments get the versions the book
is tested with, and PyTorch's pin (2.13.0) keeps pip off a multi-gigabyte CUDA download
that a range like ``torch>=2.1`` would otherwise take on Linux. tests/test_colab.py runs two
chapters this way as part of ``make test``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements.txt"
INSTALL = re.compile(r'"(mlbook(?:\[\w+\])?) @ git\+[^"]*"')
KERNEL = "mlbook-bare"


@dataclass
class StandaloneRun:
    chapter: str
    setup_seconds: float      # creating the bare environment (venv + ipykernel)
    run_seconds: float        # executing the notebook, its setup cell's install included
    error: str | None = None  # None when every cell ran
    notebook: nbformat.NotebookNode | None = None  # the executed notebook, outputs included


def repository_url(root: Path = ROOT) -> str:
    """The URL a reader's setup cell installs from, here: this checkout's committed HEAD."""
    return f"file://localhost{root}"  # pip 23 rejects the empty host of file:///


def committed_notebook(path: Path) -> nbformat.NotebookNode:
    """The notebook at ``path`` as committed at HEAD (the version the setup cell's
    ``git+file://`` install matches), not the working tree's."""
    relative = path.resolve().relative_to(ROOT).as_posix()
    text = subprocess.run(["git", "-C", str(ROOT), "show", f"HEAD:{relative}"],
                          check=True, capture_output=True, text=True).stdout
    return nbformat.reads(text, as_version=4)


def point_setup_cell_at(nb: nbformat.NotebookNode, url: str) -> None:
    """Make the first code cell install ``mlbook`` from ``url`` instead of the published one."""
    setup = next(c for c in nb.cells if c.cell_type == "code")
    new, n = INSTALL.subn(lambda m: f'"{m.group(1)} @ git+{url}"', setup.source)
    if n != 1:
        raise ValueError("the first code cell has no `%pip install \"mlbook @ git+...\"` line")
    setup.source = new


def bare_environment(path: Path) -> Path:
    """Create a virtual environment at ``path`` holding ``ipykernel`` only; return its python."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    python = path / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--progress-bar", "off",
                    "-c", str(REQUIREMENTS), "ipykernel"], check=True)
    return python


def kernel_environment(venv: Path, model_cache: Path) -> dict[str, str]:
    """The kernel's environment: the bare venv first on PATH, this venv's traces removed."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"VIRTUAL_ENV", "PYTHONPATH", "JUPYTER_PATH", "PYTHONHOME"}}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    env["PIP_CONSTRAINT"] = str(REQUIREMENTS)
    env["MLBOOK_CACHE"] = str(model_cache)
    env["PIP_PROGRESS_BAR"] = "off"
    return env


def run_standalone(notebook: Path, workdir: Path, url: str | None = None,
                   timeout: int = 900) -> StandaloneRun:
    """Execute ``notebook`` alone in a fresh bare environment under ``workdir``."""
    start = time.perf_counter()
    venv = workdir / "venv"
    python = bare_environment(venv)
    kernels = workdir / "kernels" / KERNEL
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "bare Python (Colab check)", "language": "python"}))
    setup_seconds = time.perf_counter() - start

    nb = committed_notebook(notebook)
    point_setup_cell_at(nb, url or repository_url())
    alone = workdir / "notebook"               # the notebook, and nothing of the book's
    alone.mkdir()
    km = KernelManager(kernel_name=KERNEL,
                       kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels.parent)]))
    client = NotebookClient(nb, km=km, timeout=timeout, kernel_name=KERNEL,
                            resources={"metadata": {"path": str(alone)}})
    start = time.perf_counter()
    error = None
    try:
        client.execute(env=kernel_environment(venv, workdir / "model-cache"))
    except Exception as exc:  # noqa: BLE001 -- reported with the chapter's name below
        error = f"{type(exc).__name__}: {exc}"[-3000:]
    finally:
        if km.has_kernel:     # nbclient leaves a kernel it was given running: stop it
            km.shutdown_kernel(now=True)
    return StandaloneRun(notebook.stem, setup_seconds, time.perf_counter() - start, error, nb)


def chapters(prefixes: list[str]) -> list[Path]:
    found = sorted((ROOT / "chapters").glob("*.ipynb"))
    if prefixes:
        found = [p for p in found if any(p.name.startswith(x) for x in prefixes)]
    return found


def main(argv: list[str]) -> int:
    paths = chapters(argv)
    if not paths:
        sys.exit(f"no chapter matches {argv}")
    print("Each chapter runs alone in a fresh bare environment, installing mlbook from "
          f"{repository_url()} (committed HEAD)", flush=True)
    print(f"{'chapter':36s} {'bare env (s)':>12s} {'run incl. install (s)':>22s}  result", flush=True)
    failed = 0
    for path in paths:
        with tempfile.TemporaryDirectory(prefix="colab-check-") as tmp:
            run = run_standalone(path, Path(tmp))
        failed += run.error is not None
        print(f"{run.chapter:36s} {run.setup_seconds:12.1f} {run.run_seconds:22.1f}  "
              f"{'ok' if run.error is None else 'FAILED'}", flush=True)
        if run.error:
            print(run.error, flush=True)
    print(f"{len(paths) - failed} of {len(paths)} chapters ran top to bottom standalone")
    return 1 if failed else 0


if __name__ == "__main__":
    if shutil.which("git") is None:
        sys.exit("git is needed: the setup cells install mlbook with `pip install git+...`")
    sys.exit(main(sys.argv[1:]))
