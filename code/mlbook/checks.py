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
* **A string is not a list.** Where a list of things belongs (texts, words, lengths,
  images), :func:`check_list` refuses a ``str``: iterating it would silently read it
  character by character.
* **seed=None means fresh, unpredictable randomness** (what :func:`numpy.random.default_rng`
  and Gymnasium's ``reset`` mean by it). Every function in mlbook that draws random numbers
  takes a ``seed`` (or ``rng``/``random_state``) whose *default is a fixed integer*, so the
  book's runs are reproducible unless a caller asks for ``None`` explicitly. See
  :func:`check_seed` (numpy) and :func:`check_integer_seed` (PyTorch). Three kinds of
  callable follow their ecosystems instead: the model constructors (``Llama``,
  ``MoonViT``, which are ``torch.nn`` modules) default to ``seed=None``, which draws the
  initial weights from PyTorch's global generator as every ``torch.nn`` layer does
  (``torch.manual_seed`` governs them), as does ``mlbook.llm.llama.generate`` (sampling,
  as Hugging Face's ``generate`` does), and ``GridWorld.reset(seed=None)`` keeps
  Gymnasium's meaning.
* **Tensors are checked, not converted.** :func:`check_tensor` takes only a
  ``torch.Tensor`` (a list or a numpy array where a tensor belongs is a slip, refused) and
  checks its number of dimensions, shape, kind of dtype (floating point, integer, boolean)
  and, for floating-point tensors, that no entry is NaN or infinite. It returns the tensor
  itself, so a checked call computes exactly what an unchecked one did. :func:`check_token_ids`
  is the same for token ids against a vocabulary size. Importing this module does not import
  PyTorch: a value can only be a tensor if PyTorch is already loaded.
"""

from __future__ import annotations

import math
import numbers
import sys
from typing import Any, Callable, Iterable

import numpy as np

__all__ = [
    "ArgumentTypeError", "check_array", "check_bool", "check_callable", "check_choice",
    "check_count", "check_index", "check_instance", "check_int", "check_list", "check_number",
    "check_positive", "check_probability", "check_seed", "check_tensor", "check_token_ids",
    "check_integer_seed",
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


def check_list(name: str, value: Any, *, what: str = "a list", min_len: int = 1,
               max_len: int | None = None, exclude: type | tuple[type, ...] = (),
               item: Callable[[str, Any], Any] | None = None) -> list:
    """A list of things: a list, tuple or any other iterable except a string, returned as a
    new ``list`` (an iterator is consumed).

    what
        What the list holds, for messages: ``"a list of sequence lengths"``.
    min_len, max_len
        The fewest and the most elements allowed (``min_len=1``: refuse an empty list;
        ``max_len=None``: no upper bound).
    exclude
        Types refused although they are iterable, such as ``torch.Tensor`` where a list of
        tensors belongs (iterating a tensor gives its rows) or a single record where a list
        of records belongs.
    item
        A check called as ``item(f"{name}[{i}]", element)`` on every element, such as
        :func:`check_count`; its return value replaces the element in the returned list.

    A ``str`` or ``bytes`` is refused (a string is not a list of its characters), as are
    ``None``, numbers and other values that cannot be iterated: :class:`ArgumentTypeError`.
    A list of the wrong length: :class:`ValueError`. Both name the argument.
    """
    min_len = check_int("min_len", min_len, minimum=0)
    if max_len is not None:
        max_len = check_int("max_len", max_len, minimum=min_len)
    if isinstance(value, (str, bytes)):
        raise ArgumentTypeError(f"{name} must be {what}, got the string {_show(value)} (a "
                                f"string is not a list of its characters)")
    if exclude and isinstance(value, exclude):
        raise ArgumentTypeError(f"{name} must be {what}, got a single "
                                f"{type(value).__name__}")
    try:
        items = list(value)
    except TypeError:                       # None, a number, a 0-d array: not iterable
        raise ArgumentTypeError(f"{name} must be {what}, got {_show(value)} of type "
                                f"{type(value).__name__}") from None
    n = len(items)
    if n < min_len or (max_len is not None and n > max_len):
        if max_len == min_len:
            want = f"exactly {min_len}"
        elif max_len is None:
            want = f"at least {min_len}"
        else:
            want = f"from {min_len} to {max_len}"
        raise ValueError(f"{name} must be {what} with {want} element"
                         f"{'' if want.endswith(' 1') else 's'}, got {n}")
    if item is not None:
        items = [item(f"{name}[{i}]", x) for i, x in enumerate(items)]
    return items


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


# ---- PyTorch ------------------------------------------------------------------------------
_TENSOR_KINDS = {"float": "floating-point", "int": "integer", "bool": "boolean"}


_TORCH: list[Any] = []


def _torch():
    """PyTorch if it is already imported (a tensor cannot exist otherwise), else None."""
    if not _TORCH:
        torch = sys.modules.get("torch")
        if torch is None or not hasattr(torch, "Tensor"):
            return None
        _TORCH.append(torch)
    return _TORCH[0]


def _tensor_kind(tensor: Any) -> str:
    dtype = tensor.dtype
    if dtype.is_floating_point:
        return "float"
    if dtype.is_complex:
        return "complex"
    return "bool" if dtype is _torch().bool else "int"


def check_tensor(name: str, value: Any, *, ndim: int | tuple[int, ...] | None = None,
                 shape: tuple[int | None, ...] | None = None, layout: str | None = None,
                 dtype: str | Any | tuple[Any, ...] | None = "float", finite: bool = True,
                 allow_inf: bool = False, min_size: int = 1, minimum: float | None = None,
                 maximum: float | None = None) -> Any:
    """A ``torch.Tensor``, checked and returned unchanged (no copy, no conversion).

    ndim
        The number of dimensions allowed (an int or a tuple of them).
    shape
        The exact shape; ``None`` in it matches any length on that axis.
    layout
        How the shape is described in messages, e.g. ``"(batch, time, dim=48)"``.
    dtype
        ``"float"`` (any floating-point dtype, the default), ``"int"`` (any integer dtype,
        not ``bool``), ``"bool"``, a ``torch.dtype``, a tuple of these, or ``None`` (any
        real dtype).
    finite, allow_inf
        Refuse NaN and infinite entries of a floating-point tensor (``allow_inf``: refuse NaN
        only, for scores where ``-inf`` marks a masked entry). One ``aminmax`` reduction: no
        temporary tensor is allocated.
    min_size
        The fewest entries allowed (1: refuse empty tensors).
    minimum, maximum
        Bounds every entry must lie within (closed).
    """
    torch = _torch()
    if torch is None or not isinstance(value, torch.Tensor):
        shown = f" of shape {layout}" if layout else ""
        raise ArgumentTypeError(f"{name} must be a torch.Tensor{shown}, got {_show(value)} "
                                f"of type {type(value).__name__}")
    kind = _tensor_kind(value)
    if dtype is not None:
        allowed = dtype if isinstance(dtype, tuple) else (dtype,)
        ok = any((kind == a) if isinstance(a, str) else (value.dtype == a) for a in allowed)
        if not ok:
            want = " or ".join(_TENSOR_KINDS[a] if isinstance(a, str) else str(a)
                               for a in allowed)
            article = "an" if want[0] in "aeiou" else "a"
            raise ArgumentTypeError(f"{name} must be {article} {want} tensor, got dtype "
                                    f"{value.dtype}")
    elif kind == "complex":
        raise ArgumentTypeError(f"{name} must hold real numbers, got dtype {value.dtype}")
    got = value.shape
    if ndim is not None:
        dims = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if value.dim() not in dims:
            want = " or ".join(f"{d}-D" for d in dims)
            raise ValueError(f"{name} must be a {want} tensor"
                             + (f" {layout}" if layout else "") + f", got shape {tuple(got)}")
    if shape is not None:
        if len(got) != len(shape) or any(w is not None and w != g for w, g in zip(shape, got)):
            want = layout or ("(" + ", ".join("n" if w is None else str(w) for w in shape)
                              + ("," if len(shape) == 1 else "") + ")")
            raise ValueError(f"{name} must have shape {want}, got {tuple(got)}")
    size = value.numel()
    if size < min_size:
        raise ValueError(f"{name} must hold at least {min_size} value"
                         f"{'s' if min_size != 1 else ''}, got "
                         + ("an empty tensor" if size == 0 else f"{size} (shape {tuple(got)})"))
    lo = hi = None
    if kind == "float" and finite and size:
        # One reduction, no temporary the size of the tensor (peak-memory measurements of
        # the checked functions must not see the check): min and max propagate NaN.
        with torch.no_grad():
            lo, hi = (float(t) for t in torch.aminmax(value.detach()))
        if math.isnan(lo) or math.isnan(hi):
            raise ValueError(f"{name} must hold numbers, not NaN: it contains NaN")
        if not allow_inf and (math.isinf(lo) or math.isinf(hi)):
            raise ValueError(f"{name} must hold finite numbers: it contains "
                             f"{'-inf' if math.isinf(lo) else 'inf'}")
    if (minimum is not None or maximum is not None) and size and kind != "bool":
        if lo is None:
            with torch.no_grad():
                lo, hi = (float(t) for t in torch.aminmax(value.detach()))
        if minimum is not None and lo < minimum:
            raise ValueError(f"{name} must hold values >= {minimum:g}, got a minimum of {lo:g}")
        if maximum is not None and hi > maximum:
            raise ValueError(f"{name} must hold values <= {maximum:g}, got a maximum of {hi:g}")
    return value


def check_token_ids(name: str, value: Any, vocab_size: int, *,
                    ndim: int | tuple[int, ...] | None = None, layout: str | None = None,
                    min_size: int = 1) -> Any:
    """An integer tensor of token ids, every one in ``[0, vocab_size)``; returned unchanged."""
    vocab_size = check_count("vocab_size", vocab_size)
    ids = check_tensor(name, value, ndim=ndim, layout=layout, dtype="int", min_size=min_size)
    if ids.numel():
        lo, hi = (int(t) for t in _torch().aminmax(ids))
        if lo < 0 or hi >= vocab_size:
            raise ValueError(f"{name} must hold token ids from 0 to vocab_size - 1 = "
                             f"{vocab_size - 1}, got " + (f"{lo}" if lo < 0 else f"{hi}"))
    return ids


def check_integer_seed(name: str, seed: Any, *, fresh_if_none: bool = False) -> int | None:
    """A seed for PyTorch's generators: a non-negative integer below 2**63, or ``None``.

    ``None`` means fresh randomness, as in :func:`check_seed`: with ``fresh_if_none`` it is
    replaced by a seed drawn from the operating system's entropy (for code that needs an
    integer), otherwise returned as ``None`` (for code where ``None`` already means "PyTorch's
    global generator, unseeded"). An integer is returned as it is, so seeded runs do not
    change. ``bool``, negative integers, floats and strings are refused.
    """
    check_bool("fresh_if_none", fresh_if_none)
    if seed is None:
        if fresh_if_none:
            return int(np.random.SeedSequence().entropy % (2 ** 63))
        return None
    if _is_bool(seed) or not isinstance(seed, numbers.Integral):
        raise ArgumentTypeError(f"{name} must be a non-negative integer seed or None (fresh "
                                f"randomness), got {_show(seed)} of type {type(seed).__name__}")
    if not 0 <= seed < 2 ** 63:
        raise ValueError(f"{name} must be a non-negative integer seed below 2**63 or None "
                         f"(fresh randomness), got {seed!r}")
    return int(seed)
