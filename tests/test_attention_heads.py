"""Tests for mlbook.attention.heads (chapter 9): each test states a claim the chapter makes."""

import math

import pytest
import torch

from mlbook.attention import (
    DEEPSEEK_67B_GQA, DEEPSEEK_V2_MHA, DEEPSEEK_V2_MLA, LLAMA2_7B_MHA, LLAMA2_70B_GQA,
    GQAConfig, GroupedKVCache, GroupedQueryAttention, LatentKVCache, MLAConfig,
    MultiHeadLatentAttention, apply_rope_pairs, decode_step_by_step, kv_cache_bytes,
    kv_cache_elements, llama_with_attention, longest_context, mean_pool_kv_heads,
    mla_as_mqa, mla_decode_seconds, mla_from_gqa)
from mlbook.llm import Llama, LlamaConfig
from mlbook.llm.llama import apply_rope, apply_rope_interleaved, rope_cos_sin


#: Small tensors: one torch thread is as fast, and is not slowed by busy cores.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def randomise(module, seed=0, std=0.2):
    """Random weights everywhere, norm gains included, so no parameter goes untested."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) * std)
            else:
                p.copy_(1 + 0.5 * torch.randn(p.shape, generator=gen))
    return module


def tokens(b=2, t=9, d=48, seed=1):
    return torch.randn(b, t, d, generator=torch.Generator().manual_seed(seed))


def reference_attention(x, wq, wk, wv, wo, n_heads, kv_head_of, head_dim, theta=10000.0):
    """Equations (9.2)-(9.4) written out head by head, with RoPE, as a slow reference."""
    b, t, _ = x.shape
    cos, sin = rope_cos_sin(torch.arange(t), head_dim, theta)
    mask = torch.ones(t, t, dtype=torch.bool).tril()
    outs = []
    for i in range(n_heads):
        g = kv_head_of(i)
        q = apply_rope(x @ wq[i * head_dim:(i + 1) * head_dim].T, cos, sin)   # (B, T, d_h)
        k = apply_rope(x @ wk[g * head_dim:(g + 1) * head_dim].T, cos, sin)
        v = x @ wv[g * head_dim:(g + 1) * head_dim].T
        s = (q @ k.transpose(1, 2) / math.sqrt(head_dim)).masked_fill(~mask, float("-inf"))
        outs.append(torch.softmax(s, -1) @ v)
    return torch.cat(outs, -1) @ wo.T


# ---- MHA, GQA and MQA are one family (9.3)-(9.4) ----------------------------------------------

def gqa(n_heads=6, n_kv_heads=2, dim=48, seed=0):
    return randomise(GroupedQueryAttention(GQAConfig(dim, n_heads, n_kv_heads)), seed)


def test_gqa_with_one_group_is_mqa():
    """n_g = 1: every query head reads the same single key/value head (Shazeer 2019)."""
    m = gqa(n_kv_heads=1)
    x = tokens()
    ref = reference_attention(x, m.q_proj.weight, m.k_proj.weight, m.v_proj.weight,
                              m.o_proj.weight, 6, lambda i: 0, 8)
    assert m.config.variant == "MQA" and m.k_proj.weight.shape == (8, 48)
    torch.testing.assert_close(m(x), ref, rtol=1e-5, atol=1e-5)


def test_gqa_with_n_h_groups_is_mha():
    """n_g = n_h: every query head has its own key/value head (Vaswani et al. 2017)."""
    m = gqa(n_kv_heads=6)
    x = tokens()
    ref = reference_attention(x, m.q_proj.weight, m.k_proj.weight, m.v_proj.weight,
                              m.o_proj.weight, 6, lambda i: i, 8)
    assert m.config.variant == "MHA"
    torch.testing.assert_close(m(x), ref, rtol=1e-5, atol=1e-5)


def test_gqa_groups_consecutive_query_heads():
    """n_g = 2 of 6 heads: heads 0-2 read KV head 0 and heads 3-5 read KV head 1 (9.4)."""
    m = gqa(n_kv_heads=2)
    x = tokens()
    ref = reference_attention(x, m.q_proj.weight, m.k_proj.weight, m.v_proj.weight,
                              m.o_proj.weight, 6, lambda i: i // 3, 8)
    assert m.config.variant == "GQA" and m.config.group_size == 3
    torch.testing.assert_close(m(x), ref, rtol=1e-5, atol=1e-5)


def test_gqa_is_mha_whose_heads_are_tied_within_groups():
    """Mean-pooling MHA heads that are equal within each group (Ainslie et al.) loses nothing."""
    mha = gqa(n_kv_heads=6)
    with torch.no_grad():
        for proj in (mha.k_proj, mha.v_proj):
            w = proj.weight.view(2, 3, 8, 48)
            proj.weight.copy_(w[:, :1].expand(2, 3, 8, 48).reshape(48, 48))
    pooled = mean_pool_kv_heads(mha, 2)
    x = tokens()
    assert pooled.config.n_kv_heads == 2
    torch.testing.assert_close(pooled(x), mha(x), rtol=1e-5, atol=1e-5)
    same = mean_pool_kv_heads(mha, 6)
    torch.testing.assert_close(same(x), mha(x), rtol=0, atol=0)


def test_gqa_module_is_chapter_6s_llama_attention_weight_for_weight():
    config = LlamaConfig(vocab_size=300, dim=48, n_layers=1, n_heads=6, n_kv_heads=2,
                         multiple_of=16, max_seq_len=32)
    llama = Llama(config, seed=0)
    ours = GroupedQueryAttention(GQAConfig.from_llama(config))
    ours.load_state_dict(llama.model.layers[0].self_attn.state_dict(), strict=True)
    x = tokens()
    cos, sin = llama.model.rotary_emb(0, x.shape[1])
    torch.testing.assert_close(ours(x), llama.model.layers[0].self_attn(x, cos, sin),
                               rtol=1e-5, atol=1e-6)


def test_swapped_tiny_llama_with_the_same_attention_gives_the_same_logits():
    config = LlamaConfig(vocab_size=300, dim=48, n_layers=2, n_heads=6, n_kv_heads=3,
                         multiple_of=16, max_seq_len=32)
    plain = Llama(config, seed=4)
    swapped = llama_with_attention(config, GQAConfig.from_llama(config), seed=4)
    for a, b in zip(plain.model.layers, swapped.model.layers):
        b.self_attn.attention.load_state_dict(a.self_attn.state_dict(), strict=True)
    ids = torch.randint(0, 300, (2, 12), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(swapped(ids), plain(ids), rtol=1e-5, atol=1e-5)


# ---- MLA (9.6)-(9.12) -------------------------------------------------------------------------

def mla(q_lora_rank=20, seed=0, **kw):
    config = MLAConfig(dim=48, n_heads=4, kv_lora_rank=16, qk_rope_head_dim=8,
                       qk_nope_head_dim=12, v_head_dim=10, q_lora_rank=q_lora_rank, **kw)
    return randomise(MultiHeadLatentAttention(config), seed, std=0.15)


def test_mla_parameters_have_hugging_face_names():
    assert [n for n, _ in mla().named_parameters()] == [
        "q_a_proj.weight", "q_a_layernorm.weight", "q_b_proj.weight",
        "kv_a_proj_with_mqa.weight", "kv_a_layernorm.weight", "kv_b_proj.weight",
        "o_proj.weight"]
    assert [n for n, _ in mla(q_lora_rank=None).named_parameters()][0] == "q_proj.weight"


@pytest.mark.parametrize("q_lora_rank", [None, 20])
def test_mla_matches_transformers_deepseek_v2_attention_weight_for_weight(q_lora_rank):
    from transformers import DeepseekV2Config
    from transformers.models.deepseek_v2.modeling_deepseek_v2 import (
        DeepseekV2Attention, DeepseekV2RotaryEmbedding)

    ours = mla(q_lora_rank)
    hf_config = DeepseekV2Config(**ours.config.to_hf_kwargs(), vocab_size=100,
                                 intermediate_size=64)
    hf_config._attn_implementation = "eager"
    theirs = DeepseekV2Attention(hf_config, layer_idx=0)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    assert MLAConfig.from_hf(hf_config) == ours.config
    x = tokens()
    t = x.shape[1]
    position_embeddings = DeepseekV2RotaryEmbedding(hf_config)(x, torch.arange(t)[None])
    mask = torch.full((t, t), float("-inf")).triu(1)[None, None]
    expected, _ = theirs(x, attention_mask=mask, position_embeddings=position_embeddings)
    torch.testing.assert_close(ours(x), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours(x, absorb=True), expected, rtol=1e-5, atol=1e-5)


def test_rope_on_pairs_is_chapter_6s_interleaved_rope():
    x = tokens(t=7, d=16)
    cos, sin = rope_cos_sin(torch.arange(3, 10), 16)
    torch.testing.assert_close(apply_rope_pairs(x, cos, sin),
                               apply_rope_interleaved(x, torch.arange(3, 10)),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("q_lora_rank", [None, 20])
def test_absorbed_mla_equals_explicit_mla(q_lora_rank):
    """Folding W^UK into the query (9.8) and W^UV into the output (9.9) changes nothing."""
    m = mla(q_lora_rank)
    x = tokens(t=11)
    explicit = m(x)
    assert (m(x, absorb=True) - explicit).abs().max() < 1e-5
    assert (decode_step_by_step(m, x, absorb=True) - explicit).abs().max() < 1e-5


def test_the_two_forms_are_public_steps_of_forward():
    """queries, latents, then explicit_attention or absorbed_attention, then o_proj: forward."""
    m = mla(20)
    x = tokens(t=6)
    pieces = (*m.queries(x), *m.latents(x))
    explicit = m.explicit_attention(*pieces)                        # (B, H, T, d_v)
    absorbed = m.absorbed_attention(*pieces)
    assert explicit.shape == (2, m.config.n_heads, 6, m.config.v_head_dim)
    assert (absorbed - explicit).abs().max() < 1e-5
    out = m.o_proj(absorbed.transpose(1, 2).flatten(2))
    torch.testing.assert_close(out, m(x, absorb=True), rtol=0, atol=0)
    q_nope, q_rope, c_kv, k_rope = pieces
    with pytest.raises(ValueError, match="c_kv must have shape"):
        m.absorbed_attention(q_nope, q_rope, c_kv[..., :-1], k_rope)
    with pytest.raises(ValueError, match="T <= S"):
        m.explicit_attention(q_nope, q_rope, c_kv[:, :3], k_rope[:, :3])


def test_absorbed_scores_are_queries_against_the_latents():
    """(9.8): q . W^UK c = (W^UK^T q) . c, with the key never formed."""
    m = mla()
    w_uk, _ = m.up_projections()                                   # (H, d_h, d_c)
    q = torch.randn(4, 12, dtype=torch.float64)
    c = torch.randn(5, 16, dtype=torch.float64)
    w = w_uk.double()
    keys = torch.einsum("hdc,sc->hsd", w, c)                       # up-projected keys
    explicit = torch.einsum("hd,hsd->hs", q, keys)
    absorbed = torch.einsum("hc,sc->hs", torch.einsum("hd,hdc->hc", q, w), c)
    torch.testing.assert_close(absorbed, explicit)


def test_mla_cache_holds_only_the_latent_and_one_rotary_key():
    m = mla()
    cache = m.new_cache(2, 9)
    m(tokens(), cache)
    assert cache.length == 9
    assert cache.elements_per_token == 16 + 8 == kv_cache_elements(m.config)
    assert cache.nbytes == 2 * 9 * (16 + 8) * 4


# ---- cached decoding equals the full forward, for every variant -------------------------------

VARIANTS = {
    "MHA": lambda: gqa(n_kv_heads=6),
    "GQA": lambda: gqa(n_kv_heads=2),
    "MQA": lambda: gqa(n_kv_heads=1),
    "MLA": lambda: mla(q_lora_rank=20),
    "MLA-no-query-latent": lambda: mla(q_lora_rank=None),
}


@pytest.mark.parametrize("prefill", [0, 4])
@pytest.mark.parametrize("name", list(VARIANTS))
def test_cached_decoding_equals_the_full_forward(name, prefill):
    m = VARIANTS[name]()
    x = tokens(t=10)
    full = m(x)
    torch.testing.assert_close(decode_step_by_step(m, x, prefill=prefill), full,
                               rtol=1e-5, atol=1e-5)
    if name.startswith("MLA"):
        torch.testing.assert_close(decode_step_by_step(m, x, prefill=prefill, absorb=True),
                                   full, rtol=1e-5, atol=1e-5)


def test_gqa_cache_grows_by_2_n_g_d_h_per_token():
    m = gqa(n_kv_heads=2)
    cache = m.new_cache(1, 20)
    m(tokens(b=1, t=5), cache)
    m(tokens(b=1, t=1), cache)
    assert cache.length == 6
    assert cache.elements_per_token == 2 * 2 * 8 == kv_cache_elements(m.config)


# ---- cache sizes: DeepSeek-V2's Table 1 and LLaMA 2 -------------------------------------------

def test_mla_cache_is_576_per_token_per_layer_for_deepseek_v2():
    assert kv_cache_elements(DEEPSEEK_V2_MLA) == 512 + 64 == 576
    assert kv_cache_elements(DEEPSEEK_V2_MLA) == 4.5 * 128          # (d_c + d_h^R) = 9/2 d_h


def test_mha_equivalent_of_deepseek_v2_caches_32768_per_token_per_layer():
    assert kv_cache_elements(DEEPSEEK_V2_MHA) == 2 * 128 * 128 == 32_768
    assert kv_cache_elements(DEEPSEEK_V2_MHA) / kv_cache_elements(DEEPSEEK_V2_MLA) == 32_768 / 576


def test_mla_cache_equals_gqa_with_two_and_a_quarter_groups():
    """Table 1 of DeepSeek-V2: MLA's cache is that of GQA with 2.25 groups."""
    assert kv_cache_elements(DEEPSEEK_V2_MLA) / (2 * 128) == 2.25


