"""A MoonViT-style vision encoder at native resolution (chapter 11).

Follows the Kimi Team, *Kimi-VL Technical Report* (arXiv:2504.07491, 2025), section 2.1, whose
MoonViT encoder is initialised from SigLIP-SO-400M (Zhai et al., 2023) and

* cuts every image into ``p x p`` patches *at its own size* instead of resizing it to a fixed
  square (Dosovitskiy et al., 2021, for patches; Dehghani et al., 2023, "NaViT", for mixing
  resolutions), equation (11.1);
* packs the patch sequences of several images into one sequence and lets a patch attend only
  to patches of its own image (a block-diagonal mask), equation (11.3), so one forward pass
  serves images of any sizes and the result equals encoding each image alone;
* gives each patch its position twice: SigLIP's learnt absolute embeddings, interpolated
  (bicubically) from their trained grid to the image's grid, equation (11.5), and a 2D rotary
  embedding (Su et al., 2024) inside every attention layer, equation (11.4).

Equation (11.n) is the n-th numbered equation of chapter 11. Parameter names follow Kimi-VL's
released ``MoonVitPretrainedModel`` (``patch_embed.proj``, ``patch_embed.pos_emb.weight``,
``encoder.blocks.N.{norm0, wqkv, wo, norm1, mlp.fc0, mlp.fc1}``,
``encoder.final_layernorm``), so :data:`KIMI_VL_MOONVIT` built on the ``meta`` device has the
size of the released encoder.

The 2D rotary embedding has the layout of Kimi-VL's ``Rope2DPosEmb``, so that released MoonViT
weights (``wqkv`` included) would work here without reordering any rows: within each head the
coordinates are taken in adjacent pairs ``(x_{2j}, x_{2j+1})``, as in Meta's LLaMA code
(chapter 6, :func:`mlbook.llm.llama.apply_rope_interleaved`), and the pairs alternate between
the two axes: pair ``2i`` turns by the patch's *column* times ``theta_i``, pair ``2i + 1`` by
its *row* times ``theta_i``, with ``theta_i = theta^(-4i/hd)``
(:func:`mlbook.llm.llama.rope_inverse_frequencies` of width ``hd/2``), ``i < hd/4``. A layout
that rotated one half of the head by the row and the other by the column would be as good for
a model trained from scratch, but loading released weights into it would need the rows of the
query and key parts of ``wqkv`` permuted, as chapter 6's ``permute_meta_to_hf`` does for LLaMA.

Bad input: an image smaller than one patch, or a side that is not a multiple of the patch
size, is *refused* with ``ValueError`` (never silently cropped or resized); call
:func:`pad_to_multiple` first to pad such an image with zeros on the bottom and right. Every
public function and class checks its arguments with :mod:`mlbook.checks` (``ValueError``, or
``TypeError`` for a value of the wrong kind, naming the argument): patch grids are pairs of
positive integers, tensors have the shapes written below. The modules' forward passes and
the tensor helpers inside them (:func:`varlen_attention`, :func:`rotate_pairs`,
:func:`apply_rope_2d`) check shapes and dtypes only: as everywhere in PyTorch, NaN and
infinite activations propagate; the images given to :func:`pack_images` and
:meth:`MoonViT.encode` are checked for them.

Shapes: ``C`` channels, ``H x W`` pixels, ``p`` patch size, ``h x w = (H/p) x (W/p)`` the
patch grid of one image, ``L`` the packed length (sum of ``h*w`` over the images), ``D`` the
width ``hidden_size``, ``nh`` heads of width ``hd = D / nh``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import (ArgumentTypeError, check_array, check_count, check_instance,
                      check_integer_seed, check_list, check_number, check_tensor)
from ..llm.llama import _check_features, _check_rope_tables, _dtype_of, rope_inverse_frequencies

__all__ = [
    "MoonViTConfig", "KIMI_VL_MOONVIT", "patch_grid", "pad_to_multiple", "patchify",
    "unpatchify", "PackedImages", "pack_images", "sequence_lengths", "cu_seqlens",
    "block_diagonal_mask", "VarlenGroups", "varlen_attention", "token_counts", "grid_positions",
    "rope_2d_angles", "rope_2d_cos_sin", "rotate_pairs", "apply_rope_2d",
    "Learnable2DInterpPosEmb", "MoonVisionPatchEmbed", "MoonViTMLP", "MoonViTEncoderLayer",
    "MoonViTEncoder", "MoonViT",
]


def _positive_int(name: str, value: Any) -> int:
    """A count >= 1 (:func:`mlbook.checks.check_count`: ``bool`` and ``3.0`` refused)."""
    return check_count(name, value)


def _check_grids(grid_hws: Any, name: str = "grid_hws") -> list[tuple[int, int]]:
    """Patch grids ``(N, 2)`` (a long tensor or nested lists) of positive integers, as pairs."""
    if isinstance(grid_hws, torch.Tensor):
        grid_hws = grid_hws.detach().cpu().numpy()
    grids = check_array(name, grid_hws, shape=(None, 2), integer=True, minimum=1)
    return [(int(h), int(w)) for h, w in grids]


def _check_image(name: str, image: Any, channels: int | None = None) -> torch.Tensor:
    """An image ``(C, H, W)`` (any real dtype; float pixels finite)."""
    check_tensor(name, image, ndim=3, dtype=None, layout="(channels, height, width)")
    if channels is not None and image.shape[0] != channels:
        raise ValueError(f"{name} must have {channels} channel(s), got shape "
                         f"{tuple(image.shape)}")
    return image


def _check_images(images: Any, channels: int | None = None) -> list[torch.Tensor]:
    images = check_list("images", images, what="a list of (C, H, W) tensors",
                        exclude=torch.Tensor)
    for i, image in enumerate(images):
        _check_image(f"images[{i}]", image, channels)
    return images


# ----------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MoonViTConfig:
    """The shape of a MoonViT encoder; field names follow Kimi-VL's ``MoonViTConfig``.

    The defaults are the released encoder's (:data:`KIMI_VL_MOONVIT`): SigLIP-SO-400M's width
    1152, 27 layers, 16 heads, an MLP of 4304, 14-pixel patches and a 64 x 64 grid of learnt
    absolute position embeddings.
    """

    patch_size: int = 14              # p: side of a square patch, in pixels
    hidden_size: int = 1152           # D: width of the patch features
    num_hidden_layers: int = 27       # encoder blocks
    num_attention_heads: int = 16     # nh: heads; hd = D / nh must be a multiple of 4 (2D RoPE)
    intermediate_size: int = 4304     # width of each block's GELU MLP
    init_pos_emb_height: int = 64     # rows of the learnt absolute position grid (interpolated)
    init_pos_emb_width: int = 64      # columns of that grid
    num_channels: int = 3             # C: colour channels of the input
    rope_theta: float = 10000.0       # base of the 2D rotary embedding
    merge_kernel_size: int = 2        # side of the pixel-shuffle block of the projector
    layer_norm_eps: float = 1e-5      # epsilon of the LayerNorms

    def __post_init__(self) -> None:
        for name in ("patch_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "init_pos_emb_height", "init_pos_emb_width",
                     "num_channels", "merge_kernel_size"):
            _positive_int(name, getattr(self, name))
        check_number("rope_theta", self.rope_theta, minimum=1.0, exclusive_minimum=True)
        check_number("layer_norm_eps", self.layer_norm_eps, minimum=0.0, exclusive_minimum=True)
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be divisible by "
                             f"num_attention_heads ({self.num_attention_heads})")
        if self.head_dim % 4:
            raise ValueError(f"head width hidden_size / num_attention_heads = {self.head_dim} "
                             "must be a multiple of 4: 2D RoPE rotates pairs along two axes")

    @property
    def head_dim(self) -> int:
        """hd: the width of one attention head."""
        return self.hidden_size // self.num_attention_heads

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: The released MoonViT of Kimi-VL-A3B (``moonshotai/Kimi-VL-A3B-Instruct``, ``vision_config``).
KIMI_VL_MOONVIT = MoonViTConfig()


# ----------------------------------------------------------------------------------------
# Patches at native resolution (11.1)
# ----------------------------------------------------------------------------------------
def patch_grid(height: int, width: int, patch_size: int) -> tuple[int, int]:
    """The patch grid ``(h, w) = (H / p, W / p)`` of an ``H x W`` image (11.1).

    Refuses (``ValueError``) an image smaller than one patch and a side that is not a
    multiple of ``p``: MoonViT never crops or resizes here. Pad such an image first with
    :func:`pad_to_multiple`.
    """
    _positive_int("patch_size", patch_size)
    for name, side in (("height", height), ("width", width)):
        _positive_int(name, side)
    if height < patch_size or width < patch_size:
        raise ValueError(f"image of {height} x {width} pixels (height x width) is smaller "
                         f"than one patch of {patch_size} x {patch_size}: both sides must be "
                         f"at least patch_size = {patch_size}")
    if height % patch_size or width % patch_size:
        raise ValueError(f"image of {height} x {width} pixels (height x width): both sides "
                         f"must be multiples of the patch size {patch_size} (patch_size). "
                         "Images are refused, not cropped: pad them first with "
                         "pad_to_multiple(image, multiple)")
    return height // patch_size, width // patch_size


def pad_to_multiple(image: torch.Tensor, multiple: int, value: float = 0.0) -> torch.Tensor:
    """Pad ``image`` ``(C, H, W)`` with ``value`` on the bottom and right to multiples of ``multiple``.

    Use ``multiple = p`` for patching, or ``p * merge_kernel_size`` so that the patch grid can
    also be pixel-shuffled. Returns ``(C, H', W')`` with ``H' = ceil(H / multiple) * multiple``.
    """
    _positive_int("multiple", multiple)
    _check_image("image", image)
    check_number("value", value)
    _, height, width = image.shape
    pad_h = -height % multiple
    pad_w = -width % multiple
    return F.pad(image, (0, pad_w, 0, pad_h), value=value)


def patchify(image: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut ``image`` ``(C, H, W)`` into its ``h * w`` patches, ``(h*w, C, p, p)``, row by row (11.1).

    Patch ``r * w + c`` covers rows ``r p .. r p + p - 1`` and columns ``c p .. c p + p - 1``.
    Raises ``ValueError`` as :func:`patch_grid` does.
    """
    _check_image("image", image)
    c, height, width = image.shape
    h, w = patch_grid(int(height), int(width), patch_size)
    p = patch_size
    patches = image.reshape(c, h, p, w, p).permute(1, 3, 0, 2, 4)      # (h, w, C, p, p)
    return patches.reshape(h * w, c, p, p)


