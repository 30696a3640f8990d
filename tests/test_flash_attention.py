"""Tests for mlbook.attention.flash (chapter 10): each test states a claim the chapter makes."""

import math

import pytest
import torch
import torch.nn.functional as F

from mlbook.attention import (
    FlashAttentionFunction, IOCounter, attention_peak_memory, block_sizes, flash_attention,
    flash_attention_backward, flash_attention_forward, forward_kv_outer, forward_q_outer,
    flash_attention_io, flash_io_bound, naive_softmax, online_softmax, online_softmax_trace,
    peak_rss_increase, safe_softmax, standard_attention, standard_attention_backward,
    sram_footprint, standard_attention_io, standard_io_bound, tile_schedule, tile_steps)


#: Small tensors: one torch thread is as fast, and is not slowed by busy cores.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def qkv(n_q, n_k=None, d=16, lead=(2, 3), dtype=torch.float32, seed=0, grad=False):
    gen = torch.Generator().manual_seed(seed)
    n_k = n_q if n_k is None else n_k
    shapes = [(*lead, n_q, d), (*lead, n_k, d), (*lead, n_k, d)]
    return [torch.randn(s, generator=gen, dtype=dtype).requires_grad_(grad) for s in shapes]


# ---- softmax: three passes, safe, online (eqs. 10.2, 10.3) -----------------------------------

def test_naive_softmax_overflows_where_the_safe_softmax_does_not():
    x = torch.tensor([[1.0, 50.0, 100.0]])
    assert torch.isnan(naive_softmax(x)).any()          # exp(100) = inf in float32: inf/inf
    y = safe_softmax(x)
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y, torch.softmax(x, -1), rtol=0, atol=1e-7)


