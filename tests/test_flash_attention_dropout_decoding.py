"""Tests for chapter 10's dropout inside the tiled kernel and Flash-Decoding (mlbook.attention).

Each test states a claim the chapter makes: the tiled forward and backward with dropout equal
attention with the same explicit mask (eq. 10.9), the mask is regenerated rather than stored,
and splitting a long cache and merging the partial results by their log-sum-exp (eq. 10.12)
is exact.
"""

import pytest
import torch
import torch.nn.functional as F

from mlbook.attention import (
    IOCounter, dropout_mask, flash_attention, flash_attention_backward, flash_attention_forward,
    flash_decoding, merge_attention_partials, standard_attention)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def qkv(n_q, n_k=None, d=16, lead=(2, 3), dtype=torch.float64, seed=0, grad=False):
    gen = torch.Generator().manual_seed(seed)
    n_k = n_q if n_k is None else n_k
    shapes = [(*lead, n_q, d), (*lead, n_k, d), (*lead, n_k, d)]
    return [torch.randn(s, generator=gen, dtype=dtype).requires_grad_(grad) for s in shapes]


# ---- dropout inside the kernel (Algorithms 2 and 4, eq. 10.9) ----------------------------------

@pytest.mark.parametrize("n_q,n_k,br,bc", [(37, 37, 5, 7), (40, 29, 16, 8), (12, 50, 64, 64)])
@pytest.mark.parametrize("is_causal", [False, True])
@pytest.mark.parametrize("loop_order", ["kv_outer", "q_outer"])
def test_dropout_forward_and_gradients_equal_attention_with_the_same_explicit_mask(
        n_q, n_k, br, bc, is_causal, loop_order):
    q, k, v = qkv(n_q, n_k, grad=True)
    grad_out = torch.randn(q.shape, generator=torch.Generator().manual_seed(1),
                           dtype=torch.float64)
    p, seed = 0.25, 2024
    ours = flash_attention(q, k, v, is_causal=is_causal, block_rows=br, block_cols=bc,
                           loop_order=loop_order, dropout_p=p, dropout_seed=seed)
    z = dropout_mask((*q.shape[:-1], n_k), p, seed, dtype=torch.float64)
    ref = standard_attention(q, k, v, is_causal=is_causal, dropout_mask=z)
    assert (ours - ref).abs().max().item() < 1e-12
    g_ours = torch.autograd.grad(ours, (q, k, v), grad_out)
    g_ref = torch.autograd.grad(ref, (q, k, v), grad_out)
    for a, b in zip(g_ours, g_ref):
        assert (a - b).abs().max().item() < 1e-12
    # and dropout did something: without the mask the output is different
    plain = standard_attention(q, k, v, is_causal=is_causal)
    assert (ours - plain).abs().max().item() > 1e-3


def test_dropout_passes_gradcheck_with_a_fixed_seed():
    small = [torch.randn(1, 9, 4, dtype=torch.float64, requires_grad=True,
                         generator=torch.Generator().manual_seed(s)) for s in range(3)]
    assert torch.autograd.gradcheck(
        lambda q, k, v: flash_attention(q, k, v, is_causal=True, block_rows=4, block_cols=3,
                                        dropout_p=0.3, dropout_seed=5), small)


def test_backward_regenerates_the_mask_and_stores_nothing_of_size_n_by_n():
    q, k, v = qkv(120, 120, d=8, lead=(1,), grad=True)
    out = flash_attention(q, k, v, block_rows=16, block_cols=16, dropout_p=0.5,
                          dropout_seed=11)
    assert max(t.numel() for t in out.grad_fn.saved_tensors) == 120 * 8
    # the direct backward, given only the seed, gives the gradients of the explicit mask
    do = torch.ones_like(q)
    with torch.no_grad():
        o, lse = flash_attention_forward(q, k, v, block_rows=16, block_cols=16,
                                         dropout_p=0.5, dropout_seed=11)
        grads = flash_attention_backward(q, k, v, o, lse, do, block_rows=32, block_cols=8,
                                         dropout_p=0.5, dropout_seed=11)
    z = dropout_mask((1, 120, 120), 0.5, 11, dtype=torch.float64)
    ref = torch.autograd.grad(standard_attention(q, k, v, dropout_mask=z), (q, k, v), do)
    for a, b in zip(grads, ref):
        assert (a - b).abs().max().item() < 1e-12
    # a different seed in the backward gives wrong gradients: the mask really is regenerated
    wrong = flash_attention_backward(q.detach(), k.detach(), v.detach(), o, lse, do,
                                     block_rows=16, block_cols=16, dropout_p=0.5,
                                     dropout_seed=12)
    assert (wrong[2] - ref[2]).abs().max().item() > 1e-2