def unpatchify(patches: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """The inverse of :func:`patchify`: ``(h*w, C, p, p)`` and ``grid = (h, w)`` to ``(C, H, W)``."""
    check_tensor("patches", patches, ndim=4, dtype=None, layout="(h*w, C, p, p)")
    if patches.shape[2] != patches.shape[3]:
        raise ValueError(f"patches must be square, (h*w, C, p, p), got {tuple(patches.shape)}")
    h, w = check_list("grid", grid, what="a pair (h, w) of positive integers", min_len=2,
                      max_len=2, item=_positive_int)
    n, c, p, _ = patches.shape
    if n != h * w:
        raise ValueError(f"{n} patches do not fill a grid of {h} x {w}")
    return patches.reshape(h, w, c, p, p).permute(2, 0, 3, 1, 4).reshape(c, h * p, w * p)


@dataclass
class PackedImages:
    """Several images as one sequence of patches: what MoonViT takes.

    ``pixel_values``: ``(L, C, p, p)``, the patches of image 0, then of image 1, ...;
    ``grid_hws``: ``(N, 2)`` long tensor, the patch grid ``(h, w)`` of each image.
    """

    pixel_values: torch.Tensor
    grid_hws: torch.Tensor

    @property
    def lengths(self) -> list[int]:
        """Patches per image, ``h * w``."""
        return sequence_lengths(self.grid_hws)

    def __len__(self) -> int:
        return int(self.grid_hws.shape[0])


def pack_images(images: Sequence[torch.Tensor], patch_size: int) -> PackedImages:
    """Patchify each ``(C, H_i, W_i)`` image at its own size and concatenate the patches.

    Images may differ in size and aspect ratio but not in channels. Raises ``ValueError``
    for an empty list and for any image :func:`patch_grid` refuses.
    """
    _positive_int("patch_size", patch_size)
    images = _check_images(images)
    channels = {int(im.shape[0]) for im in images}
    if len(channels) != 1:
        raise ValueError(f"all images must have the same number of channels, got {sorted(channels)}")
    patches, grids = [], []
    for i, image in enumerate(images):
        try:
            patches.append(patchify(image, patch_size))
            grids.append(patch_grid(int(image.shape[1]), int(image.shape[2]), patch_size))
        except ValueError as error:      # which image: "images[3]: image of 30 x 28 pixels..."
            raise type(error)(f"images[{i}]: {error}") from None
    return PackedImages(torch.cat(patches), torch.tensor(grids, dtype=torch.long))


def sequence_lengths(grid_hws: torch.Tensor | Sequence[Sequence[int]]) -> list[int]:
    """Patches of each image, ``h * w``, as a list of ints."""
    return [h * w for h, w in _check_grids(grid_hws)]


def cu_seqlens(grid_hws: torch.Tensor | Sequence[Sequence[int]]) -> torch.Tensor:
    """Cumulative lengths ``[0, n_0, n_0 + n_1, ...]``: where each image starts in the pack.

    This is how variable-length attention kernels (FlashAttention's ``varlen`` functions)
    are told where the images begin, without an ``L x L`` mask.
    """
    lengths = torch.tensor([0] + sequence_lengths(grid_hws), dtype=torch.long)
    return lengths.cumsum(0)


def block_diagonal_mask(grid_hws: torch.Tensor | Sequence[Sequence[int]]) -> torch.Tensor:
    """The ``(L, L)`` boolean mask of packed attention (11.3): True where query and key share an image."""
    lengths = sequence_lengths(grid_hws)
    image_of = torch.repeat_interleave(torch.arange(len(lengths)), torch.tensor(lengths))
    return image_of[:, None] == image_of[None, :]


@dataclass
class VarlenGroups:
    """Per-image lengths of a pack, arranged for batched attention.

    Images with the same number of patches ``n`` are attended to together as a batch of
    ``n``-long sequences: ``groups`` holds ``(n, rows)`` where ``rows`` ``(G n,)`` are the
    packed positions of those ``G`` images; ``inverse`` puts the concatenated outputs back
    in packed order. The work is ``sum n_i^2`` instead of the mask's ``L^2``, as in
    FlashAttention's variable-length kernels that take :func:`cu_seqlens`.
    """

    groups: list[tuple[int, torch.Tensor]]
    inverse: torch.Tensor

    @classmethod
    def from_grids(cls, grid_hws: torch.Tensor | Sequence[Sequence[int]],
                   device: torch.device | str | None = None) -> "VarlenGroups":
        lengths = sequence_lengths(grid_hws)
        starts = [0]
        for n in lengths[:-1]:
            starts.append(starts[-1] + n)
        groups, order = [], []
        for n in sorted(set(lengths)):
            rows = torch.cat([torch.arange(s, s + n) for s, m in zip(starts, lengths) if m == n])
            groups.append((n, rows.to(device)))
            order.append(rows)
        return cls(groups, torch.cat(order).argsort().to(device))


def varlen_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                     groups: VarlenGroups) -> torch.Tensor:
    """Attention of packed ``q, k, v`` ``(nh, L, hd)`` within each image only, without a mask (11.3).

    ``groups``: the :class:`VarlenGroups` of the pack (``L`` patches in all)."""
    check_instance("groups", groups, VarlenGroups)
    length = int(groups.inverse.shape[0])
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_tensor(name, t, ndim=3, finite=False, layout="(nh, L, hd)")
    if q.shape[1] != length:
        raise ValueError(f"q must hold the L = {length} packed patches of groups, got shape "
                         f"{tuple(q.shape)}")
    for name, t in (("k", k), ("v", v)):
        if t.shape != q.shape:
            raise ValueError(f"{name} must have the shape of q {tuple(q.shape)}, got "
                             f"{tuple(t.shape)}")
    return _varlen_attention(q, k, v, groups)