@pytest.mark.parametrize("block_size", [1, 3, 7, 1000])
def test_online_softmax_equals_the_safe_softmax_for_any_block_size(block_size):
    x = 10 * torch.randn(4, 5, 37, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(online_softmax(x, block_size=block_size), torch.softmax(x, -1),
                               rtol=0, atol=1e-6)


def test_softmax_variants_read_the_input_three_or_two_times():
    x = torch.randn(8, 100)
    counts = {}
    for name, fn in [("naive", naive_softmax), ("safe", safe_softmax), ("online", online_softmax)]:
        c = IOCounter()
        fn(x, counter=c)
        counts[name] = (c.reads // x.numel(), c.writes // x.numel())
    assert counts == {"naive": (2, 1), "safe": (3, 1), "online": (2, 1)}


def test_online_trace_ends_at_the_true_max_and_normaliser():
    x = torch.tensor([0.5, 3.0, -1.0, 7.0, 2.0], dtype=torch.float64)
    m, l = online_softmax_trace(x)
    assert m.tolist() == [0.5, 3.0, 3.0, 7.0, 7.0]       # the running max only grows
    assert l[-1].item() == pytest.approx(torch.exp(x - 7.0).sum().item(), rel=1e-14)
    assert l[1].item() == pytest.approx(math.exp(0.5 - 3.0) + 1.0, rel=1e-14)   # rescaled


# ---- block sizes from the SRAM size (eq. 10.5) ----------------------------------------------

def test_block_sizes_follow_the_paper():
    # A100: 192 KB of SRAM per SM, i.e. 98,304 fp16 elements; d = 64.
    assert block_sizes(98_304, 64) == (64, 384)
    assert block_sizes(4 * 64, 64) == (1, 1)              # the smallest SRAM that holds a tile
    assert block_sizes(4 * 64 + 1, 64) == (2, 2)          # ceil
    assert block_sizes(1_000_000, 16) == (16, 15_625)     # Br is capped at d


@pytest.mark.parametrize("d", [16, 64, 128])
@pytest.mark.parametrize("m", [4 * 128, 16_384, 98_304, 116_736])
def test_paper_tiles_need_at_most_five_quarters_of_the_sram(m, d):
    if m < 4 * d:
        return
    br, bc = block_sizes(m, d)
    # K_j, V_j ~ M/2, Q_i, O_i <= M/2, S_ij <= M/4 (plus ceil rounding of at most one row each)
    assert sram_footprint(br, bc, d) <= 1.25 * m + 4 * d + bc
    assert sram_footprint(br, bc, d) == 2 * bc * d + 2 * br * d + br * bc


def test_sram_size_gives_the_same_result_as_the_tiles_it_chooses():
    q, k, v = qkv(50, d=8)
    o1, lse1 = flash_attention_forward(q, k, v, sram_size=100)       # Bc = 4, Br = 4
    o2, lse2 = flash_attention_forward(q, k, v, block_rows=4, block_cols=4)
    assert torch.equal(o1, o2) and torch.equal(lse1, lse2)


# ---- the forward pass equals attention (eq. 10.1) --------------------------------------------

SHAPES = [  # (N_q, N_k, Br, Bc): divisible, not divisible, Br > N, Bc > N, rectangular
    (64, 64, 16, 16), (100, 100, 16, 24), (37, 37, 64, 8), (5, 5, 100, 100),
    (50, 70, 7, 9), (70, 50, 7, 9), (1, 1, 1, 1)]


@pytest.mark.parametrize("loop_order", ["kv_outer", "q_outer"])
@pytest.mark.parametrize("is_causal", [False, True])
@pytest.mark.parametrize("n_q,n_k,br,bc", SHAPES)
def test_forward_matches_sdpa_in_float32(n_q, n_k, br, bc, is_causal, loop_order):
    q, k, v = qkv(n_q, n_k)
    o, lse = flash_attention_forward(q, k, v, block_rows=br, block_cols=bc, is_causal=is_causal,
                                     loop_order=loop_order)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=is_causal)
    assert (o - ref).abs().max().item() < 1e-5
    s = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    if is_causal:
        s = s.masked_fill(torch.ones(n_q, n_k, dtype=torch.bool).triu(1), -math.inf)
    assert (lse - torch.logsumexp(s, -1)).abs().max().item() < 1e-5


@pytest.mark.parametrize("loop_order, loop", [("kv_outer", forward_kv_outer),
                                             ("q_outer", forward_q_outer)])
def test_each_loop_order_is_a_public_function_that_computes_the_same(loop_order, loop):
    # the chapter shows forward_kv_outer: it is the forward pass, not a copy of it
    q, k, v = qkv(37, 29)
    kw = dict(block_rows=8, block_cols=5, is_causal=True, dropout_p=0.1, dropout_seed=3)
    counted, counted_loop = IOCounter(), IOCounter()
    o, lse = flash_attention_forward(q, k, v, loop_order=loop_order, counter=counted, **kw)
    o_loop, lse_loop = loop(q, k, v, counter=counted_loop, **kw)
    assert torch.equal(o, o_loop) and torch.equal(lse, lse_loop)
    assert counted == counted_loop and counted.tiles > 0
    q.requires_grad_(True)
    assert not loop(q, k, v)[0].requires_grad                     # runs without autograd
    with pytest.raises(ValueError, match="block_rows"):
        loop(q, k, v, block_rows=0)


@pytest.mark.parametrize("is_causal", [False, True])
def test_forward_matches_sdpa_to_1e_12_in_float64(is_causal):
    q, k, v = qkv(45, 45, d=32, dtype=torch.float64)
    o, _ = flash_attention_forward(q, k, v, block_rows=8, block_cols=16, is_causal=is_causal)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=is_causal)
    assert (o - ref).abs().max().item() < 1e-12


def test_custom_scale_and_standard_attention_match_sdpa():
    q, k, v = qkv(30, 40)
    ref = F.scaled_dot_product_attention(q, k, v, scale=0.3)
    ours = flash_attention(q, k, v, scale=0.3, block_rows=8, block_cols=8)
    assert (ours - ref).abs().max() < 1e-5
    assert (standard_attention(q, k, v, scale=0.3) - ref).abs().max() < 1e-5


def test_large_scores_do_not_overflow():
    q, k, v = qkv(20, 20, d=4)
    o, _ = flash_attention_forward(100 * q, 100 * k, v, block_rows=4, block_cols=4)
    assert torch.isfinite(o).all()
    ref = F.scaled_dot_product_attention(100 * q, 100 * k, v)
    assert (o - ref).abs().max().item() < 1e-4


