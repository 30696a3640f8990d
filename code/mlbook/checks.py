"""One home for argument checks: small validators used at mlbook's public boundary.

Every check takes the argument's ``name`` first and the ``value`` second, returns the value
converted to the type the caller works with, and raises with a message that names the
argument and says what is allowed:

* :class:`ArgumentTypeError` (a :class:`TypeError` that is also a :class:`ValueError`) when
  the value is of the wrong kind: ``None``, a string where a number belongs, ``True`` where a
  count belongs, an object that is not the model or environment asked for. Being both, it is
  caught by ``except TypeError`` and by the ``except ValueError`` that older callers of
  mlbook wrote.
* :class:`ValueError` when the kind is right but the value is not allowed: out of range, NaN
  or infinite where a finite number is meant, an empty or mis-shaped array, an index out of
  bounds.

The rules, once for the whole package:

* **bool is not a number.** ``True`` is refused wherever a count, an index or a real number
  is meant (Python treats it as ``1``; in a call it is almost always a slip), and only
  ``True``/``False`` (or numpy's bools) are accepted where a flag is meant: no ``"no"``, no
  ``0``/``1``.
* **NaN and infinity are refused** wherever a finite number is meant, unless a check is
  asked to allow them (``allow_inf=True``).
* **Integers must be integers:** ``3.0`` is refused where a count is meant.
* **seed=None means fresh, unpredictable randomness** (what :func:`numpy.random.default_rng`
  and Gymnasium's ``reset`` mean by it). Every function in mlbook that draws random numbers
  takes a ``seed`` (or ``rng``/``random_state``) whose *default is a fixed integer*, so the
  book's runs are reproducible unless a caller asks for ``None`` explicitly. See
  :func:`check_seed`.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Iterable

import numpy as np

__all__ = [
    "ArgumentTypeError", "check_array", "check_bool", "check_callable", "check_choice",
    "check_count", "check_index", "check_instance", "check_int", "check_number",
    "check_positive", "check_probability", "check_seed",
]


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong kind. A ``TypeError``, and a ``ValueError`` too, so that
    ``except ValueError`` (the one exception mlbook raised for any bad argument before this
    module existed) still catches it."""


