"""FlashAttention: online softmax, tiling and IO-aware exact attention.

The code behind chapter 10, *FlashAttention: online softmax, tiling and IO-aware attention*.
It follows T. Dao, D. Y. Fu, S. Ermon, A. Rudra and C. Re, "FlashAttention: Fast and
Memory-Efficient Exact Attention with IO-Awareness", NeurIPS 2022 (arXiv:2205.14135):
Algorithm 0 (standard attention), Algorithms 1 and 2 (the tiled forward pass, with
dropout), Algorithm 3 (the standard backward pass) and Algorithm 4 (the backward pass by
recomputation, regenerating the dropout mask), Theorem 2 (IO complexity); T. Dao,
"FlashAttention-2: Faster Attention with Better Parallelism and Work Partitioning", ICLR
2024 (arXiv:2307.08691), Algorithm 1 (query tiles in the outer loop, one log-sum-exp
statistic per row) and Section 3.1.1 (skipping tiles that the causal mask hides entirely);
T. Dao, D. Haziza, F. Massa and G. Sizov, "Flash-Decoding for long-context inference"
(Stanford CRFM blog, 2023: split the keys and values, merge by the log-sum-exp); and
M. Milakov and N. Gimelshein, "Online normalizer calculation for softmax"
(arXiv:1805.02867). Dropout masks come from a counter-based hash of (seed, head, position)
rather than from the Philox generator of the CUDA kernels (J. K. Salmon et al., "Parallel
random numbers: as easy as 1, 2, 3", SC 2011); the role is the same.

Equation numbers in the docstrings are the chapter's:

* (10.1)  attention ``S = scale * Q K^T``, ``P = softmax(S)`` row-wise, ``O = P V``;
* (10.2)  the safe softmax: ``m = max_j x_j``, ``l = sum_j exp(x_j - m)``;
* (10.3)  the online softmax update of the running max ``m`` and running sum ``l``;
* (10.4)  the same update carried to an output row ``o``;
* (10.5)  block sizes from the SRAM size: ``Bc = ceil(M / 4d)``, ``Br = min(Bc, d)``;
* (10.6)  the tile update of Algorithm 1 (lines 10-12);
* (10.7)  the backward pass: ``dV``, ``dP``, ``D = rowsum(dO * O)``, ``dS``, ``dQ``, ``dK``;
* (10.8)  the log-sum-exp statistic ``L = m + log l`` and ``P_ij = exp(S_ij - L_i)``;
* (10.9)  dropout: ``O = (Z * P) V``, and in the backward pass ``dV = (Z * P)^T dO``,
  ``dP = (dO V^T) * Z`` with the mask ``Z`` regenerated from the saved seed;
* (10.10) HBM traffic of standard attention, ``Theta(N d + N^2)``;
* (10.11) HBM traffic of FlashAttention, ``Theta(N^2 d^2 / M)``;
* (10.12) Flash-Decoding's merge of partial results: ``L = log sum_s exp(L_s)``,
  ``O = sum_s exp(L_s - L) O_s``.

What "HBM" and "SRAM" mean here. This is PyTorch, so nothing below controls where data
lives; the code is a *model* of the GPU kernel, written to be read next to the paper. The
tensors passed in and returned (``Q, K, V, O``, the row statistics, the gradients) play
the part of HBM, the large slow memory; the tile-sized temporaries of one loop step
(``Q_i, K_j, V_j, S_ij, P_ij``, ...) play the part of on-chip SRAM. An optional
:class:`IOCounter` counts every element the algorithm moves between the two, line by line
as the paper's algorithms say, and :func:`~mlbook.attention.io.flash_attention_io` /
:func:`~mlbook.attention.io.standard_attention_io` give the same counts without running
anything. What the code does show for real is the memory it allocates: the tiled forward
never holds an ``N x N`` tensor, and :func:`attention_peak_memory` measures that with
:func:`mlbook.memory.peak_rss_increase`.

Where things are. This module holds the algorithms, to be read next to the paper. The IO
accounting (:class:`~mlbook.attention.io.IOCounter`, the block sizes and tile order, the IO
counts without running and the bounds of Theorem 2) is in :mod:`mlbook.attention.io`; the
process-memory measurement is in :mod:`mlbook.memory`. :func:`attention_peak_memory` stays
here because it runs :func:`flash_attention_forward` and :func:`standard_attention`
(:mod:`mlbook.attention.io` imports no algorithm).

Shapes: ``q`` is ``(..., N_q, d)``, ``k`` and ``v`` are ``(..., N_k, d)`` with the same
leading (batch, head) dimensions; ``N_q`` and ``N_k`` need not be equal, nor multiples of
the tile sizes. Causal masking is aligned to the top-left corner, as in
``torch.nn.functional.scaled_dot_product_attention(is_causal=True)``: query ``r`` sees keys
``c <= r``. IO counts are in *elements* (multiply by 2 for bytes in fp16/bf16).

Bad input: every public function checks its arguments with :mod:`mlbook.checks` (``ValueError``,
or ``TypeError`` for a value of the wrong kind, naming the argument). Inputs must be finite:
``q, k, v`` with a NaN or an infinite entry are refused; scores given to the softmaxes may
hold ``-inf`` (a masked entry), never NaN or ``+inf``. The finiteness check is one min/max
reduction per tensor, which allocates nothing (so
:func:`mlbook.memory.peak_rss_increase` does not see it).
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..checks import (ArgumentTypeError, check_bool, check_instance, check_integer_seed,
                      check_list, check_tensor)
from ..memory import peak_rss_increase
from ..progress import tqdm
from .io import (DEFAULT_BLOCK, IOCounter, LoopOrder, _blocks, _check_int, _check_order,
                 _resolve_blocks, _visible)

__all__ = [
    "naive_softmax", "safe_softmax", "online_softmax", "online_softmax_trace",
    "standard_attention", "standard_attention_backward",
    "flash_attention_forward", "forward_kv_outer", "forward_q_outer", "flash_attention_backward",
    "FlashAttentionFunction", "flash_attention", "dropout_mask",
    "merge_attention_partials", "flash_decoding",
    "attention_peak_memory",
]


# ---- argument checks ----------------------------------------------------------------------

def _check_counter(counter: object) -> IOCounter:
    if counter is None:
        return IOCounter()
    return check_instance("counter", counter, IOCounter, what="an IOCounter or None")


def _check_scores(name: str, x: object, ndim: int | None = None) -> Tensor:
    """Scores for a softmax: floating point, no NaN and no ``+inf`` (``-inf``: masked)."""
    check_tensor(name, x, ndim=ndim, allow_inf=True)
    if float(x.detach().amax()) == math.inf:
        raise ValueError(f"{name} must hold finite scores or -inf (a masked entry), not +inf")
    return x


def _check_finite(*named: tuple[str, Tensor]) -> None:
    """No NaN or infinite entry (one min/max reduction each, nothing allocated)."""
    for name, t in named:
        check_tensor(name, t, dtype=None, min_size=0)


def _check_qkv(q: Tensor, k: Tensor, v: Tensor) -> tuple[int, int, int]:
    """Check shapes ``(..., N_q, d)``, ``(..., N_k, d)``, ``(..., N_k, d)``; return N_q, N_k, d."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, Tensor):
            raise ArgumentTypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.ndim < 2:
            raise ValueError(f"{name} must have shape (..., N, d) with at least 2 dimensions, "
                             f"got shape {tuple(t.shape)}")
        if not t.is_floating_point():
            raise ArgumentTypeError(f"{name} must be a floating-point tensor, got dtype "
                                    f"{t.dtype}")
    if k.shape != v.shape:
        raise ValueError(f"k and v must have the same shape (..., N_k, d), got k "
                         f"{tuple(k.shape)} and v {tuple(v.shape)}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must have the same head dimension d (last axis), got "
                         f"q {tuple(q.shape)} (d={q.shape[-1]}) and k {tuple(k.shape)} "
                         f"(d={k.shape[-1]})")
    if q.shape[:-2] != k.shape[:-2]:
        raise ValueError(f"q, k and v must have the same leading (batch, head) dimensions, "
                         f"got q {tuple(q.shape)} and k, v {tuple(k.shape)}")
    if not (q.dtype == k.dtype == v.dtype):
        raise ValueError(f"q, k and v must have one dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    if not (q.device == k.device == v.device):
        raise ValueError(f"q, k and v must be on one device, got {q.device}, {k.device}, "
                         f"{v.device}")
    n_q, n_k, d = q.shape[-2], k.shape[-2], q.shape[-1]
    if min(n_q, n_k, d) < 1:
        raise ValueError(f"sequence lengths and head dimension must be >= 1, got "
                         f"N_q={n_q}, N_k={n_k}, d={d} (q {tuple(q.shape)}, k {tuple(k.shape)})")
    _check_finite(("q", q), ("k", k), ("v", v))
    return n_q, n_k, d


def _check_scale(scale: float | None, d: int) -> float:
    if scale is None:
        return 1.0 / math.sqrt(d)
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) \
            or not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale must be a positive finite number or None (for 1/sqrt(d)), "
                         f"got {scale!r}")
    return float(scale)