def _varlen_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                      groups: VarlenGroups) -> torch.Tensor:
    nh, _, hd = q.shape
    outs = []
    for n, rows in groups.groups:
        def take(t: torch.Tensor) -> torch.Tensor:
            return t[:, rows].view(nh, -1, n, hd).transpose(0, 1)       # (G, nh, n, hd)
        out = F.scaled_dot_product_attention(take(q), take(k), take(v))
        outs.append(out.transpose(0, 1).reshape(nh, -1, hd))            # (nh, G n, hd)
    return torch.cat(outs, dim=1)[:, groups.inverse]


def token_counts(height: int, width: int, patch_size: int = 14,
                 merge_kernel_size: int = 2) -> dict[str, int]:
    """Patches and language-model tokens of an ``H x W`` image, (11.1) and (11.2).

    Returns ``grid_h, grid_w`` (the patch grid), ``patches`` (``h * w``) and ``tokens``
    (after ``k x k`` pixel shuffle, ``h w / k^2``). Raises ``ValueError`` if the image is
    smaller than a patch, a side is not a multiple of ``p``, or the grid is not a multiple
    of ``k``.
    """
    _positive_int("merge_kernel_size", merge_kernel_size)
    h, w = patch_grid(height, width, patch_size)
    k = merge_kernel_size
    if h % k or w % k:
        raise ValueError(f"patch grid {h} x {w} cannot be pixel-shuffled in {k} x {k} blocks "
                         f"(merge_kernel_size = {k}): both sides must be multiples of {k}; pad "
                         f"the image to a multiple of {patch_size * k} pixels")
    return {"grid_h": h, "grid_w": w, "patches": h * w, "tokens": (h // k) * (w // k)}


# ----------------------------------------------------------------------------------------
# Positions: 2D RoPE (11.4) and interpolated absolute embeddings (11.5)
# ----------------------------------------------------------------------------------------
def grid_positions(grid_hws: torch.Tensor | Sequence[Sequence[int]]) -> torch.Tensor:
    """``(L, 2)`` long tensor of each packed patch's ``(row, column)`` inside its own image."""
    rows = []
    for h, w in _check_grids(grid_hws):
        r = torch.arange(h).repeat_interleave(w)
        c = torch.arange(w).repeat(h)
        rows.append(torch.stack([r, c], dim=1))
    return torch.cat(rows)


def rope_2d_angles(grid_hws: torch.Tensor | Sequence[Sequence[int]], head_dim: int,
                   theta: float = 10000.0) -> torch.Tensor:
    """``(L, hd/2)`` rotation angles of 2D RoPE, one per coordinate pair, Kimi-VL's layout (11.4).

    For a patch at row ``r`` and column ``c`` of its own image, pair ``2i`` (coordinates
    ``4i, 4i+1``) turns by ``c * theta_i`` and pair ``2i + 1`` (coordinates ``4i+2, 4i+3``) by
    ``r * theta_i``, with ``theta_i = theta^(-4i/hd)``, ``i < hd/4``: the columns of the result
    are ``[c theta_0, r theta_0, c theta_1, r theta_1, ...]``. Positions restart at ``(0, 0)``
    in each image of a pack. Raises ``ValueError`` unless ``head_dim`` is a positive multiple
    of 4.
    """
    if isinstance(head_dim, bool) or not isinstance(head_dim, int) or head_dim < 4 or head_dim % 4:
        error = ValueError if isinstance(head_dim, int) and not isinstance(head_dim, bool) \
            else ArgumentTypeError
        raise error(f"head_dim must be a positive multiple of 4 for 2D RoPE, got {head_dim!r}")
    check_number("theta", theta, minimum=1.0, exclusive_minimum=True)
    pos = grid_positions(grid_hws).float()                            # (L, 2): row, column
    inv_freq = rope_inverse_frequencies(head_dim // 2, theta)         # (hd/4,): theta^(-4i/hd)
    col = pos[:, 1:2] * inv_freq                                      # (L, hd/4)
    row = pos[:, 0:1] * inv_freq                                      # (L, hd/4)
    return torch.stack([col, row], dim=-1).flatten(1)                 # (L, hd/2), interleaved


def rope_2d_cos_sin(grid_hws: torch.Tensor | Sequence[Sequence[int]], head_dim: int,
                    theta: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosines and sines of 2D RoPE for a pack of images, each ``(L, hd)`` (11.4).

    The angles of :func:`rope_2d_angles`, each written twice (once for each coordinate of its
    pair): column ``2j`` and ``2j + 1`` of the tables hold pair ``j``'s angle.
    """
    angles = rope_2d_angles(grid_hws, head_dim, theta).repeat_interleave(2, dim=-1)   # (L, hd)
    return angles.cos(), angles.sin()


def rotate_pairs(x: torch.Tensor) -> torch.Tensor:
    """``[x0, x1, x2, x3, ...] -> [-x1, x0, -x3, x2, ...]``: each adjacent pair turned by 90 degrees.

    ``x``: ``(..., hd)`` with ``hd`` even."""
    check_tensor("x", x, finite=False)
    if x.dim() < 1 or x.shape[-1] % 2:
        raise ValueError(f"x's last axis must be even (adjacent pairs), got shape "
                         f"{tuple(x.shape)}")
    return _rotate_pairs(x)


def _rotate_pairs(x: torch.Tensor) -> torch.Tensor:
    pairs = x.unflatten(-1, (-1, 2))                                  # (..., hd/2, 2)
    return torch.stack([-pairs[..., 1], pairs[..., 0]], dim=-1).flatten(-2)


def apply_rope_2d(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Turn each adjacent pair of ``x`` ``(..., L, hd)`` by its angle (11.4), Kimi-VL's layout.

    ``cos, sin``: ``(L, hd)`` from :func:`rope_2d_cos_sin`. Pair ``(x_{2j}, x_{2j+1})``, read
    as the complex number ``x_{2j} + i x_{2j+1}``, is multiplied by ``exp(i a_j)``:
    ``x_{2j} cos a_j - x_{2j+1} sin a_j`` and ``x_{2j} sin a_j + x_{2j+1} cos a_j``.
    The tables may also be ``(1, hd)``, one position for every row; tables of any other
    shape raise ``ValueError`` instead of broadcasting.
    """
    if isinstance(x, torch.Tensor) and x.dim() < 2:
        raise ValueError(f"x must have shape (..., L, hd), got {tuple(x.shape)}")
    _check_rope_tables(x, cos, sin)
    return _apply_rope_2d(x, cos, sin)


def _apply_rope_2d(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    return x * cos.to(x.dtype) + _rotate_pairs(x) * sin.to(x.dtype)


class Learnable2DInterpPosEmb(nn.Module):
    """SigLIP's learnt absolute position embeddings, resized to each image's grid (11.5).

    ``weight``: ``(H0, W0, D)``, trained on one grid; an image with patch grid ``(h, w)``
    gets the ``(h, w, D)`` bicubic interpolation of it (the weight itself when
    ``(h, w) = (H0, W0)``), flattened row by row.
    """

    def __init__(self, height: int, width: int, dim: int):
        super().__init__()
        for name, value in (("height", height), ("width", width), ("dim", dim)):
            _positive_int(name, value)
        self.weight = nn.Parameter(torch.empty(height, width, dim))
        nn.init.normal_(self.weight)

    def embeddings(self, grid_hws: torch.Tensor | Sequence[Sequence[int]]) -> torch.Tensor:
        """``(L, D)``: the position embedding of every packed patch."""
        grid = self.weight.permute(2, 0, 1)[None]                       # (1, D, H0, W0)
        resized: dict[tuple[int, int], torch.Tensor] = {}               # one per distinct grid
        out = []
        for h, w in _check_grids(grid_hws):
            if (h, w) not in resized:
                if (h, w) == tuple(self.weight.shape[:2]):
                    resized[h, w] = self.weight.flatten(0, 1)
                else:
                    big = F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=False)
                    resized[h, w] = big[0].permute(1, 2, 0).flatten(0, 1)   # (h*w, D)
            out.append(resized[h, w])
        return torch.cat(out)

    def forward(self, x: torch.Tensor, grid_hws: torch.Tensor) -> torch.Tensor:
        """``x`` ``(L, D)`` plus each packed patch's position embedding."""
        n = sum(sequence_lengths(grid_hws))
        check_tensor("x", x, ndim=2, finite=False, layout=f"(L, D) = ({n}, {self.weight.shape[2]})")
        if tuple(x.shape) != (n, self.weight.shape[2]):
            raise ValueError(f"x must have shape (L, D) = ({n}, {self.weight.shape[2]}) for "
                             f"these grids, got {tuple(x.shape)}")
        return x + self.embeddings(grid_hws).to(x.dtype)


# ----------------------------------------------------------------------------------------
# The encoder
# ----------------------------------------------------------------------------------------
def _check_pixels(pixel_values: Any, grid_hws: Any, config: MoonViTConfig,
                  dtype: torch.dtype) -> None:
    """Packed patches ``(L, C, p, p)`` of the weights' dtype, ``L`` the patches of the grids."""
    n = sum(sequence_lengths(grid_hws))
    c, p = config.num_channels, config.patch_size
    check_tensor("pixel_values", pixel_values, ndim=4, finite=False,
                 layout=f"(patches, channels, p, p) = ({n}, {c}, {p}, {p})")
    if tuple(pixel_values.shape) != (n, c, p, p):
        raise ValueError(f"pixel_values must have shape (patches, channels, p, p) = "
                         f"({n}, {c}, {p}, {p}) for these grids, got "
                         f"{tuple(pixel_values.shape)}")
    if pixel_values.dtype != dtype:
        raise ArgumentTypeError(f"pixel_values must have the model's dtype {dtype}, got "
                                f"{pixel_values.dtype}")


class MoonVisionPatchEmbed(nn.Module):
    """A linear map of each ``C x p x p`` patch to ``D`` numbers (a strided convolution), plus (11.5)."""

    def __init__(self, config: MoonViTConfig):
        super().__init__()
        check_instance("config", config, MoonViTConfig)
        self.config = config
        p = config.patch_size
        self.proj = nn.Conv2d(config.num_channels, config.hidden_size, kernel_size=p, stride=p)
        self.pos_emb = Learnable2DInterpPosEmb(config.init_pos_emb_height,
                                               config.init_pos_emb_width, config.hidden_size)

    def forward(self, pixel_values: torch.Tensor, grid_hws: torch.Tensor) -> torch.Tensor:
        _check_pixels(pixel_values, grid_hws, self.config, _dtype_of(self.proj))
        x = self.proj(pixel_values).flatten(1)                          # (L, D)
        return self.pos_emb(x, grid_hws)


class MoonViTMLP(nn.Module):
    """``fc1(gelu_tanh(fc0(x)))``: SigLIP's two-layer MLP, ``D -> F -> D``, with biases."""

    def __init__(self, config: MoonViTConfig):
        super().__init__()
        check_instance("config", config, MoonViTConfig)
        self.fc0 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.fc1 = nn.Linear(config.intermediate_size, config.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``(..., D)`` -> ``(..., D)``."""
        _check_features("x", x, self.fc0.in_features, _dtype_of(self.fc0))
        return self.fc1(F.gelu(self.fc0(x), approximate="tanh"))


class MoonViTEncoderLayer(nn.Module):
    """A pre-norm ViT block whose attention sees only the patches of the same image (11.3).

    ``forward(x, cos, sin, mask)``: ``x`` ``(L, D)`` packed patches; ``cos, sin`` ``(L, hd)``
    from :func:`rope_2d_cos_sin`; ``mask`` either the ``(L, L)`` boolean
    :func:`block_diagonal_mask`, or the per-image lengths as :class:`VarlenGroups` (the same
    attention without the ``L x L`` matrix), or ``None`` when ``x`` holds a single image.
    """

    def __init__(self, config: MoonViTConfig):
        super().__init__()
        check_instance("config", config, MoonViTConfig)
        d = config.hidden_size
        self.num_heads, self.head_dim = config.num_attention_heads, config.head_dim
        self.norm0 = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.wqkv = nn.Linear(d, 3 * d)
        self.wo = nn.Linear(d, d)
        self.norm1 = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.mlp = MoonViTMLP(config)

    def attention(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                  mask: "torch.Tensor | VarlenGroups | None") -> torch.Tensor:
        """Packed attention (11.3) of ``x`` ``(L, D)``, restricted by ``mask`` to each image."""
        self._check(x, cos, sin, mask)
        return self._attention(x, cos, sin, mask)

    def _check(self, x: Any, cos: Any, sin: Any, mask: Any) -> None:
        d = self.num_heads * self.head_dim
        _check_features("x", x, d, _dtype_of(self.wqkv))
        if x.dim() != 2 or x.shape[0] < 1:
            raise ValueError(f"x must have shape (L, D) = (L, {d}), got {tuple(x.shape)}")
        length = x.shape[0]
        for name, table in (("cos", cos), ("sin", sin)):
            check_tensor(name, table, ndim=2, finite=False, layout=f"(L, hd) = ({length}, "
                                                                   f"{self.head_dim})")
            if tuple(table.shape) != (length, self.head_dim):
                raise ValueError(f"{name} must have shape (L, hd) = ({length}, {self.head_dim}),"
                                 f" got {tuple(table.shape)}")
        if isinstance(mask, VarlenGroups):
            if int(mask.inverse.shape[0]) != length:
                raise ValueError(f"mask (VarlenGroups) describes {int(mask.inverse.shape[0])} "
                                 f"patches, x holds {length}")
        elif mask is not None:
            check_tensor("mask", mask, dtype="bool", layout=f"(L, L) = ({length}, {length})")
            if tuple(mask.shape) != (length, length):
                raise ValueError(f"mask must have shape (L, L) = ({length}, {length}), got "
                                 f"{tuple(mask.shape)}")

    def _attention(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                   mask: "torch.Tensor | VarlenGroups | None") -> torch.Tensor:
        length = x.shape[0]
        qkv = self.wqkv(x).view(length, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(1, 2, 0, 3).unbind(0)                     # (nh, L, hd) each
        q, k = _apply_rope_2d(q, cos, sin), _apply_rope_2d(k, cos, sin)
        if isinstance(mask, VarlenGroups):
            out = _varlen_attention(q, k, v, mask)                      # (nh, L, hd)
        else:
            out = F.scaled_dot_product_attention(q[None], k[None], v[None], attn_mask=mask)[0]
        return self.wo(out.transpose(0, 1).reshape(length, -1))        # (L, D)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        self._check(x, cos, sin, mask)
        x = x + self._attention(self.norm0(x), cos, sin, mask)
        return x + self.mlp(self.norm1(x))


class MoonViTEncoder(nn.Module):
    """The stack of blocks and the final LayerNorm.

    ``attention`` chooses how packed attention is restricted to each image: ``"varlen"``
    (default; per-image lengths, :func:`varlen_attention`) or ``"mask"`` (the ``(L, L)``
    block-diagonal mask, (11.3) as written). Both give the same features.
    """

    def __init__(self, config: MoonViTConfig):
        super().__init__()
        check_instance("config", config, MoonViTConfig)
        self.config = config
        self.attention = "varlen"
        self.blocks = nn.ModuleList(MoonViTEncoderLayer(config)
                                    for _ in range(config.num_hidden_layers))
        self.final_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor, grid_hws: torch.Tensor) -> torch.Tensor:
        """``x`` ``(L, D)``, the packed patches of images with patch grids ``grid_hws``."""
        n = sum(sequence_lengths(grid_hws))
        _check_features("x", x, self.config.hidden_size, _dtype_of(self.final_layernorm))
        if x.dim() != 2 or x.shape[0] != n:
            raise ValueError(f"x must have shape (L, D) = ({n}, {self.config.hidden_size}) for "
                             f"these grids, got {tuple(x.shape)}")
        cos, sin = rope_2d_cos_sin(grid_hws, self.config.head_dim, self.config.rope_theta)
        cos, sin = cos.to(x.device), sin.to(x.device)
        if len(grid_hws) == 1:
            mask = None
        elif self.attention == "mask":
            mask = block_diagonal_mask(grid_hws).to(x.device)
        elif self.attention == "varlen":
            mask = VarlenGroups.from_grids(grid_hws, x.device)
        else:
            raise ValueError(f"attention must be 'varlen' or 'mask', got {self.attention!r}")
        for block in self.blocks:
            x = block(x, cos, sin, mask)
        return self.final_layernorm(x)


class MoonViT(nn.Module):
    """MoonViT: packed patches of images of any size -> one feature vector per patch.

    ``forward(pixel_values, grid_hws)``: ``(L, C, p, p)`` and ``(N, 2)`` as made by
    :func:`pack_images` -> ``(L, D)``. :meth:`encode` takes a list of ``(C, H, W)`` images
    and encodes them packed; :meth:`encode_separately` runs them one at a time (the
    reference that packing must reproduce). An integer ``seed`` makes the initial weights
    repeatable and leaves PyTorch's global generator as it was; ``None`` draws them from the
    global generator (as :class:`~mlbook.llm.llama.Llama` does).
    """

    def __init__(self, config: MoonViTConfig, *, seed: int | None = None):
        super().__init__()
        check_instance("config", config, MoonViTConfig)
        seed = check_integer_seed("seed", seed)
        self.config = config
        if seed is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                self._build(config)
        else:
            self._build(config)

    def _build(self, config: MoonViTConfig) -> None:
        self.patch_embed = MoonVisionPatchEmbed(config)
        self.encoder = MoonViTEncoder(config)
        if self.patch_embed.pos_emb.weight.device.type != "meta":
            with torch.no_grad():   # small initial position embeddings, as after SigLIP's init
                self.patch_embed.pos_emb.weight.mul_(0.02)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, pixel_values: torch.Tensor, grid_hws: torch.Tensor) -> torch.Tensor:
        _check_pixels(pixel_values, grid_hws, self.config, _dtype_of(self.patch_embed.proj))
        x = self.patch_embed(pixel_values, grid_hws)                   # (L, D)
        return self.encoder(x, grid_hws)                                # (L, D)

    def encode(self, images: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Encode ``images`` packed into one sequence; one ``(h_i * w_i, D)`` tensor per image."""
        images = _check_images(images, self.config.num_channels)
        packed = pack_images(images, self.config.patch_size)
        features = self(packed.pixel_values, packed.grid_hws)
        return list(features.split(packed.lengths))

    def encode_separately(self, images: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Encode each image alone (no packing, no mask): the reference for :meth:`encode`."""
        images = _check_images(images, self.config.num_channels)
        return [self.encode([image])[0] for image in images]