def _show(value: Any) -> str:
    """A short repr for a message: arrays and long reprs cut."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def check_int(name: str, value: Any, *, minimum: int | None = None,
              maximum: int | None = None) -> int:
    """An integer (Python or numpy; ``bool`` and ``3.0`` refused) in ``[minimum, maximum]``."""
    allowed = "an integer"
    if minimum in (0, 1) and maximum is None:
        allowed = "a positive integer (>= 1)" if minimum == 1 else "a non-negative integer (>= 0)"
    elif minimum is not None and maximum is not None:
        allowed += f" from {minimum} to {maximum}"
    elif minimum is not None:
        allowed += f" >= {minimum}"
    elif maximum is not None:
        allowed += f" <= {maximum}"
    if _is_bool(value) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(f"{name} must be {allowed}, got {_show(value)} "
                                f"of type {type(value).__name__}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return int(value)


def check_count(name: str, value: Any, *, minimum: int = 1) -> int:
    """A count: an integer >= ``minimum`` (1 unless said otherwise); ``bool`` refused."""
    return check_int(name, value, minimum=minimum)


def check_index(name: str, value: Any, n: int, *, what: str = "index") -> int:
    """An index into ``n`` things: an integer from 0 to ``n - 1``."""
    if n < 1:
        raise ValueError(f"{name}: there is nothing to index (0 {what}s)")
    if _is_bool(value) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(f"{name} must be a {what} index, an integer from 0 to "
                                f"{n - 1}, got {_show(value)} of type {type(value).__name__}")
    if not 0 <= value < n:
        raise ValueError(f"{name} must be a {what} index, an integer from 0 to {n - 1}, "
                         f"got {value!r}")
    return int(value)


def check_number(name: str, value: Any, *, minimum: float | None = None,
                 maximum: float | None = None, exclusive_minimum: bool = False,
                 exclusive_maximum: bool = False, allow_inf: bool = False) -> float:
    """A real number (Python or numpy; ``bool`` and strings refused), finite unless
    ``allow_inf``, in the interval given by ``minimum``/``maximum`` (closed unless the
    ``exclusive_*`` flags say otherwise)."""
    finite = "" if allow_inf else "finite "
    lo = "" if minimum is None else ("(" if exclusive_minimum else "[") + f"{minimum:g}"
    hi = "" if maximum is None else f"{maximum:g}" + (")" if exclusive_maximum else "]")
    if minimum is None and maximum is None:
        allowed = f"a {finite}real number"
    elif maximum is None and minimum == 0:
        allowed = (f"a positive {finite}number (> 0)" if exclusive_minimum
                   else f"a non-negative {finite}number (>= 0)")
    elif maximum is None:
        allowed = f"a {finite}number " + (
            f"> {minimum:g}" if exclusive_minimum else f">= {minimum:g}")
    elif minimum is None:
        allowed = "a number " + (f"< {maximum:g}" if exclusive_maximum else f"<= {maximum:g}")
    elif (minimum, maximum, exclusive_minimum, exclusive_maximum) == (0, 1, False, False):
        allowed = "a probability in [0, 1]"
    else:
        allowed = f"a number in {lo}, {hi}"
    if _is_bool(value) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be {allowed}, got {_show(value)} "
                                f"of type {type(value).__name__}")
    value = float(value)
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    if minimum is not None and (value < minimum or (exclusive_minimum and value == minimum)):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    if maximum is not None and (value > maximum or (exclusive_maximum and value == maximum)):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return value


def check_positive(name: str, value: Any, *, allow_inf: bool = False) -> float:
    """A number > 0, finite unless ``allow_inf``."""
    return check_number(name, value, minimum=0.0, exclusive_minimum=True, allow_inf=allow_inf)


def check_probability(name: str, value: Any, *, open_low: bool = False,
                      open_high: bool = False) -> float:
    """A probability: a number in [0, 1] (an end excluded with ``open_low``/``open_high``)."""
    return check_number(name, value, minimum=0.0, maximum=1.0, exclusive_minimum=open_low,
                        exclusive_maximum=open_high)


def check_bool(name: str, value: Any) -> bool:
    """A flag: ``True`` or ``False`` (numpy bools too); ``0``, ``1``, ``"no"`` refused."""
    if not _is_bool(value):
        raise ArgumentTypeError(f"{name} must be True or False, got {_show(value)} "
                                f"of type {type(value).__name__}")
    return bool(value)


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """One of ``choices`` (compared with ``==``; strings only match strings)."""
    choices = tuple(choices)
    listed = ", ".join(repr(c) for c in choices)
    if all(isinstance(c, str) for c in choices):
        if not isinstance(value, str):
            raise ArgumentTypeError(f"{name} must be one of {listed}; got {_show(value)} "
                                    f"of type {type(value).__name__}")
        ok = value in choices
    else:
        try:
            ok = any(value == c for c in choices)
        except (TypeError, ValueError):     # arrays compared elementwise
            ok = False
    if not ok:
        raise ValueError(f"{name} must be one of {listed}; got {_show(value)}")
    return value


def check_callable(name: str, value: Any, *, what: str = "a callable") -> Any:
    """A callable (function, lambda, object with ``__call__``)."""
    if not callable(value):
        raise ArgumentTypeError(f"{name} must be {what}, got {_show(value)} "
                                f"of type {type(value).__name__}")
    return value


def check_instance(name: str, value: Any, cls: type | tuple[type, ...], *,
                   what: str | None = None) -> Any:
    """An instance of ``cls``; ``what`` describes it in the message."""
    if not isinstance(value, cls):
        if what is None:
            names = cls if isinstance(cls, tuple) else (cls,)
            what = "a " + " or ".join(c.__name__ for c in names)
        raise ArgumentTypeError(f"{name} must be {what}, got {_show(value)} "
                                f"of type {type(value).__name__}")
    return value


def check_array(name: str, value: Any, *, ndim: int | tuple[int, ...] | None = None,
                shape: tuple[int | None, ...] | None = None, dtype: Any = float,
                finite: bool = True, min_size: int = 1, minimum: float | None = None,
                maximum: float | None = None, integer: bool = False) -> np.ndarray:
    """An array-like converted to a numpy array of ``dtype``, checked.

    ndim
        The number of dimensions allowed (an int or a tuple of them).
    shape
        The exact shape; ``None`` in it matches any length on that axis.
    finite
        Refuse NaN and infinite entries (float arrays).
    min_size
        The fewest entries allowed (1: refuse empty arrays).
    minimum, maximum
        Bounds every entry must lie within (closed).
    integer
        The entries must be integers (an ``int`` array; floats such as ``2.0`` accepted and
        converted, ``0.5`` and bools refused).
    """
    if value is None or isinstance(value, (str, bytes)):
        raise ArgumentTypeError(f"{name} must be an array of numbers, got {_show(value)}")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as error:   # ragged nested lists
        raise ValueError(f"{name} must be an array of numbers (a rectangular nested list "
                         f"or a numpy array): {error}") from None
    if arr.dtype == object or arr.dtype.kind in "USV":
        raise ArgumentTypeError(f"{name} must be an array of numbers, got {_show(value)}")
    if arr.dtype.kind == "b" and (integer or dtype is not bool):
        raise ArgumentTypeError(f"{name} must hold numbers, not booleans")
    if arr.dtype.kind == "c":
        raise ArgumentTypeError(f"{name} must hold real numbers, not complex ones")
    if integer:
        if arr.dtype.kind == "f":
            if not (np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))):
                raise ValueError(f"{name} must hold integers, got non-integer values")
        arr = arr.astype(np.int64)
    elif dtype is not None:
        arr = arr.astype(dtype)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be a {want} array, got shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(w is not None and w != s
                                         for w, s in zip(shape, arr.shape)):
            want = "(" + ", ".join("n" if w is None else str(w) for w in shape) + \
                   ("," if len(shape) == 1 else "") + ")"
            raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    if arr.size < min_size:
        raise ValueError(f"{name} must hold at least {min_size} value"
                         f"{'s' if min_size != 1 else ''}, got "
                         + ("an empty array" if arr.size == 0 else
                            f"{arr.size} (shape {arr.shape})"))
    if finite and arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be a finite array: it contains NaN or infinity")
    if minimum is not None and arr.size and np.any(arr < minimum):
        raise ValueError(f"{name} must hold values >= {minimum:g}, got a minimum of "
                         f"{arr.min():g}")
    if maximum is not None and arr.size and np.any(arr > maximum):
        raise ValueError(f"{name} must hold values <= {maximum:g}, got a maximum of "
                         f"{arr.max():g}")
    return arr


def check_seed(name: str, seed: Any) -> np.random.Generator:
    """A numpy ``Generator`` from a seed: the package's one meaning of a seed argument.

    * a non-negative integer: ``numpy.random.default_rng(seed)``, reproducible;
    * a ``numpy.random.Generator``: used as it is (its stream continues);
    * ``None``: fresh, unpredictable entropy from the operating system (numpy's and
      Gymnasium's meaning). Not reproducible: mlbook's defaults are integers, so ``None``
      is only ever what a caller asked for.

    ``bool``, negative integers, floats and strings are refused.
    """
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, np.random.Generator):
        return seed
    if _is_bool(seed) or not isinstance(seed, numbers.Integral):
        raise ArgumentTypeError(f"{name} must be a non-negative integer seed, a numpy "
                                f"Generator or None (fresh entropy), got {_show(seed)} "
                                f"of type {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"{name} must be a non-negative integer seed, a numpy Generator "
                         f"or None (fresh entropy), got {seed!r}")
    return np.random.default_rng(int(seed))