# ---- softmax in three passes, two passes, and online ---------------------------------------

def naive_softmax(x: Tensor, *, counter: IOCounter | None = None) -> Tensor:
    """Softmax over the last axis as the textbook writes it: ``exp(x) / sum(exp(x))``.

    Two passes over ``x`` (one for the sum, one to divide). It overflows once an entry
    exceeds about 88 in float32 (``exp(89) = inf``): the chapter uses it to show why the
    safe softmax (10.2) subtracts the maximum. Counts 2 reads and 1 write per element.
    """
    _check_scores("x", x)
    counter = _check_counter(counter)
    denom = torch.exp(x).sum(-1, keepdim=True)            # pass 1: read x
    out = torch.exp(x) / denom                             # pass 2: read x, write y
    counter.read(x, x)
    counter.write(out)
    return out


def safe_softmax(x: Tensor, *, counter: IOCounter | None = None) -> Tensor:
    """Safe softmax over the last axis, eq. (10.2), in three passes over ``x``.

    Pass 1 finds ``m = max_j x_j``, pass 2 sums ``l = sum_j exp(x_j - m)``, pass 3 writes
    ``exp(x_j - m) / l``. Every exponent is <= 0, so nothing overflows. Counts 3 reads and
    1 write per element.
    """
    _check_scores("x", x)
    counter = _check_counter(counter)
    m = x.amax(-1, keepdim=True)                            # pass 1: read x
    l = torch.exp(x - m).sum(-1, keepdim=True)              # pass 2: read x
    out = torch.exp(x - m) / l                              # pass 3: read x, write y
    counter.read(x, x, x)
    counter.write(out)
    return out


def _finite(m: Tensor) -> Tensor:
    """``m`` with -inf replaced by 0, so ``exp(x - m)`` is 0 (not nan) when ``x = m = -inf``."""
    return torch.where(torch.isneginf(m), torch.zeros_like(m), m)


def online_softmax(x: Tensor, *, block_size: int = 1,
                   counter: IOCounter | None = None) -> Tensor:
    """Online softmax over the last axis, eq. (10.3): max and sum in ONE pass, then divide.

    The first pass walks over ``x`` in blocks of ``block_size`` entries, keeping a running
    maximum ``m`` and a running sum ``l`` of ``exp(x - m)``; when a block raises the maximum,
    the sum so far is rescaled by ``exp(m_old - m_new)``. ``block_size=1`` is Milakov and
    Gimelshein's element-by-element version; larger blocks are how FlashAttention uses it.
    The second pass writes ``exp(x - m) / l``. Counts 2 reads and 1 write per element.
    """
    _check_scores("x", x)
    block_size = _check_int("block_size", block_size)
    counter = _check_counter(counter)
    m, l = _online_stats(x, block_size)                     # pass 1: read x once
    out = torch.exp(x - m[..., None]) / l[..., None]        # pass 2: read x, write y
    counter.read(x, x)
    counter.write(out)
    return out


def _online_stats(x: Tensor, block_size: int) -> tuple[Tensor, Tensor]:
    """Running max and running sum after the whole last axis, eq. (10.3)."""
    m = x.new_full(x.shape[:-1], -math.inf)
    l = x.new_zeros(x.shape[:-1])
    for c0 in range(0, x.shape[-1], block_size):
        block = x[..., c0:c0 + block_size]
        m_new = torch.maximum(m, block.amax(-1))
        block_sum = torch.exp(block - _finite(m_new)[..., None]).sum(-1)
        l = l * torch.exp(m - _finite(m_new)) + block_sum                  # eq. (10.3)
        m = m_new
    return m, l