def test_mask_depends_on_the_seed_not_on_tiles_or_loop_order():
    q, k, v = qkv(45, 45)
    outs = [flash_attention_forward(q, k, v, block_rows=br, block_cols=bc, loop_order=order,
                                    dropout_p=0.2, dropout_seed=3)[0]
            for br, bc, order in [(4, 4, "kv_outer"), (9, 16, "q_outer"), (45, 45, "kv_outer")]]
    assert all((o - outs[0]).abs().max().item() < 1e-12 for o in outs[1:])
    other = flash_attention_forward(q, k, v, block_rows=4, block_cols=4, dropout_p=0.2,
                                    dropout_seed=4)[0]
    assert (other - outs[0]).abs().max().item() > 1e-3


def test_seed_is_drawn_from_the_generator_when_not_given():
    q, k, v = qkv(30, 30)
    a = flash_attention(q, k, v, dropout_p=0.3, generator=torch.Generator().manual_seed(8))
    b = flash_attention(q, k, v, dropout_p=0.3, generator=torch.Generator().manual_seed(8))
    c = flash_attention(q, k, v, dropout_p=0.3, generator=torch.Generator().manual_seed(9))
    assert torch.equal(a, b) and (a - c).abs().max().item() > 1e-3


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_mask_keeps_a_fraction_one_minus_p_and_is_unbiased(p):
    z = dropout_mask((4, 500, 500), p, seed=17)
    n = z.numel()
    kept = (z > 0).double().mean().item()
    sd = (p * (1 - p) / n) ** 0.5
    assert abs(kept - (1 - p)) < 5 * sd
    values = torch.unique(z).tolist()
    assert len(values) == 2 and values[0] == 0.0
    assert values[1] == pytest.approx(1 / (1 - p), rel=1e-6)
    # neighbouring rows and columns are not copies of one another
    keep = z > 0
    agree_rows = (keep[:, 1:, :] == keep[:, :-1, :]).double().mean().item()
    agree_cols = (keep[:, :, 1:] == keep[:, :, :-1]).double().mean().item()
    independent = p * p + (1 - p) * (1 - p)
    assert abs(agree_rows - independent) < 0.01 and abs(agree_cols - independent) < 0.01


def test_zero_dropout_is_plain_attention():
    q, k, v = qkv(20, 20)
    a, _ = flash_attention_forward(q, k, v, block_rows=4, block_cols=4, dropout_p=0.0,
                                   dropout_seed=1)
    b, _ = flash_attention_forward(q, k, v, block_rows=4, block_cols=4)
    assert torch.equal(a, b)


@pytest.mark.parametrize("kwargs,match", [
    (dict(dropout_p=1.0, dropout_seed=1), "dropout_p"),
    (dict(dropout_p=-0.1, dropout_seed=1), "dropout_p"),
    (dict(dropout_p=True, dropout_seed=1), "dropout_p"),
    (dict(dropout_p=0.1, dropout_seed=-1), "dropout_seed"),
    (dict(dropout_p=0.1, dropout_seed=2 ** 63), "dropout_seed"),
    (dict(dropout_p=0.1, dropout_seed=1.5), "dropout_seed"),
])
def test_bad_dropout_arguments_raise_value_error(kwargs, match):
    q, k, v = qkv(10, d=4)
    for fn in (flash_attention_forward, flash_attention):
        with pytest.raises(ValueError, match=match):
            fn(q, k, v, **kwargs)


def test_missing_seed_and_bad_masks_raise_value_error():
    q, k, v = qkv(10, d=4)
    with pytest.raises(ValueError, match="dropout_seed must be given"):
        flash_attention_forward(q, k, v, dropout_p=0.1)
    with pytest.raises(ValueError, match="dropout_mask must be a tensor of shape"):
        standard_attention(q, k, v, dropout_mask=torch.ones(10, 10))
    with pytest.raises(ValueError, match="shape must be a tuple"):
        dropout_mask((10,), 0.1, 1)
    with pytest.raises(ValueError, match="shape must be a tuple"):
        dropout_mask((10, 0), 0.1, 1)
    with pytest.raises(TypeError, match="generator"):
        flash_attention(q, k, v, dropout_p=0.1, generator=3)


# ---- Flash-Decoding (eq. 10.12) -------------------------------------------------------------

