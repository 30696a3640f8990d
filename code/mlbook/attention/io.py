"""FlashAttention's IO accounting: the HBM traffic counter, tiles, and IO counts without running.

The bookkeeping side of chapter 10, *FlashAttention: online softmax, tiling and IO-aware
attention*; the algorithms themselves are in :mod:`mlbook.attention.flash`, which passes an
:class:`IOCounter` through its loops and takes its tiles from here. It follows T. Dao,
D. Y. Fu, S. Ermon, A. Rudra and C. Re, "FlashAttention: Fast and Memory-Efficient Exact
Attention with IO-Awareness", NeurIPS 2022 (arXiv:2205.14135): the block sizes of
Algorithm 1 (line 1) and Theorem 2 (IO complexity); and T. Dao, "FlashAttention-2",
ICLR 2024 (arXiv:2307.08691), Algorithm 1 (query tiles in the outer loop) and Section 3.1.1
(skipping tiles that the causal mask hides entirely).

Equation numbers in the docstrings are the chapter's:

* (10.5)  block sizes from the SRAM size: ``Bc = ceil(M / 4d)``, ``Br = min(Bc, d)``;
* (10.10) HBM traffic of standard attention, ``Theta(N d + N^2)``;
* (10.11) HBM traffic of FlashAttention, ``Theta(N^2 d^2 / M)``.

What is here: :class:`IOCounter` (elements moved between HBM and SRAM, which the functions
of :mod:`mlbook.attention.flash` fill while they run), :func:`block_sizes` and
:func:`sram_footprint`, the tile order of the tiled forward (:class:`TileStep`,
:func:`tile_steps`, :func:`tile_schedule`), the same traffic counted from the sizes alone
(:func:`standard_attention_io`, :func:`flash_attention_io`) and the bounds of Theorem 2
(:func:`standard_io_bound`, :func:`flash_io_bound`). Nothing here imports the algorithms, so
:mod:`mlbook.attention.flash` depends on this module and not the other way round. The
peak-memory experiment :func:`~mlbook.attention.flash.attention_peak_memory` stays in
:mod:`mlbook.attention.flash`, because it runs the algorithms; the process-memory
measurement it uses is :func:`mlbook.memory.peak_rss_increase`.

Shapes and units as in :mod:`mlbook.attention.flash`: ``N_q`` queries, ``N_k`` keys and
values of head dimension ``d``; counts are in *elements* (multiply by 2 for bytes in
fp16/bf16). Bad input: every public function checks its arguments with :mod:`mlbook.checks`
(``ValueError``, or ``TypeError`` for a value of the wrong kind, naming the argument).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Literal

from torch import Tensor
from ..checks import ArgumentTypeError, check_bool, check_int, check_number

__all__ = [
    "IOCounter", "LoopOrder",
    "block_sizes", "sram_footprint", "TileStep", "tile_steps", "tile_schedule",
    "standard_attention_io", "flash_attention_io",
    "standard_io_bound", "flash_io_bound",
]

#: Which loop is outside: ``"kv_outer"`` is FlashAttention's Algorithm 1 (K, V tiles
#: outside, Q tiles inside), ``"q_outer"`` is FlashAttention-2's (Q tiles outside).
LoopOrder = Literal["kv_outer", "q_outer"]

#: Tile sizes used when neither ``block_rows``/``block_cols`` nor ``sram_size`` is given.
DEFAULT_BLOCK = 64


# ---- the HBM traffic counter --------------------------------------------------------------

@dataclass
class IOCounter:
    """Elements moved between HBM and on-chip SRAM by one run (or several, accumulated).

    Counts are in elements, not bytes: multiply :attr:`total` by the element size (2 bytes
    in fp16) for bytes. Pass the same counter to several calls to add their traffic.
    """

    reads: int = 0   # elements read from HBM into SRAM
    writes: int = 0  # elements written from SRAM back to HBM
    tiles: int = 0   # loop steps computing a score tile S_ij (for all batch x heads at once)

    def __post_init__(self) -> None:
        for name in ("reads", "writes", "tiles"):
            check_int(name, getattr(self, name), minimum=0)

    def read(self, *items: Tensor | int) -> None:
        """Count a load from HBM of each tensor (its ``numel``) or each number of elements."""
        self.reads += sum(_numel(x) for x in items)

    def write(self, *items: Tensor | int) -> None:
        """Count a store to HBM of each tensor (its ``numel``) or each number of elements."""
        self.writes += sum(_numel(x) for x in items)

    @property
    def total(self) -> int:
        """Reads plus writes, in elements: the paper's "number of HBM accesses"."""
        return self.reads + self.writes

    def __add__(self, other: IOCounter) -> IOCounter:
        if not isinstance(other, IOCounter):
            return NotImplemented
        return IOCounter(self.reads + other.reads, self.writes + other.writes,
                         self.tiles + other.tiles)