def online_softmax_trace(x: Tensor) -> tuple[Tensor, Tensor]:
    """The running max ``m_j`` and running sum ``l_j`` after each entry of a 1-D ``x``.

    Returns two tensors of the shape of ``x``: entry ``j`` is the state of eq. (10.3) after
    seeing ``x_1 .. x_j``. The last entries are the true max and normaliser.
    """
    if not isinstance(x, Tensor) or x.ndim != 1 or x.numel() == 0:
        error = ValueError if isinstance(x, Tensor) else ArgumentTypeError
        raise error(f"x must be a non-empty 1-D tensor, got "
                    f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}")
    _check_scores("x", x)
    ms, ls = torch.empty_like(x), torch.empty_like(x)
    m, l = x.new_tensor(-math.inf), x.new_tensor(0.0)
    for j in range(x.numel()):
        m_new = torch.maximum(m, x[j])
        l = l * torch.exp(m - m_new) + torch.exp(x[j] - m_new)    # eq. (10.3)
        m = m_new
        ms[j], ls[j] = m, l
    return ms, ls


# ---- dropout masks from a counter-based random number generator ------------------------------

_MASK32 = 0xFFFFFFFF


def _mul32(x: Tensor, c: int) -> Tensor:
    """``x * c mod 2**32`` for int64 ``x`` in ``[0, 2**32)``, without int64 overflow."""
    lo, hi = c & 0xFFFF, c >> 16
    return (x * lo + (((x * hi) & 0xFFFF) << 16)) & _MASK32


