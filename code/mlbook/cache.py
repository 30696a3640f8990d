"""The model cache: trained models that later chapters load instead of training again.

Chapter 6 trains a tiny LLaMA that chapters 7, 8, 9 and 11 start from; chapter 7 fine-tunes
it for chapter 8. Each model is a file in :func:`cache_dir` named by a hash of everything that
determines its weights. The cache is derived data, so it must stay safe to use when

* several chapters execute at once (``make book`` runs them in parallel) and each asks for
  the same missing model: :func:`cached` lets one process build it while the others wait on
  a lock, then load what it wrote, so a model is never trained twice at once;
* a file is half written (a killed process) or damaged (a disk error, a truncated copy):
  files are written to a temporary name and renamed (:func:`atomic_write`), and a file that
  cannot be read is treated as missing, with a warning, and built again.

The lock is an advisory ``fcntl`` lock on ``<file>.lock`` (POSIX: Linux, macOS, Colab,
Binder); where ``fcntl`` is missing (Windows) builds are not serialised, and the atomic
rename still keeps readers from seeing half a file.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from .checks import ArgumentTypeError, check_bool, check_callable

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

__all__ = ["cache_dir", "cache_lock", "atomic_write", "cached"]

T = TypeVar("T")

#: What reading a damaged or truncated file raises (torch's zip reader raises RuntimeError).
UNREADABLE = (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile,
              KeyError, ValueError, TypeError)


def cache_dir() -> Path:
    """Where trained models are cached: ``$MLBOOK_CACHE`` or ``~/.cache/mlbook``."""
    return Path(os.environ.get("MLBOOK_CACHE") or "~/.cache/mlbook").expanduser()


def _as_path(path: str | Path) -> Path:
    if isinstance(path, (bool, bytes)) or not isinstance(path, (str, os.PathLike)):
        raise ArgumentTypeError(f"path must be a str or pathlib.Path, got {path!r} "
                                f"of type {type(path).__name__}")
    return Path(path)


@contextlib.contextmanager
def cache_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock for the cached file ``path`` (on ``path`` + ``.lock``).

    Processes that build the same file take turns; the lock is released when the block
    ends, also on an exception, and by the operating system if the process dies.
    """
    path = _as_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it to ``path`` in one step.

    A reader sees the old file or the whole new one, never half of one. On an exception the
    temporary file is removed and ``path`` is left as it was.
    """
    path = _as_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name + ".",
                                     suffix=".tmp", delete=False) as f:
        tmp = Path(f.name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)              # like any other file (mkstemp makes it private)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _load_if_readable(path: Path, load: Callable[[Path], T]) -> T | None:
    if not path.exists():
        return None
    try:
        return load(path)
    except UNREADABLE as exc:
        warnings.warn(f"the cached file {path} could not be read ({type(exc).__name__}: "
                      f"{str(exc)[:200]}); building it again", RuntimeWarning, stacklevel=3)
        return None


def cached(path: str | Path, load: Callable[[Path], T], build: Callable[[], T], *,
           rebuild: bool = False) -> T:
    """``load(path)`` if the file is there and readable, else ``build()``, one process at a time.

    ``build`` must write ``path`` (with :func:`atomic_write`) and return what ``load`` would.
    A process that finds the file missing takes :func:`cache_lock`, looks again (another
    process may have built it meanwhile), and only then builds. ``rebuild=True`` builds even
    when a readable file exists (under the lock).
    """
    check_callable("load", load, what="a callable path -> object")
    check_callable("build", build, what="a callable () -> object that writes path")
    rebuild = check_bool("rebuild", rebuild)
    path = _as_path(path)
    if not rebuild:
        found = _load_if_readable(path, load)
        if found is not None:
            return found
    with cache_lock(path):
        if not rebuild:
            found = _load_if_readable(path, load)
            if found is not None:
                return found
        return build()