def _numel(x: Tensor | int) -> int:
    if isinstance(x, Tensor):
        return x.numel()
    if isinstance(x, bool) or not isinstance(x, numbers.Integral) or x < 0:
        error = ValueError if isinstance(x, numbers.Integral) and not isinstance(x, bool) \
            else ArgumentTypeError
        raise error(f"IOCounter: items must be tensors or numbers of elements (integers "
                    f">= 0), got {x!r:.40}")
    return int(x)


# ---- argument checks ----------------------------------------------------------------------

def _check_int(name: str, value: object, minimum: int = 1) -> int:
    """An integer (``bool`` refused) of at least ``minimum``: :func:`mlbook.checks.check_int`."""
    return check_int(name, value, minimum=minimum)


def _check_order(loop_order: str) -> str:
    if not isinstance(loop_order, str) or loop_order not in ("kv_outer", "q_outer"):
        raise (ValueError if isinstance(loop_order, str) else ArgumentTypeError)(f"loop_order must be 'kv_outer' (FlashAttention, Algorithm 1) or "
                         f"'q_outer' (FlashAttention-2), got {loop_order!r}")
    return loop_order


def _resolve_blocks(block_rows: int | None, block_cols: int | None, sram_size: int | None,
                    d: int) -> tuple[int, int]:
    """Tile sizes ``(Br, Bc)``: given directly, or chosen from the SRAM size by eq. (10.5)."""
    if sram_size is not None:
        if block_rows is not None or block_cols is not None:
            raise ValueError("give either sram_size (M, from which Br and Bc are chosen) or "
                             "block_rows and block_cols (Br, Bc), not both")
        return block_sizes(sram_size, d)
    br = DEFAULT_BLOCK if block_rows is None else _check_int("block_rows (Br)", block_rows)
    bc = DEFAULT_BLOCK if block_cols is None else _check_int("block_cols (Bc)", block_cols)
    return br, bc


# ---- tiles --------------------------------------------------------------------------------

def block_sizes(sram_size: int, d: int) -> tuple[int, int]:
    """FlashAttention's tile sizes ``(Br, Bc)`` for an SRAM of ``sram_size`` elements, eq. (10.5).

    ``Bc = ceil(M / 4d)`` so that the K and V tiles (``2 Bc d`` elements) take about half of
    the SRAM, and ``Br = min(Bc, d)`` so that the Q and O tiles take at most the other half
    and the ``Br x Bc`` score tile at most ``M / 4``. ``M`` must hold at least one row each of
    Q, K, V and O, i.e. ``M >= 4d``.
    """
    d = _check_int("d", d)
    sram_size = _check_int("sram_size (M)", sram_size)
    if sram_size < 4 * d:
        raise ValueError(f"sram_size (M) = {sram_size} elements is too small to hold one tile: "
                         f"one row each of Q, K, V and O needs 4*d = {4 * d} elements; use "
                         f"sram_size >= {4 * d}")
    bc = math.ceil(sram_size / (4 * d))
    return min(bc, d), bc


def sram_footprint(block_rows: int, block_cols: int, d: int) -> int:
    """Elements on chip during one tile step: ``K_j, V_j, Q_i, O_i`` and the score tile.

    ``2 Bc d + 2 Br d + Br Bc`` (the length-``Br`` statistics are left out). With the
    paper's choice (10.5) this is at most ``M / 2 + M / 2 + M / 4``: "up to a constant",
    as Theorem 2 puts it; a real kernel also reuses the ``S_ij`` buffer for ``P_ij``.
    """
    br, bc = _check_int("block_rows (Br)", block_rows), _check_int("block_cols (Bc)", block_cols)
    d = _check_int("d", d)
    return 2 * bc * d + 2 * br * d + br * bc


