"""Pixel shuffle and the MLP projector between MoonViT and the language model (chapter 11).

Kimi-VL (Kimi Team, 2025, section 2.1) joins the encoder to the language model with

* a ``2 x 2`` *pixel shuffle*, equation (11.6): the features of each ``2 x 2`` block of
  neighbouring patches are concatenated into one vector, four times fewer tokens, each four
  times wider. Nothing is lost; :func:`pixel_unshuffle` undoes it exactly. (In PyTorch's
  vocabulary this space-to-depth move is ``pixel_unshuffle``; vision-language papers call it
  pixel shuffle. Only the order of the concatenated numbers differs.)
* a two-layer MLP, equation (11.7): ``linear_2(gelu(linear_1(LN(x))))``, from ``4 D_v`` to the
  language model's width ``D_t``, with the LayerNorm applied to each patch's ``D_v`` features
  before they are concatenated.

Names follow Kimi-VL's ``KimiVLMultiModalProjector`` (``pre_norm``, ``linear_1``,
``linear_2``), and the order of the concatenation is that of its ``patch_merger``: the block at
``(a, b)`` holds patches ``(2a, 2b), (2a, 2b+1), (2a+1, 2b), (2a+1, 2b+1)``.

Shapes: a pack of images with patch grids ``(h_i, w_i)``, ``L = sum h_i w_i`` patch features
of width ``D_v``; after a ``k x k`` shuffle, ``L / k^2`` tokens of width ``k^2 D_v``.

Bad input: arguments are checked with :mod:`mlbook.checks` (``ValueError``, or ``TypeError``
for a value of the wrong kind, naming the argument). The shuffles only rearrange numbers and
run inside the VLM's forward pass: they check shapes, not the values (NaN stays NaN).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import ArgumentTypeError, check_count, check_number, check_tensor
from .moonvit import _check_grids

__all__ = ["merged_grid_hws", "pixel_shuffle", "pixel_unshuffle", "MLPProjector",
           "projector_parameters"]


def _grids(grid_hws: torch.Tensor | Sequence[Sequence[int]], k: int) -> list[tuple[int, int]]:
    check_count("k (the merge kernel size)", k)
    grids = _check_grids(grid_hws)
    for h, w in grids:
        if h % k or w % k:
            raise ValueError(f"patch grid {h} x {w} cannot be cut into {k} x {k} blocks "
                             f"(k = {k}): both sides must be multiples of {k} (pad the image "
                             f"to a multiple of {k} patches)")
    return grids


def merged_grid_hws(grid_hws: torch.Tensor | Sequence[Sequence[int]], k: int = 2) -> torch.Tensor:
    """The token grids after a ``k x k`` pixel shuffle: ``(h_i / k, w_i / k)``."""
    return torch.tensor([(h // k, w // k) for h, w in _grids(grid_hws, k)], dtype=torch.long)


def pixel_shuffle(x: torch.Tensor, grid_hws: torch.Tensor | Sequence[Sequence[int]],
                  k: int = 2) -> torch.Tensor:
    """Concatenate the features of every ``k x k`` block of patches (11.6).

    ``x``: ``(L, D)`` packed patch features, image by image, each image row by row.
    Returns ``(L / k^2, k^2 D)``: image by image, blocks row by row, and inside a block the
    ``k^2`` patches row by row. Raises ``ValueError`` if a grid side is not a multiple of ``k``.
    """
    grids = _grids(grid_hws, k)
    check_tensor("x", x, dtype=None, finite=False, layout="(L, D)")
    if x.dim() != 2 or x.shape[0] != sum(h * w for h, w in grids):
        raise ValueError(f"x must be (L, D) with L = {sum(h * w for h, w in grids)} packed "
                         f"patches, got {tuple(x.shape)}")
    return x[_shuffle_index(grids, k)].reshape(-1, k * k * x.shape[1])


def _shuffle_index(grids: list[tuple[int, int]], k: int) -> torch.Tensor:
    """Packed row of each patch in shuffled order: image by image, block by block, row by row."""
    index, start = [], 0
    for h, w in grids:
        rows = torch.arange(h * w).view(h // k, k, w // k, k).permute(0, 2, 1, 3)  # (h/k, w/k, k, k)
        index.append(rows.reshape(-1) + start)
        start += h * w
    return torch.cat(index)


def pixel_unshuffle(y: torch.Tensor, grid_hws: torch.Tensor | Sequence[Sequence[int]],
                    k: int = 2) -> torch.Tensor:
    """The inverse of :func:`pixel_shuffle`: ``(L / k^2, k^2 D)`` back to ``(L, D)``.

    ``grid_hws`` are the *patch* grids (before the shuffle).
    """
    grids = _grids(grid_hws, k)
    check_tensor("y", y, dtype=None, finite=False, layout="(L / k^2, k^2 D)")
    n_tokens = [(h // k) * (w // k) for h, w in grids]
    if y.dim() != 2 or y.shape[0] != sum(n_tokens) or y.shape[1] % (k * k):
        raise ValueError(f"y must be ({sum(n_tokens)}, k^2 D) for these grids, got {tuple(y.shape)}")
    d = y.shape[1] // (k * k)
    return y.reshape(-1, d)[_shuffle_index(grids, k).argsort()]


class MLPProjector(nn.Module):
    """Kimi-VL's projector (11.7): LayerNorm per patch, then ``4 D_v -> 4 D_v -> D_t`` with GELU.

    ``forward(y)``: ``y`` ``(N, k^2 D_v)`` pixel-shuffled tokens -> ``(N, D_t)``, vectors in
    the language model's embedding space.
    """

    def __init__(self, vision_dim: int, text_dim: int, k: int = 2, eps: float = 1e-5):
        super().__init__()
        for name, value in (("vision_dim", vision_dim), ("text_dim", text_dim), ("k", k)):
            check_count(name, value)
        check_number("eps", eps, minimum=0.0, exclusive_minimum=True)
        self.vision_dim, self.k = vision_dim, k
        self.hidden_size = vision_dim * k * k
        self.pre_norm = nn.LayerNorm(vision_dim, eps=eps)
        self.linear_1 = nn.Linear(self.hidden_size, self.hidden_size)
        self.linear_2 = nn.Linear(self.hidden_size, text_dim)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        check_tensor("y", y, ndim=2, finite=False, layout=f"(N, k^2 D_v) = (N, {self.hidden_size})")
        if y.shape[-1] != self.hidden_size:
            raise ValueError(f"y must hold tokens of width k^2 D_v = {self.hidden_size}, got "
                             f"{y.shape[-1]}")
        dtype = self.linear_1.weight.dtype
        if y.dtype != dtype:
            raise ArgumentTypeError(f"y must have the projector's dtype {dtype}, got {y.dtype}")
        n = y.shape[0]
        x = self.pre_norm(y.view(n, self.k * self.k, self.vision_dim)).view(n, self.hidden_size)
        return self.linear_2(F.gelu(self.linear_1(x)))


def projector_parameters(vision_dim: int, text_dim: int, k: int = 2) -> int:
    """Parameters of :class:`MLPProjector`: ``2 D_v + (4D_v)^2 + 4D_v + 4D_v D_t + D_t`` for ``k = 2``."""
    for name, value in (("vision_dim", vision_dim), ("text_dim", text_dim), ("k", k)):
        check_count(name, value)
    wide = vision_dim * k * k
    return 2 * vision_dim + wide * wide + wide + wide * text_dim + text_dim