def _mix32(x: Tensor) -> Tensor:
    """A 32-bit integer hash (xor-shift and multiply rounds): a bijection of ``[0, 2**32)``."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def _check_dropout(dropout_p: float, dropout_seed: int | None, *, need_seed: bool) -> float:
    if isinstance(dropout_p, bool) or not isinstance(dropout_p, numbers.Real) \
            or not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout_p must be a number with 0 <= dropout_p < 1, got {dropout_p!r}")
    if dropout_p > 0 or dropout_seed is not None:
        if dropout_seed is None and need_seed:
            raise ValueError("dropout_seed must be given (an integer in [0, 2**63)) when "
                             "dropout_p > 0: it is the saved random state R from which the "
                             "forward and the backward pass both generate the dropout mask")
        if dropout_seed is not None and (isinstance(dropout_seed, bool)
                                         or not isinstance(dropout_seed, numbers.Integral)
                                         or not 0 <= dropout_seed < 2 ** 63):
            raise ValueError(f"dropout_seed must be an integer in [0, 2**63), got "
                             f"{dropout_seed!r}")
    return float(dropout_p)


def _dropout_tile(seed: int, lead: tuple[int, ...], rows: tuple[int, int],
                  cols: tuple[int, int], n_k: int, dropout_p: float, dtype: torch.dtype,
                  device: torch.device) -> Tensor:
    """The scaled dropout mask ``Z`` of one tile, shape ``(*lead, r1 - r0, c1 - c0)``.

    Entry ``(b, r, c)`` (``b`` the flat batch-and-head index) keeps its probability with
    probability ``1 - p``, and then equals ``1 / (1 - p)``; otherwise it is 0. Whether it is
    kept is a hash of ``(seed, b, r * N_k + c)`` alone (a counter-based generator, as the
    CUDA kernels use Philox), so the same entry gets the same decision whichever tile, tile
    size or loop order asks for it: the backward pass regenerates the forward's mask.
    """
    (r0, r1), (c0, c1) = rows, cols
    n_lead = math.prod(lead)
    key = _mix32(torch.tensor((seed >> 32) ^ 0x9E3779B9, dtype=torch.int64, device=device))
    key = _mix32(key ^ (seed & _MASK32))
    b = torch.arange(n_lead, dtype=torch.int64, device=device).reshape(*lead, 1, 1)
    key_b = _mix32(key ^ _mix32((b + 0x632BE5AB) & _MASK32))            # one key per matrix
    r = torch.arange(r0, r1, dtype=torch.int64, device=device)[:, None]
    c = torch.arange(c0, c1, dtype=torch.int64, device=device)[None, :]
    index = r * n_k + c                                                  # position in row-major S
    h = _mix32(_mix32(key_b ^ (index & _MASK32)) ^ (index >> 32))
    keep = h >= int(round(dropout_p * 2 ** 32))                          # P(keep) = 1 - p
    return keep.to(dtype) / (1.0 - dropout_p)


def dropout_mask(shape: tuple[int, ...] | torch.Size, dropout_p: float, seed: int, *,
                 rows: tuple[int, int] | None = None, cols: tuple[int, int] | None = None,
                 dtype: torch.dtype = torch.float32,
                 device: torch.device | str = "cpu") -> Tensor:
    """The scaled dropout mask ``Z`` that :func:`flash_attention` applies, eq. (10.9).

    ``shape`` is ``(..., N_q, N_k)``, the shape of the probability matrix ``P``; entries are
    ``1 / (1 - p)`` (kept) or 0 (dropped), each kept with probability ``1 - p``. By default
    the whole mask; with ``rows=(r0, r1)`` and/or ``cols=(c0, c1)`` only that tile of it,
    shape ``(..., r1 - r0, c1 - c0)``, which is what the kernels generate at each step. The
    tiled kernels never build the ``N_q x N_k`` tensor: they generate the same entries tile
    by tile from ``seed``. The whole mask exists so that attention with an explicit mask,
    ``standard_attention(q, k, v, dropout_mask=Z)``, can be checked against them.
    """
    if not isinstance(shape, (tuple, list, torch.Size)) or len(shape) < 2 \
            or any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1
                   for s in shape):
        raise ValueError(f"shape must be a tuple (..., N_q, N_k) of at least two positive "
                         f"integers, got {shape!r}")
    seed = check_integer_seed("seed", seed, fresh_if_none=True)
    dropout_p = _check_dropout(dropout_p, seed, need_seed=True)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ArgumentTypeError(f"dtype must be a floating-point torch.dtype (the mask holds "
                                f"0 and 1/(1-p)), got {dtype!r}")
    *lead, n_q, n_k = (int(s) for s in shape)
    spans = []
    for name, span, n in (("rows", rows, n_q), ("cols", cols, n_k)):
        if span is None:
            span = (0, n)
        if not isinstance(span, (tuple, list)) or len(span) != 2 or any(
                isinstance(x, bool) or not isinstance(x, numbers.Integral) for x in span) \
                or not 0 <= span[0] < span[1] <= n:
            raise ValueError(f"{name} must be a pair (start, stop) of integers with "
                             f"0 <= start < stop <= {n}, got {span!r}")
        spans.append((int(span[0]), int(span[1])))
    return _dropout_tile(seed, tuple(lead), spans[0], spans[1], n_k, dropout_p, dtype,
                         torch.device(device))


def _causal_fill(s: Tensor, r0: int, c0: int) -> Tensor:
    """``s`` (a tile at row ``r0``, column ``c0``) with entries above the diagonal set to -inf."""
    rows = torch.arange(r0, r0 + s.shape[-2], device=s.device)[:, None]
    cols = torch.arange(c0, c0 + s.shape[-1], device=s.device)[None, :]
    return s.masked_fill(cols > rows, -math.inf)


# ---- standard attention (Algorithms 0 and 3) ------------------------------------------------

def standard_attention(q: Tensor, k: Tensor, v: Tensor, *, is_causal: bool = False,
                       scale: float | None = None, counter: IOCounter | None = None,
                       return_probs: bool = False, dropout_mask: Tensor | None = None
                       ) -> Tensor | tuple[Tensor, Tensor]:
    """Attention as standard implementations compute it, eq. (10.1) (Algorithm 0).

    Materialises the ``(..., N_q, N_k)`` scores ``S`` and probabilities ``P`` and counts the
    HBM traffic of writing and reading them back: ``S = scale * Q K^T`` (read Q, K; write
    S), with ``is_causal`` a masking pass (read S, write S), ``P = softmax(S)`` (read S,
    write P), ``O = P V`` (read P, V; write O). Differentiable with autograd, so it is also
    the reference the tests check :func:`flash_attention`'s gradients against. Returns
    ``O`` of shape ``(..., N_q, d)``, and ``P`` as well if ``return_probs``.

    ``dropout_mask``, a tensor ``Z`` of ``P``'s shape ``(..., N_q, N_k)`` (for example from
    :func:`dropout_mask`), applies dropout explicitly, eq. (10.9): ``O = (Z * P) V``, with
    one more pass over the ``N x N`` matrix (read P and Z, write the dropped P). ``P`` as
    returned is the softmax before dropout.
    """
    n_q, n_k, d = _check_qkv(q, k, v)
    scale = _check_scale(scale, d)
    check_bool("is_causal", is_causal)
    check_bool("return_probs", return_probs)
    if dropout_mask is not None and (not isinstance(dropout_mask, Tensor)
                                     or dropout_mask.shape != (*q.shape[:-1], n_k)):
        got = (tuple(dropout_mask.shape) if isinstance(dropout_mask, Tensor)
               else type(dropout_mask).__name__)
        raise ValueError(f"dropout_mask must be a tensor of shape {(*q.shape[:-1], n_k)} "
                         f"(that of P), got {got}")
    if dropout_mask is not None:
        check_tensor("dropout_mask", dropout_mask, minimum=0.0)
    counter = _check_counter(counter)
    s = (q * scale) @ k.transpose(-2, -1)                   # (..., N_q, N_k)
    counter.read(q, k)
    counter.write(s)
    if is_causal:
        s = _causal_fill(s, 0, 0)
        counter.read(s)
        counter.write(s)
    p = torch.softmax(s, dim=-1)                            # (..., N_q, N_k)
    counter.read(s)
    counter.write(p)
    p_used = p
    if dropout_mask is not None:                            # eq. (10.9): P_dropped = Z * P
        p_used = p * dropout_mask.to(p.dtype)
        counter.read(p, dropout_mask)
        counter.write(p_used)
    o = p_used @ v                                          # (..., N_q, d)
    counter.read(p_used, v)
    counter.write(o)
    return (o, p) if return_probs else o


def standard_attention_backward(q: Tensor, k: Tensor, v: Tensor, p: Tensor, grad_out: Tensor,
                                *, scale: float | None = None,
                                counter: IOCounter | None = None
                                ) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients of attention from the stored ``P``, eq. (10.7) (Algorithm 3 of the paper).

    Five passes, each reading its inputs from HBM and writing its output: ``dV = P^T dO``,
    ``dP = dO V^T``, ``dS = P * (dP - rowsum(P * dP))``, ``dQ = scale dS K``,
    ``dK = scale dS^T Q``. ``p`` is the ``(..., N_q, N_k)`` matrix of the forward pass
    (masked entries are 0, so causal masking needs nothing more here).
    """
    n_q, n_k, d = _check_qkv(q, k, v)
    scale = _check_scale(scale, d)
    check_tensor("p", p, minimum=0.0)
    check_tensor("grad_out", grad_out)
    if p.shape != (*q.shape[:-1], n_k) or grad_out.shape != q.shape:
        raise ValueError(f"p must have shape {(*q.shape[:-1], n_k)} and grad_out shape "
                         f"{tuple(q.shape)}, got {tuple(p.shape)} and {tuple(grad_out.shape)}")
    counter = _check_counter(counter)
    dv = p.transpose(-2, -1) @ grad_out
    counter.read(p, grad_out)
    counter.write(dv)
    dp = grad_out @ v.transpose(-2, -1)
    counter.read(grad_out, v)
    counter.write(dp)
    ds = p * (dp - (p * dp).sum(-1, keepdim=True))
    counter.read(p, dp)
    counter.write(ds)
    dq = scale * (ds @ k)
    counter.read(ds, k)
    counter.write(dq)
    dk = scale * (ds.transpose(-2, -1) @ q)
    counter.read(ds, q)
    counter.write(dk)
    return dq, dk, dv


# ---- FlashAttention forward (Algorithm 1; FlashAttention-2's loop order) --------------------