# ---- the backward pass by recomputation (eqs. 10.7, 10.8) -------------------------------

@pytest.mark.parametrize("is_causal", [False, True])
def test_gradcheck_in_float64(is_causal):
    q, k, v = qkv(6, 7, d=3, lead=(1,), dtype=torch.float64, grad=True, seed=3)
    assert torch.autograd.gradcheck(
        lambda q, k, v: flash_attention(q, k, v, is_causal=is_causal, block_rows=4, block_cols=3),
        (q, k, v))


@pytest.mark.parametrize("loop_order", ["kv_outer", "q_outer"])
@pytest.mark.parametrize("is_causal", [False, True])
def test_gradients_match_autograd_through_the_standard_formula(is_causal, loop_order):
    q, k, v = qkv(50, 50, d=16, grad=True, seed=4)
    grad_out = torch.randn(q.shape, generator=torch.Generator().manual_seed(5))
    out = flash_attention(q, k, v, is_causal=is_causal, block_rows=16, block_cols=12,
                          loop_order=loop_order)
    ours = torch.autograd.grad(out, (q, k, v), grad_out)
    ref = torch.autograd.grad(standard_attention(q, k, v, is_causal=is_causal), (q, k, v),
                              grad_out)
    sdpa = torch.autograd.grad(F.scaled_dot_product_attention(q, k, v, is_causal=is_causal),
                               (q, k, v), grad_out)
    for a, b, c in zip(ours, ref, sdpa):
        assert (a - b).abs().max().item() < 1e-5
        assert (a - c).abs().max().item() < 1e-5


def test_standard_backward_from_stored_p_equals_autograd():
    q, k, v = qkv(20, 30, d=8, dtype=torch.float64, grad=True)
    grad_out = torch.randn(q.shape, dtype=torch.float64)
    o, p = standard_attention(q, k, v, return_probs=True, is_causal=True)
    ref = torch.autograd.grad(o, (q, k, v), grad_out)
    for a, b in zip(standard_attention_backward(q, k, v, p.detach(), grad_out), ref):
        assert (a - b).abs().max().item() < 1e-12


def test_flash_attention_saves_no_n_by_n_tensor_for_backward():
    q, k, v = qkv(200, 200, d=8, lead=(1,), grad=True)
    out = flash_attention(q, k, v, block_rows=32, block_cols=32)
    saved = [t.shape for t in out.grad_fn.saved_tensors]
    assert all(200 * 200 not in (t.numel(),) for t in out.grad_fn.saved_tensors), saved
    assert max(t.numel() for t in out.grad_fn.saved_tensors) == 200 * 8


def test_autograd_function_can_be_applied_directly():
    q, k, v = qkv(20, 20, d=8, dtype=torch.float64, grad=True)
    out = FlashAttentionFunction.apply(q, k, v, True, 0.5, 4, 8, "q_outer", None)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.5)
    assert (out - ref).abs().max().item() < 1e-12
    g1 = torch.autograd.grad(out.sum(), (q, k, v))
    g2 = torch.autograd.grad(ref.sum(), (q, k, v))
    assert max((a - b).abs().max().item() for a, b in zip(g1, g2)) < 1e-12


def test_direct_backward_call_matches_autograd():
    q, k, v = qkv(33, 33, d=8, dtype=torch.float64)
    do = torch.randn(q.shape, dtype=torch.float64)
    o, lse = flash_attention_forward(q, k, v, block_rows=5, block_cols=7, is_causal=True)
    grads = flash_attention_backward(q, k, v, o, lse, do, block_rows=5, block_cols=7,
                                     is_causal=True)
    q2, k2, v2 = (t.clone().requires_grad_() for t in (q, k, v))
    ref = torch.autograd.grad(standard_attention(q2, k2, v2, is_causal=True), (q2, k2, v2), do)
    for a, b in zip(grads, ref):
        assert (a - b).abs().max().item() < 1e-12


# ---- tiles and causal skipping ----------------------------------------------------------------