def _blocks(n: int, b: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` of the tiles of ``range(n)``; the last may be shorter."""
    return [(s, min(s + b, n)) for s in range(0, n, b)]


def _visible(r1: int, c0: int, is_causal: bool) -> bool:
    """Whether tile rows ``< r1`` and columns ``>= c0`` have an unmasked entry."""
    return not is_causal or c0 <= r1 - 1


@dataclass(frozen=True)
class TileStep:
    """One step of the tiled forward: the score tile ``S_ij`` it computes and its traffic."""

    i: int                    # row tile: rows i*Br .. (i+1)*Br - 1 of Q, O
    j: int                    # column tile: rows j*Bc .. (j+1)*Bc - 1 of K, V
    loads: tuple[str, ...]    # blocks read from HBM at this step, e.g. ("K_j", "V_j", "Q_i")
    stores: tuple[str, ...]   # blocks written to HBM at this step
    reads: int                # elements read at this step
    writes: int               # elements written at this step


def tile_steps(n_q: int, n_k: int | None = None, d: int = 64, *,
               block_rows: int | None = None, block_cols: int | None = None,
               sram_size: int | None = None, is_causal: bool = False,
               loop_order: LoopOrder = "kv_outer") -> list[TileStep]:
    """The steps of the tiled forward in the order they run, with what each moves.

    Tile ``(i, j)`` of the ``N_q x N_k`` score matrix covers rows ``i*Br ..`` and columns
    ``j*Bc ..``. With ``is_causal`` the tiles entirely above the diagonal are skipped (never
    loaded, never computed). ``loop_order="kv_outer"`` is Algorithm 1 of FlashAttention:
    ``K_j, V_j`` are loaded when column ``j`` starts and stay on chip while every row tile
    passes, loading ``Q_i, O_i, l_i, m_i`` and storing ``O_i, l_i, m_i`` at every step.
    ``"q_outer"`` is FlashAttention-2's order: ``Q_i`` is loaded when row ``i`` starts,
    ``K_j, V_j`` at every step, and ``O_i, L_i`` are stored once, after the row's last tile.
    """
    n_q = _check_int("n_q", n_q)
    n_k = n_q if n_k is None else _check_int("n_k", n_k)
    d = _check_int("d", d)
    br, bc = _resolve_blocks(block_rows, block_cols, sram_size, d)
    _check_order(loop_order)
    check_bool("is_causal", is_causal)
    rows, cols = _blocks(n_q, br), _blocks(n_k, bc)
    steps = []
    if loop_order == "kv_outer":
        for j, (c0, c1) in enumerate(cols):
            first = True
            for i, (r0, r1) in enumerate(rows):
                if not _visible(r1, c0, is_causal):
                    continue
                b = r1 - r0
                loads = ("Q_i", "O_i", "l_i", "m_i")
                reads = 2 * b * d + 2 * b
                if first:
                    loads, reads = ("K_j", "V_j") + loads, reads + 2 * (c1 - c0) * d
                    first = False
                steps.append(TileStep(i, j, loads, ("O_i", "l_i", "m_i"), reads, b * d + 2 * b))
    else:
        for i, (r0, r1) in enumerate(rows):
            vis = [(j, c0, c1) for j, (c0, c1) in enumerate(cols) if _visible(r1, c0, is_causal)]
            b = r1 - r0
            for n, (j, c0, c1) in enumerate(vis):
                loads, reads = ("K_j", "V_j"), 2 * (c1 - c0) * d
                if n == 0:
                    loads, reads = ("Q_i",) + loads, reads + b * d
                last = n == len(vis) - 1
                steps.append(TileStep(i, j, loads, ("O_i", "L_i") if last else (), reads,
                                      b * d + b if last else 0))
    return steps


def tile_schedule(n_q: int, n_k: int | None = None, *, block_rows: int, block_cols: int,
                  is_causal: bool = False, loop_order: LoopOrder = "kv_outer"
                  ) -> list[tuple[int, int]]:
    """The tiles ``(i, j)`` in the order the forward computes them (see :func:`tile_steps`).

    ``block_rows`` and ``block_cols`` are required here (no default of 64)."""
    _check_int("block_rows (Br)", block_rows)
    _check_int("block_cols (Bc)", block_cols)
    return [(s.i, s.j) for s in tile_steps(n_q, n_k, 1, block_rows=block_rows,
                                           block_cols=block_cols, is_causal=is_causal,
                                           loop_order=loop_order)]


# ---- IO counts without running, and the bounds of Theorem 2 ---------------------------------

def standard_attention_io(n_q: int, n_k: int | None = None, d: int = 64, *,
                          is_causal: bool = False, backward: bool = False,
                          batch: int = 1) -> IOCounter:
    """HBM traffic of :func:`standard_attention` (and :func:`standard_attention_backward`).

    The same counts the functions make while running, from the sizes alone: forward
    ``4 N d + 4 N^2`` for ``N_q = N_k = N`` (plus ``2 N^2`` for the causal masking pass),
    backward ``8 N d + 7 N^2``. ``batch`` multiplies everything (batch x heads).
    """
    n_q = _check_int("n_q", n_q)
    n_k = n_q if n_k is None else _check_int("n_k", n_k)
    d, batch = _check_int("d", d), _check_int("batch", batch)
    check_bool("is_causal", is_causal)
    check_bool("backward", backward)
    nn, qd, kd = n_q * n_k, n_q * d, n_k * d
    c = IOCounter()
    c.read(qd, kd)           # S = Q K^T
    c.write(nn)
    if is_causal:            # mask
        c.read(nn)
        c.write(nn)
    c.read(nn)               # P = softmax(S)
    c.write(nn)
    c.read(nn, kd)           # O = P V
    c.write(qd)
    if backward:
        c.read(nn, qd)       # dV = P^T dO
        c.write(kd)
        c.read(qd, kd)       # dP = dO V^T
        c.write(nn)
        c.read(nn, nn)       # dS
        c.write(nn)
        c.read(nn, kd)       # dQ = dS K
        c.write(qd)
        c.read(nn, qd)       # dK = dS^T Q
        c.write(kd)
    return IOCounter(c.reads * batch, c.writes * batch, 0)


def flash_attention_io(n_q: int, n_k: int | None = None, d: int = 64, *,
                       block_rows: int | None = None, block_cols: int | None = None,
                       sram_size: int | None = None, is_causal: bool = False,
                       loop_order: LoopOrder = "kv_outer", backward: bool = False,
                       batch: int = 1) -> IOCounter:
    """HBM traffic of :func:`flash_attention_forward` (and its backward), without running it.

    Adds up, column tile by column tile (or row tile by row tile), what each line of the
    algorithm loads and stores; equals what the ``counter`` of a real run records and the
    sum over :func:`tile_steps`, but takes microseconds even for tiny tiles. With
    ``backward=True`` the backward pass (Algorithm 4) is added. Tile arguments as in
    :func:`flash_attention_forward`; ``batch`` multiplies the reads and writes (one loop
    step handles a tile for every batch element and head, so not ``tiles``).
    """
    n_q = _check_int("n_q", n_q)
    n_k = n_q if n_k is None else _check_int("n_k", n_k)
    d, batch = _check_int("d", d), _check_int("batch", batch)
    br, bc = _resolve_blocks(block_rows, block_cols, sram_size, d)
    _check_order(loop_order)
    check_bool("is_causal", is_causal)
    check_bool("backward", backward)
    c = IOCounter()
    n_rows = math.ceil(n_q / br)

    def visible_rows(c0: int) -> tuple[int, int]:
        """How many row tiles see column ``c0``, and how many rows they hold."""
        if not is_causal:
            return n_rows, n_q
        if c0 >= n_q:
            return 0, 0
        first = c0 // br                                       # tiles i >= c0 // Br end past c0
        return n_rows - first, n_q - first * br

    cols = _blocks(n_k, bc)
    if loop_order == "kv_outer":
        c.write(n_q * d, n_q, n_q)                             # O, l, m initialised
        for c0, c1 in cols:
            count, rows = visible_rows(c0)
            if count:
                c.read(2 * (c1 - c0) * d, (2 * d + 2) * rows)  # K_j, V_j; Q_i, O_i, l_i, m_i
                c.write((d + 2) * rows)                        # O_i, l_i, m_i
                c.tiles += count
        c.read(2 * n_q)                                        # lse = m + log l
        c.write(n_q)
    else:
        for r0, r1 in _blocks(n_q, br):
            count = len(cols) if not is_causal else min(len(cols), (r1 - 1) // bc + 1)
            c.read((r1 - r0) * d, 2 * d * min(n_k, count * bc))   # Q_i; K_j, V_j
            c.write((r1 - r0) * (d + 1))                       # O_i, L_i
            c.tiles += count
    if backward:
        c.write(n_q * d, 2 * n_k * d)                          # dQ, dK, dV initialised
        for c0, c1 in cols:
            count, rows = visible_rows(c0)
            if count:
                c.read(2 * (c1 - c0) * d,                      # K_j, V_j
                       (4 * d + 1) * rows)                     # Q_i, O_i, dO_i, dQ_i, L_i
                c.write(d * rows + 2 * (c1 - c0) * d)          # dQ_i; dK_j, dV_j
                c.tiles += count
    return IOCounter(c.reads * batch, c.writes * batch, c.tiles)


def standard_io_bound(n: float, d: float) -> float:
    """``N d + N^2``: the order of standard attention's HBM accesses, eq. (10.10)."""
    check_number("n", n, minimum=0.0, exclusive_minimum=True)
    check_number("d", d, minimum=0.0, exclusive_minimum=True)
    return float(n) * d + float(n) ** 2


def flash_io_bound(n: float, d: float, sram_size: float) -> float:
    """``N^2 d^2 / M``: the order of FlashAttention's HBM accesses, eq. (10.11).

    Theorem 2 of the paper states it for ``d <= M <= N d``; above ``M = N d`` everything
    fits on chip and the true count is ``Theta(N d)`` (reading the inputs once).
    """
    check_number("n", n, minimum=0.0, exclusive_minimum=True)
    check_number("d", d, minimum=0.0, exclusive_minimum=True)
    check_number("sram_size (M)", sram_size, minimum=0.0, exclusive_minimum=True)
    return float(n) ** 2 * float(d) ** 2 / float(sram_size)