def flash_attention_forward(q: Tensor, k: Tensor, v: Tensor, *, is_causal: bool = False,
                            scale: float | None = None, block_rows: int | None = None,
                            block_cols: int | None = None, sram_size: int | None = None,
                            loop_order: LoopOrder = "kv_outer",
                            counter: IOCounter | None = None, dropout_p: float = 0.0,
                            dropout_seed: int | None = None) -> tuple[Tensor, Tensor]:
    """Exact attention (10.1) computed tile by tile, never holding an ``N_q x N_k`` matrix.

    Parameters
    ----------
    q, k, v
        ``(..., N_q, d)``, ``(..., N_k, d)``, ``(..., N_k, d)``.
    is_causal
        Mask keys after the query (top-left aligned); tiles wholly above the diagonal are
        skipped.
    scale
        Multiplies ``Q K^T``; ``None`` means ``1 / sqrt(d)``.
    block_rows, block_cols
        Tile sizes ``Br`` (rows of Q, O) and ``Bc`` (rows of K, V); 64 each by default.
        May exceed the sequence length (the tile is then the whole sequence).
    sram_size
        Instead of ``Br``, ``Bc``: the SRAM size ``M`` in elements, from which the tiles are
        chosen as the paper does, eq. (10.5). Needs ``M >= 4d``.
    loop_order
        ``"kv_outer"``: Algorithm 1 of FlashAttention (K, V tiles outside, updating O and
        the statistics in HBM after every tile, eq. 10.6); ``"q_outer"``: FlashAttention-2
        (each Q tile stays on chip while all K, V tiles stream past, eq. 10.4). The two
        loops are :func:`forward_kv_outer` and :func:`forward_q_outer`.
    counter
        If given, HBM element reads and writes are added to it.
    dropout_p, dropout_seed
        Dropout on the probabilities inside the kernel, eq. (10.9) (Algorithm 2 of the
        paper): each tile ``P_ij`` is multiplied by its mask ``Z_ij``, generated on chip from
        ``dropout_seed`` (the saved random state R; required when ``dropout_p > 0``) and
        the entries' positions, see :func:`dropout_mask`. The normaliser ``l`` and the
        log-sum-exp are those of the undropped row, so ``O = (Z * P) V``.

    Runs without autograd (the outputs do not require grad); use :func:`flash_attention`
    for a version that backpropagates.

    Returns
    -------
    o, lse
        The output ``(..., N_q, d)`` and the log-sum-exp of every row of ``S``,
        ``(..., N_q)``, eq. (10.8): all the backward pass needs besides Q, K, V, O.
    """
    forward = forward_kv_outer if _check_order(loop_order) == "kv_outer" else forward_q_outer
    return forward(q, k, v, is_causal=is_causal, scale=scale, block_rows=block_rows,
                   block_cols=block_cols, sram_size=sram_size, counter=counter,
                   dropout_p=dropout_p, dropout_seed=dropout_seed)


def _check_forward(q: Tensor, k: Tensor, v: Tensor, is_causal: bool, scale: float | None,
                   block_rows: int | None, block_cols: int | None, sram_size: int | None,
                   counter: IOCounter | None, dropout_p: float, dropout_seed: int | None
                   ) -> tuple[int, int, float, IOCounter, float]:
    """The checks of the two forward loops; returns ``Br, Bc``, the scale, the counter and
    ``dropout_p`` with their defaults filled in."""
    _, _, d = _check_qkv(q, k, v)
    scale = _check_scale(scale, d)
    br, bc = _resolve_blocks(block_rows, block_cols, sram_size, d)
    check_bool("is_causal", is_causal)
    dropout_p = _check_dropout(dropout_p, dropout_seed, need_seed=True)
    return br, bc, scale, _check_counter(counter), dropout_p


@torch.no_grad()
def forward_kv_outer(q: Tensor, k: Tensor, v: Tensor, *, is_causal: bool = False,
                     scale: float | None = None, block_rows: int | None = None,
                     block_cols: int | None = None, sram_size: int | None = None,
                     counter: IOCounter | None = None, dropout_p: float = 0.0,
                     dropout_seed: int | None = None) -> tuple[Tensor, Tensor]:
    """Algorithm 1 of FlashAttention, line by line (line numbers in the comments).

    With ``dropout_p > 0`` it is Algorithm 2: the tile of probabilities is dropped out
    (line 13 there) after the statistics are updated, eq. (10.9). This is
    :func:`flash_attention_forward` with ``loop_order="kv_outer"``: same arguments, same
    result ``(o, lse)``.
    """
    br, bc, scale, counter, dropout_p = _check_forward(
        q, k, v, is_causal, scale, block_rows, block_cols, sram_size, counter, dropout_p,
        dropout_seed)
    *lead, n_q, d = q.shape
    n_k = k.shape[-2]
    o = q.new_zeros(q.shape)                                   # line 2: O = 0 in HBM
    l = q.new_zeros((*lead, n_q))                              #         l = 0
    m = q.new_full((*lead, n_q), -math.inf)                    #         m = -inf
    counter.write(o, l, m)
    row_tiles = _blocks(n_q, br)                               # lines 3-4: T_r row tiles
    for c0, c1 in _blocks(n_k, bc):                            # line 5: for j = 1..T_c
        rows = [(r0, r1) for r0, r1 in row_tiles if _visible(r1, c0, is_causal)]
        if not rows:                                           # every tile above the diagonal
            continue
        k_j, v_j = k[..., c0:c1, :], v[..., c0:c1, :]          # line 6: load K_j, V_j
        counter.read(k_j, v_j)
        for r0, r1 in rows:                                    # line 7: for i = 1..T_r
            q_i, o_i = q[..., r0:r1, :], o[..., r0:r1, :]      # line 8: load Q_i, O_i, l_i, m_i
            l_i, m_i = l[..., r0:r1], m[..., r0:r1]
            counter.read(q_i, o_i, l_i, m_i)
            s_ij = (q_i * scale) @ k_j.transpose(-2, -1)       # line 9: (..., Br, Bc)
            if is_causal and c1 - 1 > r0:                      # the tile crosses the diagonal
                s_ij = _causal_fill(s_ij, r0, c0)
            m_t = s_ij.amax(-1)                                # line 10: rowmax, (..., Br)
            p_t = torch.exp(s_ij - _finite(m_t)[..., None])    #          (..., Br, Bc)
            l_t = p_t.sum(-1)                                  #          rowsum
            m_new = torch.maximum(m_i, m_t)                    # line 11, eq. (10.6)
            alpha = torch.exp(m_i - _finite(m_new))            # rescales the old sum / output
            beta = torch.exp(m_t - _finite(m_new))             # rescales this tile's
            l_new = alpha * l_i + beta * l_t
            safe_l = torch.where(l_new > 0, l_new, torch.ones_like(l_new))
            if dropout_p > 0:                                  # Alg. 2, line 13: on chip
                p_t = p_t * _dropout_tile(dropout_seed, tuple(lead), (r0, r1), (c0, c1), n_k,
                                          dropout_p, p_t.dtype, p_t.device)
            o_new = ((alpha * l_i)[..., None] * o_i            # line 12: write O_i
                     + beta[..., None] * (p_t @ v_j)) / safe_l[..., None]
            o[..., r0:r1, :] = o_new
            l[..., r0:r1], m[..., r0:r1] = l_new, m_new        # line 13: write l_i, m_i
            counter.write(o_new, l_new, m_new)
            counter.tiles += 1
    lse = m + torch.log(l)                                     # eq. (10.8), one pass over l, m
    counter.read(m, l)
    counter.write(lse)
    return o, lse