def test_causal_masking_skips_every_tile_above_the_diagonal():
    n, b = 64, 8
    t = n // b
    assert len(tile_schedule(n, block_rows=b, block_cols=b)) == t * t
    assert len(tile_schedule(n, block_rows=b, block_cols=b, is_causal=True)) == t * (t + 1) // 2
    for i, j in tile_schedule(n, block_rows=b, block_cols=b, is_causal=True):
        assert j <= i
    c = IOCounter()
    flash_attention_forward(*qkv(n, d=4, lead=()), block_rows=b, block_cols=b, is_causal=True,
                            counter=c)
    assert c.tiles == t * (t + 1) // 2


def test_loop_orders_visit_the_same_tiles_in_transposed_order():
    kv = tile_schedule(10, block_rows=4, block_cols=3, loop_order="kv_outer")
    q = tile_schedule(10, block_rows=4, block_cols=3, loop_order="q_outer")
    assert sorted(kv) == sorted(q) and kv != q
    assert kv[:3] == [(0, 0), (1, 0), (2, 0)] and q[:3] == [(0, 0), (0, 1), (0, 2)]


@pytest.mark.parametrize("loop_order", ["kv_outer", "q_outer"])
@pytest.mark.parametrize("is_causal", [False, True])
@pytest.mark.parametrize("n_q,n_k,br,bc", SHAPES)
def test_tile_steps_add_up_to_the_io_count(n_q, n_k, br, bc, is_causal, loop_order):
    steps = tile_steps(n_q, n_k, 4, block_rows=br, block_cols=bc, is_causal=is_causal,
                       loop_order=loop_order)
    io = flash_attention_io(n_q, n_k, 4, block_rows=br, block_cols=bc, is_causal=is_causal,
                            loop_order=loop_order)
    # Algorithm 1 also initialises O, l, m (writes N_q d + 2 N_q) and forms L = m + log l
    # at the end (reads 2 N_q, writes N_q); FlashAttention-2's order does neither.
    extra = (2 * n_q, n_q * 4 + 2 * n_q + n_q) if loop_order == "kv_outer" else (0, 0)
    assert sum(s.reads for s in steps) + extra[0] == io.reads
    assert sum(s.writes for s in steps) + extra[1] == io.writes
    assert len(steps) == io.tiles


def test_tile_steps_load_kv_once_per_column_in_algorithm_1():
    steps = tile_steps(12, d=2, block_rows=4, block_cols=4)
    assert [("K_j" in s.loads) for s in steps] == [True, False, False] * 3
    assert all("Q_i" in s.loads and "O_i" in s.stores for s in steps)


# ---- counted HBM traffic (eqs. 10.9, 10.10) ---------------------------------------------------

@pytest.mark.parametrize("loop_order", ["kv_outer", "q_outer"])
@pytest.mark.parametrize("is_causal", [False, True])
@pytest.mark.parametrize("n_q,n_k,br,bc", SHAPES)
def test_counted_io_of_a_run_equals_the_io_walker(n_q, n_k, br, bc, is_causal, loop_order):
    q, k, v = qkv(n_q, n_k, d=4, lead=(2,), grad=True)
    c = IOCounter()
    out = flash_attention(q, k, v, block_rows=br, block_cols=bc, is_causal=is_causal,
                          loop_order=loop_order, counter=c)
    fwd = flash_attention_io(n_q, n_k, 4, block_rows=br, block_cols=bc, is_causal=is_causal,
                             loop_order=loop_order, batch=2)
    assert (c.reads, c.writes, c.tiles) == (fwd.reads, fwd.writes, fwd.tiles)
    out.sum().backward()
    both = flash_attention_io(n_q, n_k, 4, block_rows=br, block_cols=bc, is_causal=is_causal,
                              loop_order=loop_order, backward=True, batch=2)
    assert (c.reads, c.writes, c.tiles) == (both.reads, both.writes, both.tiles)


@pytest.mark.parametrize("is_causal", [False, True])
def test_standard_attention_counts_4nd_plus_4n2_and_the_walker_agrees(is_causal):
    n, d = 30, 8
    q, k, v = qkv(n, d=d, lead=(), grad=True)
    c = IOCounter()
    o, p = standard_attention(q, k, v, is_causal=is_causal, return_probs=True, counter=c)
    assert c.total == 4 * n * d + (6 if is_causal else 4) * n * n
    standard_attention_backward(q, k, v, p, torch.ones_like(o), counter=c)
    w = standard_attention_io(n, d=d, is_causal=is_causal, backward=True)
    assert (c.reads, c.writes) == (w.reads, w.writes)
    assert c.total == 12 * n * d + (13 if is_causal else 11) * n * n