@pytest.mark.parametrize("num_splits", [1, 3, 16, 128])
def test_flash_decoding_equals_sdpa_for_one_query_over_a_long_cache(num_splits):
    q, k, v = qkv(1, 20_000, d=64, lead=(1, 4), seed=num_splits)
    ours = flash_decoding(q, k, v, num_splits=num_splits, block_cols=256)
    ref = F.scaled_dot_product_attention(q, k, v)
    assert ours.shape == ref.shape == (1, 4, 1, 64)
    assert (ours - ref).abs().max().item() < 1e-6
    assert (ours - ref).abs().max().item() < 1e-12      # in float64 it is exact to rounding


def test_flash_decoding_with_several_queries_and_the_merged_lse():
    q, k, v = qkv(5, 300, d=8)
    o, lse = flash_decoding(q, k, v, num_splits=7, block_cols=16, return_lse=True)
    torch.testing.assert_close(o, F.scaled_dot_product_attention(q, k, v), rtol=0, atol=1e-12)
    s = (q @ k.transpose(-2, -1)) / 8 ** 0.5
    torch.testing.assert_close(lse, torch.logsumexp(s, -1), rtol=0, atol=1e-12)


def test_merging_is_associative_and_an_empty_split_gets_no_weight():
    q, k, v = qkv(3, 90, d=8)
    parts = [flash_attention_forward(q, k_s, v_s, block_rows=3, block_cols=8)
             for k_s, v_s in zip(k.tensor_split(6, -2), v.tensor_split(6, -2))]
    outs, lses = torch.stack([o for o, _ in parts]), torch.stack([l for _, l in parts])
    all_at_once, lse_all = merge_attention_partials(outs, lses)
    left = merge_attention_partials(outs[:2], lses[:2])
    right = merge_attention_partials(outs[2:], lses[2:])
    tree, lse_tree = merge_attention_partials(torch.stack([left[0], right[0]]),
                                              torch.stack([left[1], right[1]]))
    torch.testing.assert_close(tree, all_at_once, rtol=0, atol=1e-14)
    torch.testing.assert_close(lse_tree, lse_all, rtol=0, atol=1e-14)
    garbage = torch.full_like(outs[:1], 1e6)
    with_empty, _ = merge_attention_partials(torch.cat([outs, garbage]),
                                             torch.cat([lses, torch.full_like(lses[:1],
                                                                              -float("inf"))]))
    torch.testing.assert_close(with_empty, all_at_once, rtol=0, atol=1e-14)


def test_flash_decoding_reads_the_cache_once_and_adds_only_the_partials():
    n_q, n_k, d, splits = 1, 4_096, 32, 16
    q, k, v = qkv(n_q, n_k, d=d, lead=(1,))
    c = IOCounter()
    flash_decoding(q, k, v, num_splits=splits, block_cols=64, counter=c)
    cache = 2 * n_k * d
    partials = splits * n_q * (d + 1)              # O_s and L_s, written then read back
    assert c.reads == cache + splits * n_q * d + partials
    assert c.writes == partials + n_q * (d + 1)


def test_flash_decoding_rejects_bad_arguments():
    q, k, v = qkv(1, 10, d=4)
    for bad in (0, 11, True, 2.0):
        with pytest.raises(ValueError, match="num_splits"):
            flash_decoding(q, k, v, num_splits=bad)
    with pytest.raises(ValueError, match=r"block_cols \(Bc\)"):
        flash_decoding(q, k, v, block_cols=0)
    with pytest.raises(TypeError, match="torch.Tensors"):
        merge_attention_partials([1.0], torch.zeros(1))
    with pytest.raises(ValueError, match=r"shape \(S, \.\.\., N_q\)"):
        merge_attention_partials(torch.zeros(2, 1, 3, 4), torch.zeros(2, 1, 4))


def test_a_tile_of_the_mask_is_that_block_of_the_whole_mask_and_bad_spans_raise():
    whole = dropout_mask((2, 30, 40), 0.4, seed=9)
    tile = dropout_mask((2, 30, 40), 0.4, seed=9, rows=(8, 16), cols=(35, 40))
    assert torch.equal(tile, whole[:, 8:16, 35:40])
    for bad in [dict(rows=(5, 5)), dict(rows=(0, 31)), dict(cols=(-1, 3)), dict(cols=(0,)),
                dict(rows=(0.0, 4))]:
        with pytest.raises(ValueError, match=r"(rows|cols) must be a pair"):
            dropout_mask((2, 30, 40), 0.4, seed=9, **bad)