@torch.no_grad()
def forward_q_outer(q: Tensor, k: Tensor, v: Tensor, *, is_causal: bool = False,
                    scale: float | None = None, block_rows: int | None = None,
                    block_cols: int | None = None, sram_size: int | None = None,
                    counter: IOCounter | None = None, dropout_p: float = 0.0,
                    dropout_seed: int | None = None) -> tuple[Tensor, Tensor]:
    """FlashAttention-2's forward: one Q tile on chip while every K, V tile passes by.

    :func:`flash_attention_forward` with ``loop_order="q_outer"``: same arguments, same
    result ``(o, lse)``.
    """
    br, bc, scale, counter, dropout_p = _check_forward(
        q, k, v, is_causal, scale, block_rows, block_cols, sram_size, counter, dropout_p,
        dropout_seed)
    *lead, n_q, d = q.shape
    n_k = k.shape[-2]
    o = q.new_empty(q.shape)
    lse = q.new_empty((*lead, n_q))
    col_tiles = _blocks(n_k, bc)
    for r0, r1 in _blocks(n_q, br):
        q_i = q[..., r0:r1, :] * scale                         # load Q_i (scaled on chip)
        counter.read(q_i)
        acc = q.new_zeros((*lead, r1 - r0, d))                 # unnormalised O_i, on chip
        l_i = q.new_zeros((*lead, r1 - r0))
        m_i = q.new_full((*lead, r1 - r0), -math.inf)
        for c0, c1 in col_tiles:
            if not _visible(r1, c0, is_causal):                # the rest is above the diagonal
                break
            k_j, v_j = k[..., c0:c1, :], v[..., c0:c1, :]      # load K_j, V_j
            counter.read(k_j, v_j)
            s_ij = q_i @ k_j.transpose(-2, -1)                 # (..., Br, Bc)
            if is_causal and c1 - 1 > r0:
                s_ij = _causal_fill(s_ij, r0, c0)
            m_new = torch.maximum(m_i, s_ij.amax(-1))          # eq. (10.4)
            p_t = torch.exp(s_ij - _finite(m_new)[..., None])
            alpha = torch.exp(m_i - _finite(m_new))
            l_i = alpha * l_i + p_t.sum(-1)                    # normaliser before dropout
            if dropout_p > 0:                                  # eq. (10.9), on chip
                p_t = p_t * _dropout_tile(dropout_seed, tuple(lead), (r0, r1), (c0, c1), n_k,
                                          dropout_p, p_t.dtype, p_t.device)
            acc = alpha[..., None] * acc + p_t @ v_j           # no division inside the loop
            m_i = m_new
            counter.tiles += 1
        o[..., r0:r1, :] = acc / l_i[..., None]                # normalise once, write O_i
        lse[..., r0:r1] = m_i + torch.log(l_i)                 # write L_i
        counter.write(acc, l_i)
    return o, lse


# ---- FlashAttention backward (Algorithm 4, with the log-sum-exp statistic) ------------------