def test_standard_io_is_4_times_the_bound_n_d_plus_n_squared():
    for n in (128, 1024, 8192):
        assert standard_attention_io(n, d=64).total == 4 * standard_io_bound(n, 64)


def test_flash_io_follows_n2_d2_over_m():
    d = 64
    ratios = []
    for m in (4_096, 16_384, 65_536):
        for n in (4_096, 8_192, 16_384, 32_768):       # M <= N d / 4: many column tiles
            counted = flash_attention_io(n, d=d, sram_size=m).total
            ratios.append(counted / flash_io_bound(n, d, m))
    # one constant (about 12 = 3 passes over N d per column tile x 4 from Bc = M / 4d) fits all
    assert max(ratios) / min(ratios) < 1.3
    assert 10 < min(ratios) and max(ratios) < 14


def test_flash_io_quadruples_when_n_doubles_and_halves_when_m_doubles():
    d, m = 64, 16_384
    io = {n: flash_attention_io(n, d=d, sram_size=m).total for n in (2_048, 4_096, 8_192)}
    assert 3.8 < io[4_096] / io[2_048] < 4.2 and 3.8 < io[8_192] / io[4_096] < 4.2
    by_m = [flash_attention_io(4_096, d=d, sram_size=m).total for m in (8_192, 16_384, 32_768)]
    assert 1.8 < by_m[0] / by_m[1] < 2.2 and 1.8 < by_m[1] / by_m[2] < 2.2


def test_flash_moves_many_times_fewer_elements_than_standard_for_a100_sizes():
    # d = 64, M = 98,304 (192 KB in fp16): d^2 = 4,096 is 24 times smaller than M.
    for n in (1_024, 4_096, 16_384):
        std = standard_attention_io(n, d=64, backward=True).total
        flash = flash_attention_io(n, d=64, sram_size=98_304, backward=True).total
        assert std / flash > 5
    ratio = [standard_attention_io(n, d=64).total / flash_attention_io(
        n, d=64, sram_size=98_304).total for n in (1_024, 4_096, 16_384)]
    assert ratio[0] < ratio[1] < ratio[2]           # the gap widens... until M >= N d


def test_gpt2_medium_traffic_matches_the_papers_4_4_gb():
    # FlashAttention paper, Figure 2 (left): N = 1024, d = 64, 16 heads x batch 64, A100,
    # forward + backward: 4.4 GB of HBM reads and writes. fp16: 2 bytes per element.
    counted = flash_attention_io(1_024, d=64, sram_size=98_304, backward=True,
                                 batch=16 * 64).total * 2 / 1e9
    assert abs(counted / 4.4 - 1) < 0.1


# ---- memory: the tiled forward never holds an N x N matrix -----------------------------------

def test_peak_memory_grows_linearly_for_flash_and_quadratically_for_standard():
    d, small, large = 64, 1_024, 4_096
    gen = torch.Generator().manual_seed(0)
    peaks = {}
    for n in (small, large):
        q, k, v = (torch.randn(n, d, generator=gen) for _ in range(3))
        flash_attention_forward(q[:8], k[:8], v[:8], block_rows=4, block_cols=4)   # warm up
        standard_attention(q[:8], k[:8], v[:8])
        peaks[n] = (peak_rss_increase(lambda: flash_attention_forward(
            q, k, v, block_rows=128, block_cols=128)),
            peak_rss_increase(lambda: standard_attention(q, k, v)))
    flash_growth = peaks[large][0] / peaks[small][0]
    standard_growth = peaks[large][1] / peaks[small][1]
    assert standard_growth > 10                      # 16 for a pure N^2 term
    assert flash_growth < 6                          # 4 for a pure N term, less with a constant
    assert peaks[large][1] > 2 * 4 * large ** 2      # S and P: two float32 N x N matrices
    assert peaks[large][1] / peaks[large][0] > 20