def test_llama2_70b_gqa_cache():
    assert kv_cache_elements(LLAMA2_70B_GQA) == 2 * 8 * 128 == 2048
    assert kv_cache_bytes(LLAMA2_70B_GQA, torch.float16) == 2048 * 2 * 80 == 327_680  # 320 KiB
    assert kv_cache_bytes(LLAMA2_7B_MHA, torch.float16) == 2 ** 19                    # 0.5 MiB
    assert kv_cache_elements(LlamaConfig(dim=8192, n_heads=64, n_kv_heads=8)) == 2048


def test_deepseek_v2_cache_is_93_3_percent_smaller_than_deepseek_67b():
    """DeepSeek-V2 reports a 93.3% smaller KV cache than DeepSeek 67B: MLA plus a 6-bit cache."""
    v2 = kv_cache_bytes(DEEPSEEK_V2_MLA, 6)
    dense = kv_cache_bytes(DEEPSEEK_67B_GQA, torch.bfloat16)
    assert round(100 * (1 - v2 / dense), 1) == 93.3


def test_longest_context_that_fits():
    per_token = kv_cache_bytes(LLAMA2_70B_GQA, torch.float16)
    assert longest_context(LLAMA2_70B_GQA, 40e9, torch.float16) == int(40e9 // per_token)
    assert longest_context(LLAMA2_70B_GQA, 40e9, torch.float16, batch_size=4) == int(
        40e9 // (4 * per_token))
    assert longest_context(DEEPSEEK_V2_MLA, 0) == 0


def test_decode_timing_returns_one_median_per_context_and_path():
    config = MLAConfig(32, 2, 8, 4, 8)
    out = mla_decode_seconds(config, [4, 8], repeats=2, progress=False)
    assert out["context"] == [4, 8]
    assert all(len(out[k]) == 2 and min(out[k]) > 0 for k in ("explicit", "absorbed"))


# ---- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize("n_heads, n_kv_heads", [(6, 4), (8, 3), (4, 0)])
def test_heads_not_divisible_by_kv_groups_raise(n_heads, n_kv_heads):
    with pytest.raises(ValueError, match="n_kv_heads"):
        GQAConfig(48, n_heads, n_kv_heads)


@pytest.mark.parametrize("field, value", [("kv_lora_rank", 0), ("kv_lora_rank", -8),
                                          ("qk_rope_head_dim", -8), ("qk_rope_head_dim", -2)])
def test_latent_width_not_positive_or_rotary_width_negative_raises(field, value):
    kwargs = dict(dim=48, n_heads=4, kv_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=12)
    kwargs[field] = value
    with pytest.raises(ValueError, match=field):
        MLAConfig(**kwargs)


def test_odd_rotary_width_and_bad_query_latent_raise():
    with pytest.raises(ValueError, match="even"):
        MLAConfig(48, 4, 16, 7, 12)
    with pytest.raises(ValueError, match="q_lora_rank"):
        MLAConfig(48, 4, 16, 8, 12, q_lora_rank=0)


def test_cache_fed_a_step_of_the_wrong_shape_raises():
    cache = GroupedKVCache(batch_size=2, n_kv_heads=2, head_dim=8, max_len=10)
    good = torch.zeros(2, 2, 3, 8)
    with pytest.raises(ValueError, match="shape"):
        cache.update(torch.zeros(2, 3, 3, 8), torch.zeros(2, 3, 3, 8))   # 3 KV heads, not 2
    with pytest.raises(ValueError, match="shape"):
        cache.update(good, torch.zeros(2, 2, 4, 8))                      # v longer than k
    with pytest.raises(ValueError, match="shape"):
        cache.update(torch.zeros(2, 3, 8), torch.zeros(2, 3, 8))         # no head axis
    latent = LatentKVCache(batch_size=1, kv_lora_rank=16, qk_rope_head_dim=8, max_len=10)
    with pytest.raises(ValueError, match="shape"):
        latent.update(torch.zeros(1, 2, 17), torch.zeros(1, 2, 8))       # d_c of 17
    with pytest.raises(ValueError, match="shape"):
        latent.update(torch.zeros(1, 2, 16), torch.zeros(1, 2, 4))       # d_R of 4
    assert cache.length == 0 and latent.length == 0                     # nothing was stored


def test_cache_that_would_overflow_raises():
    cache = GroupedKVCache(1, 1, 8, max_len=4)
    cache.update(torch.zeros(1, 1, 3, 8), torch.zeros(1, 1, 3, 8))
    with pytest.raises(ValueError, match="full"):
        cache.update(torch.zeros(1, 1, 2, 8), torch.zeros(1, 1, 2, 8))


def test_module_rejects_wrong_input_and_the_other_kind_of_cache():
    m = gqa()
    with pytest.raises(ValueError, match="shape"):
        m(torch.zeros(2, 5, 47))
    with pytest.raises(ValueError, match="GroupedKVCache"):
        m(tokens(), LatentKVCache(2, 16, 8, 20))
    with pytest.raises(ValueError, match="bits"):
        kv_cache_bytes(DEEPSEEK_V2_MLA, 0)


def test_swapping_needs_matching_width_and_no_llama_cache():
    config = LlamaConfig(vocab_size=300, dim=48, n_layers=1, n_heads=6, multiple_of=16,
                         max_seq_len=32)
    with pytest.raises(ValueError, match="dim"):
        llama_with_attention(config, GQAConfig(64, 4, 2))
    model = llama_with_attention(config, MLAConfig(48, 4, 16, 8, 12))
    from mlbook.llm import KVCache
    with pytest.raises(ValueError, match="KVCache"):
        model(torch.zeros(1, 3, dtype=torch.long), KVCache(config, 1))


# ---- GQA and MQA are special cases of MLA (9.14); MLA decodes as MQA (9.15) -------------------

def gqa64(n_kv_heads, rope, seed=0):
    """A float64 GQA layer with random weights: exactness is checked to 1e-10."""
    config = GQAConfig(48, 6, n_kv_heads, rope=rope)
    return randomise(GroupedQueryAttention(config).double(), seed, std=0.3)


@pytest.mark.parametrize("n_kv_heads", [1, 2, 3, 6])
def test_position_free_gqa_is_an_mla_with_block_copying_up_projections(n_kv_heads):
    """c_t = [k_1..k_G, v_1..v_G] and W^UK_i, W^UV_i copy group g(i)'s blocks: same output."""
    module = gqa64(n_kv_heads, rope=False)
    latent = mla_from_gqa(module)
    x = tokens(t=10).double()
    expected = module(x)
    assert latent.kv_b_proj.weight.dtype == torch.float64
    assert kv_cache_elements(latent.config) == kv_cache_elements(module.config) == 2 * n_kv_heads * 8
    for got in (latent(x), latent(x, absorb=True),
                decode_step_by_step(latent, x, prefill=3, absorb=True), mla_as_mqa(latent, x)[0]):
        assert (got - expected).abs().max().item() < 1e-10
    w_uk, w_uv = latent.up_projections()                     # (H, d_h, d_c) each
    assert set(latent.kv_b_proj.weight.unique().tolist()) == {0.0, 1.0}
    for i in range(6):                                        # head i reads group i // (6 / G)
        g = i // (6 // n_kv_heads)
        torch.testing.assert_close(w_uk[i, :, 8 * g:8 * (g + 1)], torch.eye(8, dtype=torch.float64))
        torch.testing.assert_close(w_uv[i, :, 8 * (n_kv_heads + g):8 * (n_kv_heads + g + 1)],
                                   torch.eye(8, dtype=torch.float64))
        assert w_uk[i].abs().sum() == w_uv[i].abs().sum() == 8   # and nothing else


def test_mqa_with_rope_is_an_mla_whose_shared_rotary_key_is_the_mqa_key():
    module = gqa64(1, rope=True, seed=3)
    latent = mla_from_gqa(module)
    x = tokens(t=12).double()
    expected = module(x)
    assert latent.config.qk_rope_head_dim == 8 and latent.config.kv_lora_rank == 8
    assert kv_cache_elements(latent.config) == kv_cache_elements(module.config) == 16
    for got in (latent(x), latent(x, absorb=True), decode_step_by_step(latent, x, absorb=True)):
        assert (got - expected).abs().max().item() < 1e-10
    # the rotary part matters: without RoPE the same weights give a different output
    unrotated = GroupedQueryAttention(GQAConfig(48, 6, 1, rope=False)).double()
    unrotated.load_state_dict(module.state_dict())
    assert (unrotated(x) - expected).abs().max().item() > 1e-3


def test_gqa_with_rope_and_several_groups_has_no_exact_mla_form():
    with pytest.raises(ValueError, match="rotary key"):
        mla_from_gqa(gqa64(2, rope=True))
    with pytest.raises(TypeError, match="GroupedQueryAttention"):
        mla_from_gqa(mla())
    with pytest.raises(TypeError, match="MultiHeadLatentAttention"):
        mla_as_mqa(gqa(), tokens())


@pytest.mark.parametrize("q_lora_rank", [None, 20])
def test_absorbed_mla_is_mqa_with_latent_wide_keys_and_values(q_lora_rank):
    """(9.15): one key of width d_c + d_R and one value of width d_c per position, for all heads."""
    m = mla(q_lora_rank)
    x = tokens(t=9)
    out, shapes = mla_as_mqa(m, x)
    torch.testing.assert_close(out, m(x), rtol=1e-5, atol=1e-5)
    assert shapes == {"queries": (2, 4, 9, 16 + 8), "keys": (2, 1, 9, 16 + 8),
                      "values": (2, 1, 9, 16)}


def test_mla_without_rotary_part_or_latent_norm_decodes_and_is_not_a_hugging_face_layer():
    config = MLAConfig(48, 4, 16, 0, 12, latent_norm=False)
    m = randomise(MultiHeadLatentAttention(config), std=0.15)
    assert "kv_a_layernorm.weight" not in m.state_dict()
    x = tokens(t=8)
    torch.testing.assert_close(decode_step_by_step(m, x, prefill=2, absorb=True), m(x),
                               rtol=1e-5, atol=1e-5)
    assert kv_cache_elements(config) == 16
    with pytest.raises(ValueError, match="latent_norm"):
        config.to_hf_kwargs()
    with pytest.raises(ValueError, match="rope"):
        GQAConfig(48, 6, 2, rope=1)