def flash_attention_backward(q: Tensor, k: Tensor, v: Tensor, o: Tensor, lse: Tensor,
                             grad_out: Tensor, *, is_causal: bool = False,
                             scale: float | None = None, block_rows: int | None = None,
                             block_cols: int | None = None, sram_size: int | None = None,
                             counter: IOCounter | None = None, dropout_p: float = 0.0,
                             dropout_seed: int | None = None
                             ) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients ``dQ, dK, dV`` by recomputing each ``P_ij`` on chip, eq. (10.7).

    Follows Algorithm 4 of FlashAttention with FlashAttention-2's single statistic: the
    probabilities of tile ``(i, j)`` are rebuilt as ``exp(S_ij - L_i)`` from ``Q_i``, ``K_j``
    and the saved log-sum-exp ``L`` (10.8) instead of being read from a stored ``N x N``
    matrix. K, V tiles are in the outer loop; ``dK_j, dV_j`` accumulate on chip and are
    written once, ``dQ_i`` is read, updated and written back for every tile.
    ``o`` and ``lse`` are what :func:`flash_attention_forward` returned; arguments otherwise
    as there. Returns tensors shaped like ``q``, ``k``, ``v``.

    With dropout (Algorithm 4 of the paper, lines 1 and 16-20) the same ``dropout_p`` and
    ``dropout_seed`` as in the forward pass regenerate each tile's mask ``Z_ij`` on chip, so
    the mask is never stored: ``dV_j += (Z_ij * P_ij)^T dO_i`` and
    ``dP_ij = (dO_i V_j^T) * Z_ij``, eq. (10.9); ``D_i = rowsum(dO_i * O_i)`` still equals
    ``rowsum(P_ij * dP_ij)`` because ``O`` is the dropped-out output.
    """
    n_q, n_k, d = _check_qkv(q, k, v)
    scale = _check_scale(scale, d)
    br, bc = _resolve_blocks(block_rows, block_cols, sram_size, d)
    check_bool("is_causal", is_causal)
    dropout_p = _check_dropout(dropout_p, dropout_seed, need_seed=True)
    lead = tuple(q.shape[:-2])
    check_tensor("o", o)
    _check_scores("lse", lse)
    check_tensor("grad_out", grad_out)
    if o.shape != q.shape or grad_out.shape != q.shape or lse.shape != q.shape[:-1]:
        raise ValueError(f"o and grad_out must have q's shape {tuple(q.shape)} and lse shape "
                         f"{tuple(q.shape[:-1])}, got {tuple(o.shape)}, "
                         f"{tuple(grad_out.shape)} and {tuple(lse.shape)}")
    counter = _check_counter(counter)
    with torch.no_grad():
        dq, dk, dv = torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
        counter.write(dq, dk, dv)                              # line 5: initialise in HBM
        row_tiles = _blocks(n_q, br)
        for c0, c1 in _blocks(n_k, bc):                        # line 8: for j = 1..T_c
            rows = [(r0, r1) for r0, r1 in row_tiles if _visible(r1, c0, is_causal)]
            if not rows:
                continue
            k_j, v_j = k[..., c0:c1, :], v[..., c0:c1, :]      # line 9: load K_j, V_j
            counter.read(k_j, v_j)
            dk_j, dv_j = torch.zeros_like(k_j), torch.zeros_like(v_j)   # line 10: on chip
            for r0, r1 in rows:                                # line 11: for i = 1..T_r
                q_i, o_i = q[..., r0:r1, :], o[..., r0:r1, :]  # line 12: load
                do_i, dq_i, lse_i = grad_out[..., r0:r1, :], dq[..., r0:r1, :], lse[..., r0:r1]
                counter.read(q_i, o_i, do_i, dq_i, lse_i)
                s_ij = (q_i * scale) @ k_j.transpose(-2, -1)   # line 13: recompute S_ij
                if is_causal and c1 - 1 > r0:                  # line 14: mask
                    s_ij = _causal_fill(s_ij, r0, c0)
                p_ij = torch.exp(s_ij - lse_i[..., None])      # line 15, eq. (10.8)
                if dropout_p > 0:                              # line 16: regenerate Z_ij
                    z_ij = _dropout_tile(dropout_seed, lead, (r0, r1), (c0, c1), n_k,
                                         dropout_p, p_ij.dtype, p_ij.device)
                    dv_j += (z_ij * p_ij).transpose(-2, -1) @ do_i     # lines 17-18
                    dp_ij = (do_i @ v_j.transpose(-2, -1)) * z_ij      # lines 19-20
                else:
                    dv_j += p_ij.transpose(-2, -1) @ do_i      # line 18
                    dp_ij = do_i @ v_j.transpose(-2, -1)       # line 19
                d_i = (do_i * o_i).sum(-1, keepdim=True)       # line 21: D_i = rowsum(dO_i * O_i)
                ds_ij = p_ij * (dp_ij - d_i)                   # line 22
                dq_new = dq_i + scale * (ds_ij @ k_j)          # line 23: write dQ_i
                dq[..., r0:r1, :] = dq_new
                counter.write(dq_new)
                dk_j += scale * (ds_ij.transpose(-2, -1) @ q_i)   # line 24
                counter.tiles += 1
            dk[..., c0:c1, :], dv[..., c0:c1, :] = dk_j, dv_j  # line 26: write dK_j, dV_j
            counter.write(dk_j, dv_j)
    return dq, dk, dv


# ---- autograd: FlashAttention as a drop-in for attention -----------------------------------

class FlashAttentionFunction(torch.autograd.Function):
    """``torch.autograd.Function`` whose forward is the tiled forward and whose backward
    recomputes the probabilities tile by tile; saves only Q, K, V, O and the row log-sum-exp
    (``O(N d)`` memory instead of the ``O(N^2)`` of ``P``), and with dropout the integer
    seed from which the backward regenerates the mask. Use :func:`flash_attention`."""

    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor, is_causal: bool, scale: float,
                block_rows: int, block_cols: int, loop_order: str,
                counter: IOCounter | None, dropout_p: float = 0.0,
                dropout_seed: int | None = None) -> Tensor:
        o, lse = flash_attention_forward(q, k, v, is_causal=is_causal, scale=scale,
                                         block_rows=block_rows, block_cols=block_cols,
                                         loop_order=loop_order, counter=counter,
                                         dropout_p=dropout_p, dropout_seed=dropout_seed)
        ctx.save_for_backward(q, k, v, o, lse)
        ctx.settings = dict(is_causal=is_causal, scale=scale, block_rows=block_rows,
                            block_cols=block_cols, counter=counter, dropout_p=dropout_p,
                            dropout_seed=dropout_seed)      # the saved random state R
        return o

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        q, k, v, o, lse = ctx.saved_tensors
        dq, dk, dv = flash_attention_backward(q, k, v, o, lse, grad_out.contiguous(),
                                              **ctx.settings)
        return (dq, dk, dv) + (None,) * (len(ctx.needs_input_grad) - 3)


def flash_attention(q: Tensor, k: Tensor, v: Tensor, *, is_causal: bool = False,
                    scale: float | None = None, block_rows: int | None = None,
                    block_cols: int | None = None, sram_size: int | None = None,
                    loop_order: LoopOrder = "kv_outer",
                    counter: IOCounter | None = None, dropout_p: float = 0.0,
                    dropout_seed: int | None = None,
                    generator: torch.Generator | None = None) -> Tensor:
    """FlashAttention with autograd: a stand-in for
    ``torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=..., scale=...,
    dropout_p=...)``.

    Same arguments as :func:`flash_attention_forward`; returns ``O`` of shape
    ``(..., N_q, d)``. ``loss.backward()`` runs :func:`flash_attention_backward` (10.7). A
    ``counter`` receives the forward's traffic now and the backward's when it runs.
    With ``dropout_p > 0`` and no ``dropout_seed``, a seed is drawn from ``generator``
    (PyTorch's default generator if ``None``), as Algorithm 2 of the paper initialises and
    saves its random state R; the backward pass regenerates the mask from it, eq. (10.9).
    """
    _, _, d = _check_qkv(q, k, v)
    scale = _check_scale(scale, d)
    br, bc = _resolve_blocks(block_rows, block_cols, sram_size, d)
    _check_order(loop_order)
    check_bool("is_causal", is_causal)
    if counter is not None:
        _check_counter(counter)
    dropout_p = _check_dropout(dropout_p, dropout_seed, need_seed=False)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got "
                        f"{type(generator).__name__}")
    if dropout_p > 0 and dropout_seed is None:                 # Algorithm 2, line 1
        dropout_seed = int(torch.randint(0, 2 ** 62, (), generator=generator))
    return FlashAttentionFunction.apply(q, k, v, bool(is_causal), scale, br, bc, loop_order,
                                        counter, dropout_p, dropout_seed)


# ---- Flash-Decoding: split the keys and values, merge the partial results -------------------

def merge_attention_partials(outputs: Tensor, lses: Tensor) -> tuple[Tensor, Tensor]:
    """Merge attention computed over disjoint sets of keys into attention over all, eq. (10.12).

    ``outputs`` is ``(S, ..., N_q, d)``: split ``s`` holds ``O_s``, the attention output over
    its own keys only (normalised within the split), and ``lses`` is ``(S, ..., N_q)``, the
    log-sum-exp ``L_s`` of the scores over those keys, eq. (10.8). The merged log-sum-exp is
    ``L = log sum_s exp(L_s)`` and the merged output ``O = sum_s exp(L_s - L) O_s``: each
    split's output is weighted by its share of the row's softmax normaliser. A split whose
    keys are all masked (``L_s = -inf``) gets weight 0. Returns ``(O, L)``, shapes
    ``(..., N_q, d)`` and ``(..., N_q)``.
    """
    if not isinstance(outputs, Tensor) or not isinstance(lses, Tensor):
        raise TypeError(f"outputs and lses must be torch.Tensors, got "
                        f"{type(outputs).__name__} and {type(lses).__name__}")
    if outputs.ndim < 3 or lses.shape != outputs.shape[:-1]:
        raise ValueError(f"outputs must have shape (S, ..., N_q, d) and lses shape "
                         f"(S, ..., N_q), got {tuple(outputs.shape)} and {tuple(lses.shape)}")
    check_tensor("outputs", outputs)
    _check_scores("lses", lses)
    lse = torch.logsumexp(lses, dim=0)                              # (..., N_q)
    weights = torch.exp(lses - _finite(lse))                        # (S, ..., N_q), sum to 1
    return (weights[..., None] * outputs).sum(0), lse


def flash_decoding(q: Tensor, k: Tensor, v: Tensor, *, num_splits: int = 8,
                   scale: float | None = None, block_cols: int | None = None,
                   counter: IOCounter | None = None, return_lse: bool = False
                   ) -> Tensor | tuple[Tensor, Tensor]:
    """Flash-Decoding: attention of a few queries over a long KV cache, split along the keys.

    The ``N_k`` keys and values are cut into ``num_splits`` contiguous chunks of nearly
    equal length (as ``torch.tensor_split`` cuts them). Each chunk's partial output ``O_s``
    and log-sum-exp ``L_s`` are computed independently (on a GPU, by different thread
    blocks; here by :func:`flash_attention_forward` with the query tile outside and
    ``block_cols`` keys per tile), written to HBM, and merged by
    :func:`merge_attention_partials`, eq. (10.12). The result equals attention over the
    whole cache. There is no mask: the query being decoded is the newest token, and it sees
    every key in the cache.

    Parameters
    ----------
    q
        ``(..., N_q, d)``: the query (``N_q = 1`` when generating one token at a time).
    k, v
        ``(..., N_k, d)``: the cache.
    num_splits
        Number of chunks ``S``, between 1 and ``N_k``.
    scale, block_cols
        As in :func:`flash_attention_forward`.
    counter
        If given, receives the HBM traffic: each split reads ``q`` and its keys and values
        and writes ``O_s, L_s``; the merge reads every ``O_s, L_s`` and writes ``O, L``.
    return_lse
        Also return the merged log-sum-exp ``(..., N_q)``.
    """
    n_q, n_k, d = _check_qkv(q, k, v)
    num_splits = _check_int("num_splits", num_splits)
    if num_splits > n_k:
        raise ValueError(f"num_splits must be at most the number of keys N_k = {n_k}, got "
                         f"{num_splits}")
    scale = _check_scale(scale, d)
    bc = DEFAULT_BLOCK if block_cols is None else _check_int("block_cols (Bc)", block_cols)
    counter = _check_counter(counter)
    check_bool("return_lse", return_lse)
    with torch.no_grad():
        partials = [flash_attention_forward(q, k_s, v_s, scale=scale, block_rows=n_q,
                                            block_cols=bc, loop_order="q_outer",
                                            counter=counter)
                    for k_s, v_s in zip(k.tensor_split(num_splits, dim=-2),
                                        v.tensor_split(num_splits, dim=-2))]
        outputs = torch.stack([o for o, _ in partials])            # (S, ..., N_q, d)
        lses = torch.stack([lse for _, lse in partials])           # (S, ..., N_q)
        o, lse = merge_attention_partials(outputs, lses)
        counter.read(outputs, lses)                                # the reduction step
        counter.write(o, lse)
    return (o, lse) if return_lse else o


def attention_peak_memory(n_values: list[int], d: int = 64, *, block_rows: int = 128,
                          block_cols: int = 128, is_causal: bool = False, seed: int = 0,
                          progress: bool = True) -> list[dict[str, float]]:
    """Peak memory of the tiled forward and of standard attention at each sequence length.

    For each ``N`` in ``n_values`` makes seeded ``(N, d)`` float32 inputs, then measures
    :func:`peak_rss_increase` of :func:`flash_attention_forward` (``Br x Bc`` tiles) and of
    :func:`standard_attention` (the tiled one first, on a freshly trimmed heap). Returns one
    dict per ``N`` with keys ``n``, ``flash_bytes``, ``standard_bytes``, ``ratio``
    (standard / flash) and ``matrix_bytes`` (the size of one float32 ``N x N`` matrix).
    Linux only (see :func:`peak_rss_increase`).
    """
    d = _check_int("d", d)
    n_values = check_list("n_values", n_values, what="a list of sequence lengths",
                          item=_check_int)
    _check_int("block_rows", block_rows)
    _check_int("block_cols", block_cols)
    check_bool("is_causal", is_causal)
    check_bool("progress", progress)
    seed = check_integer_seed("seed", seed, fresh_if_none=True)
    out = []
    gen = torch.Generator().manual_seed(seed)
    for n in tqdm(n_values, desc="peak memory", disable=not progress):
        q, k, v = (torch.randn(n, d, generator=gen) for _ in range(3))
        # Warm up both code paths on tiny inputs so one-off allocations are not counted.
        flash_attention_forward(q[:8], k[:8], v[:8], block_rows=4, block_cols=4,
                                is_causal=is_causal)
        standard_attention(q[:8], k[:8], v[:8], is_causal=is_causal)
        flash = peak_rss_increase(lambda: flash_attention_forward(
            q, k, v, block_rows=block_rows, block_cols=block_cols, is_causal=is_causal))
        standard = peak_rss_increase(lambda: standard_attention(q, k, v, is_causal=is_causal))
        out.append(dict(n=n, flash_bytes=flash, standard_bytes=standard,
                        ratio=standard / max(flash, 1), matrix_bytes=4 * n * n))
    return out