def test_attention_peak_memory_reports_one_row_per_length():
    rows = attention_peak_memory([256, 512], d=16, block_rows=32, block_cols=32, progress=False)
    assert [r["n"] for r in rows] == [256, 512]
    assert all(r["standard_bytes"] > 0 and r["flash_bytes"] >= 0 for r in rows)
    assert rows[1]["matrix_bytes"] == 4 * 512 * 512


# ---- bad input: ValueError naming the argument -----------------------------------------------

@pytest.mark.parametrize("kwargs,match", [
    (dict(block_rows=0), r"block_rows \(Br\)"),
    (dict(block_rows=-4), r"block_rows \(Br\)"),
    (dict(block_cols=0), r"block_cols \(Bc\)"),
    (dict(block_cols=-1), r"block_cols \(Bc\)"),
    (dict(block_rows=2.5), r"block_rows \(Br\)"),
    (dict(block_cols=True), r"block_cols \(Bc\)"),
    (dict(sram_size=4 * 16 - 1), r"sram_size \(M\).*too small to hold one tile"),
    (dict(sram_size=0), r"sram_size \(M\)"),
    (dict(sram_size=1024, block_rows=8), r"either sram_size"),
    (dict(loop_order="diagonal"), r"loop_order"),
    (dict(scale=-1.0), r"scale"),
])
def test_bad_tiles_raise_value_error_naming_the_argument(kwargs, match):
    q, k, v = qkv(10, d=16)
    for fn in (flash_attention_forward, flash_attention):
        with pytest.raises(ValueError, match=match):
            fn(q, k, v, **kwargs)


@pytest.mark.parametrize("shapes,match", [
    (((2, 10, 8), (2, 10, 8), (2, 11, 8)), r"k and v must have the same shape"),
    (((2, 10, 8), (2, 10, 8), (2, 10, 6)), r"k and v must have the same shape"),
    (((2, 10, 8), (2, 10, 6), (2, 10, 6)), r"same head dimension d"),
    (((2, 10, 8), (3, 10, 8), (3, 10, 8)), r"leading \(batch, head\) dimensions"),
    (((8,), (10, 8), (10, 8)), r"q must have shape \(\.\.\., N, d\)"),
    (((10, 0), (10, 0), (10, 0)), r"head dimension must be >= 1"),
])
def test_mismatched_q_k_v_raise_value_error(shapes, match):
    q, k, v = (torch.randn(s) for s in shapes)
    for fn in (flash_attention_forward, flash_attention, standard_attention):
        with pytest.raises(ValueError, match=match):
            fn(q, k, v)


def test_non_float_or_mixed_inputs_raise_value_error():
    q, k, v = qkv(10, d=4)
    with pytest.raises(ValueError, match="floating-point"):
        flash_attention(q.long(), k, v)
    with pytest.raises(ValueError, match="one dtype"):
        flash_attention(q.double(), k, v)
    with pytest.raises(ValueError, match="q must be a torch.Tensor"):
        flash_attention(q.tolist(), k, v)


def test_io_helpers_reject_bad_sizes():
    with pytest.raises(ValueError, match=r"sram_size \(M\).*too small"):
        block_sizes(100, 64)
    with pytest.raises(ValueError, match=r"^d must be"):
        block_sizes(1024, 0)
    with pytest.raises(ValueError, match=r"block_rows \(Br\)"):
        flash_attention_io(100, d=8, block_rows=0, block_cols=4)
    with pytest.raises(ValueError, match=r"n_q"):
        standard_attention_io(0, d=8)
    with pytest.raises(ValueError, match="positive"):
        flash_io_bound(100, 64, 0)
    with pytest.raises(ValueError, match="positive"):
        standard_io_bound(-1, 64)
    with pytest.raises(ValueError, match="block_size"):
        online_softmax(torch.randn(5), block_size=0)
    with pytest.raises(ValueError, match=r"block_cols \(Bc\)"):
        sram_footprint(4, 0, 64)
    with pytest.raises(ValueError, match="loop_order"):
        tile_steps(10, d=4, block_rows=2, block_cols=2, loop_order="zigzag")
    with pytest.raises(ValueError, match="1-D"):
        online_softmax_trace(torch.randn(2, 3))
