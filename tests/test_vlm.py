"""Chapter 11: MoonViT at native resolution, pixel shuffle, the MoE layer and the tiny VLM."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from mlbook.llm.train import TrainConfig
from mlbook.vlm import (KIMI_VL_MOONVIT, KIMI_VL_PUBLISHED, MOONLIGHT, TINY_VLM, MLPProjector,
                        MoE, MoEConfig, MoELanguageModelSizes, MoonViT, MoonViTConfig,
                        TinyVLM, VarlenGroups, apply_rope_2d, block_diagonal_mask, collate,
                        cu_seqlens, digit_pools, make_digit_vqa, make_vocab, merged_grid_hws,
                        moe_layer_parameter_counts, moe_lm_parameter_counts, pack_images,
                        pad_to_multiple, patch_grid, patchify, pixel_shuffle, pixel_unshuffle,
                        projector_parameters, rope_2d_cos_sin, to_transformers_state_dict,
                        token_counts, train_vlm, unpatchify, vlm_parameter_counts)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small models run faster on one thread, and much faster when the cores are shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


SMALL_VIT = MoonViTConfig(patch_size=4, hidden_size=32, num_hidden_layers=2,
                          num_attention_heads=2, intermediate_size=64, init_pos_emb_height=4,
                          init_pos_emb_width=4, num_channels=1)


def _images(*shapes, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(1, h, w, generator=g) for h, w in shapes]


# ----------------------------------------------------------------------------------------
# Native resolution: patches and token counts
# ----------------------------------------------------------------------------------------
def test_patch_count_is_h_over_p_times_w_over_p_at_native_resolution():
    assert token_counts(224, 224) == {"grid_h": 16, "grid_w": 16, "patches": 256, "tokens": 64}
    assert token_counts(448, 896) == {"grid_h": 32, "grid_w": 64, "patches": 2048, "tokens": 512}
    assert token_counts(28, 28)["tokens"] == 1


def test_patchify_cuts_rows_then_columns_and_unpatchify_restores_the_image():
    image = torch.arange(2 * 8 * 12, dtype=torch.float32).view(2, 8, 12)
    patches = patchify(image, 4)
    assert patches.shape == (6, 2, 4, 4)
    assert torch.equal(patches[1], image[:, 0:4, 4:8])      # row 0, column 1
    assert torch.equal(patches[3], image[:, 4:8, 0:4])      # row 1, column 0
    assert torch.equal(unpatchify(patches, (2, 3)), image)


def test_pad_to_multiple_pads_bottom_and_right_with_zeros():
    image = torch.ones(1, 30, 17)
    padded = pad_to_multiple(image, 14)
    assert padded.shape == (1, 42, 28)
    assert padded[:, :30, :17].eq(1).all() and padded[:, 30:].eq(0).all() and padded[:, :, 17:].eq(0).all()
    assert patch_grid(42, 28, 14) == (3, 2)


# ----------------------------------------------------------------------------------------
# Packing: attention restricted to each image
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("attention", ["varlen", "mask"])
def test_packed_encoding_equals_encoding_each_image_alone(attention):
    model = MoonViT(SMALL_VIT, seed=0).eval()
    model.encoder.attention = attention
    images = _images((8, 16), (16, 16), (24, 8), (16, 8), (4, 4))
    with torch.no_grad():
        packed = model.encode(images)
        alone = model.encode_separately(images)
    for p, a, image in zip(packed, alone, images):
        assert p.shape == (image.shape[1] // 4 * image.shape[2] // 4, 32)
        torch.testing.assert_close(p, a, rtol=0, atol=1e-5)


def test_block_diagonal_mask_lets_patches_see_only_their_own_image():
    grids = [(1, 2), (2, 2), (1, 1)]
    mask = block_diagonal_mask(grids)
    assert mask.shape == (7, 7)
    assert mask[:2, :2].all() and mask[2:6, 2:6].all() and mask[6, 6]
    assert mask.sum() == 2 * 2 + 4 * 4 + 1
    assert cu_seqlens(grids).tolist() == [0, 2, 6, 7]
    groups = VarlenGroups.from_grids(grids)
    assert sorted(n for n, _ in groups.groups) == [1, 2, 4]


def test_2d_rope_score_depends_only_on_the_row_and_column_offsets():
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 1, 16, generator=g, dtype=torch.float64).unbind(0)
    cos, sin = rope_2d_cos_sin([(6, 6)], 16)

    def score(a, b):  # query at patch a, key at patch b, positions flattened row by row
        return float(apply_rope_2d(q, cos[a:a + 1], sin[a:a + 1]) @ apply_rope_2d(k, cos[b:b + 1], sin[b:b + 1]).T)

    at = lambda r, c: 6 * r + c  # noqa: E731
    assert score(at(3, 4), at(1, 1)) == pytest.approx(score(at(4, 5), at(2, 2)), abs=1e-6)
    assert score(at(3, 4), at(1, 1)) != pytest.approx(score(at(3, 4), at(1, 2)), abs=1e-3)


def _kimi_vl_rope_by_description(x, rows, cols, theta=10000.0):
    """2D RoPE as Kimi-VL's report and code describe it, written independently with complex numbers.

    ``x``: ``(L, hd)``; ``rows, cols``: ``(L,)``. Coordinates ``(x_{2j}, x_{2j+1})`` form the
    complex number ``z_j``; the frequencies are ``theta^(-4i/hd)`` for ``i < hd/4``; the complex
    numbers alternate between the column (``j = 2i``) and the row (``j = 2i + 1``) at frequency
    ``i``, column first.
    """
    hd = x.shape[-1]
    freq = theta ** (-torch.arange(0, hd, 4, dtype=torch.float64) / hd)          # (hd/4,)
    turn = torch.empty(x.shape[0], hd // 2, dtype=torch.complex128)
    for i in range(hd // 4):
        turn[:, 2 * i] = torch.exp(1j * cols.double() * freq[i])
        turn[:, 2 * i + 1] = torch.exp(1j * rows.double() * freq[i])
    z = torch.complex(x[:, 0::2].double(), x[:, 1::2].double()) * turn
    out = torch.empty(x.shape, dtype=torch.float64)
    out[:, 0::2], out[:, 1::2] = z.real, z.imag
    return out


def test_2d_rope_has_kimi_vl_layout_adjacent_pairs_alternating_column_and_row():
    grids = [(3, 5), (4, 2)]
    hd = 16
    x = torch.randn(sum(h * w for h, w in grids), hd, generator=torch.Generator().manual_seed(0),
                    dtype=torch.float64)
    rows = torch.cat([torch.arange(h).repeat_interleave(w) for h, w in grids])
    cols = torch.cat([torch.arange(w).repeat(h) for h, w in grids])
    cos, sin = rope_2d_cos_sin(grids, hd)
    ours = apply_rope_2d(x, cos, sin)
    torch.testing.assert_close(ours, _kimi_vl_rope_by_description(x, rows, cols), rtol=0, atol=1e-5)
    # the reference can tell the order apart: row first instead of column first differs
    assert not torch.allclose(ours, _kimi_vl_rope_by_description(x, cols, rows), atol=1e-2)


def test_moonvit_block_equals_a_reference_written_from_kimi_vl_names_and_layout():
    """Given only the state dict (Kimi-VL's names), a block written from the description agrees."""
    torch.manual_seed(0)
    model = MoonViT(SMALL_VIT, seed=0).eval()
    block = model.encoder.blocks[0]
    grid = [(3, 4)]
    x = torch.randn(12, 32)
    w = {k: v.double() for k, v in block.state_dict().items()}
    nh, hd = SMALL_VIT.num_attention_heads, SMALL_VIT.head_dim
    rows, cols = torch.arange(3).repeat_interleave(4), torch.arange(4).repeat(3)
    xd = x.double()
    h = F.layer_norm(xd, (32,), w["norm0.weight"], w["norm0.bias"], eps=1e-5)
    qkv = (h @ w["wqkv.weight"].T + w["wqkv.bias"]).view(12, 3, nh, hd)
    heads = []
    for head in range(nh):
        q = _kimi_vl_rope_by_description(qkv[:, 0, head], rows, cols)
        k = _kimi_vl_rope_by_description(qkv[:, 1, head], rows, cols)
        heads.append(torch.softmax(q @ k.T / hd ** 0.5, dim=-1) @ qkv[:, 2, head])
    xd = xd + torch.cat(heads, dim=-1) @ w["wo.weight"].T + w["wo.bias"]
    h = F.layer_norm(xd, (32,), w["norm1.weight"], w["norm1.bias"], eps=1e-5)
    h = F.gelu(h @ w["mlp.fc0.weight"].T + w["mlp.fc0.bias"], approximate="tanh")
    reference = xd + h @ w["mlp.fc1.weight"].T + w["mlp.fc1.bias"]
    cos, sin = rope_2d_cos_sin(grid, hd)
    with torch.no_grad():
        ours = block(x, cos, sin, None)
    torch.testing.assert_close(ours.double(), reference, rtol=0, atol=1e-5)


def test_interpolated_position_embeddings_are_the_trained_grid_at_its_own_size():
    model = MoonViT(SMALL_VIT, seed=0)
    emb = model.patch_embed.pos_emb
    assert torch.equal(emb.embeddings([(4, 4)]), emb.weight.flatten(0, 1))
    assert emb.embeddings([(3, 7)]).shape == (21, 32)


def test_released_moonvit_has_about_400m_parameters():
    with torch.device("meta"):
        model = MoonViT(KIMI_VL_MOONVIT)
    assert model.num_parameters() == pytest.approx(KIMI_VL_PUBLISHED["vision_encoder"], rel=0.05)


# ----------------------------------------------------------------------------------------
# Pixel shuffle and the projector
# ----------------------------------------------------------------------------------------
def test_pixel_shuffle_is_lossless_its_inverse_restores_the_input():
    grids = [(2, 4), (4, 4), (6, 2)]
    x = torch.randn(sum(h * w for h, w in grids), 5)
    y = pixel_shuffle(x, grids)
    assert y.shape == (x.shape[0] // 4, 20)                  # 4x fewer tokens, 4x wider
    assert torch.equal(pixel_unshuffle(y, grids), x)
    assert merged_grid_hws(grids).tolist() == [[1, 2], [2, 2], [3, 1]]


def test_pixel_shuffle_concatenates_each_2x2_block_row_by_row():
    x = torch.arange(8, dtype=torch.float32)[:, None]      # one image, 2 x 4 patches, D = 1
    assert pixel_shuffle(x, [(2, 4)]).tolist() == [[0, 1, 4, 5], [2, 3, 6, 7]]


def test_pixel_shuffle_is_torch_pixel_unshuffle_up_to_the_order_of_channels():
    h, w, d = 4, 6, 3
    x = torch.randn(h * w, d)
    ours = pixel_shuffle(x, [(h, w)]).view(h // 2 * (w // 2), 4, d)
    theirs = F.pixel_unshuffle(x.T.reshape(1, d, h, w), 2)  # (1, 4 d, h/2, w/2), channel c*4 + j
    theirs = theirs[0].view(d, 4, -1).permute(2, 1, 0)      # (tokens, 4, d)
    assert torch.equal(ours, theirs)


def test_projector_maps_shuffled_tokens_to_the_language_width_with_the_counted_parameters():
    proj = MLPProjector(8, 12)
    assert proj(torch.randn(5, 32)).shape == (5, 12)
    assert sum(p.numel() for p in proj.parameters()) == projector_parameters(8, 12)
    assert projector_parameters(1152, 2048) == 30_679_808  # Kimi-VL's projector


# ----------------------------------------------------------------------------------------
# Mixture of experts
# ----------------------------------------------------------------------------------------
def _moe(**changes):
    config = replace(MoEConfig(hidden_size=16, moe_intermediate_size=8, n_routed_experts=6,
                               num_experts_per_tok=2, n_shared_experts=1), **changes)
    torch.manual_seed(0)
    return MoE(config).eval()


@pytest.mark.parametrize("scoring", ["softmax", "sigmoid"])
def test_topk_routing_sends_each_token_to_exactly_k_routed_experts_plus_the_shared_ones(scoring):
    moe = _moe(scoring_func=scoring, num_experts_per_tok=3, n_shared_experts=2)
    x = torch.randn(40, 16)
    with torch.no_grad():
        out = moe(x)
    routing = moe.last_routing
    assert routing.topk_indices.shape == (40, 3)
    assert all(len(set(row)) == 3 for row in routing.topk_indices.tolist())   # k distinct experts
    assert int(moe.last_load.sum()) == 40 * 3
    with torch.no_grad():                       # the output is exactly shared + k routed experts
        manual = moe.shared_experts(x).clone()
        for t in range(40):
            for e, g in zip(routing.topk_indices[t].tolist(), routing.topk_weights[t]):
                manual[t] += g * moe.experts[e](x[t])
    torch.testing.assert_close(out, manual, rtol=0, atol=1e-6)
    torch.testing.assert_close(routing.topk_weights.sum(-1), torch.ones(40))


def test_activated_parameter_count_matches_a_count_by_hand():
    config = MoEConfig(hidden_size=16, moe_intermediate_size=8, n_routed_experts=6,
                       num_experts_per_tok=2, n_shared_experts=1)
    # one expert: gate_proj, up_proj (16 x 8 each) and down_proj (8 x 16) = 384
    expert = 3 * 16 * 8
    assert moe_layer_parameter_counts(config) == {
        "expert": 384, "router": 6 * 16,
        "total": 6 * expert + 1 * expert + 6 * 16,          # 2784
        "activated": 2 * expert + 1 * expert + 6 * 16,      # 1248
    }
    assert sum(p.numel() for p in MoE(config).parameters()) == 2784


def test_moe_names_and_outputs_match_transformers_deepseek_v3_moe():
    from transformers import DeepseekV3Config
    from transformers.models.deepseek_v3.modeling_deepseek_v3 import DeepseekV3MoE

    moe = _moe(scoring_func="sigmoid", n_shared_experts=2, routed_scaling_factor=2.5)
    with torch.no_grad():
        moe.gate.e_score_correction_bias.normal_(0, 0.1)
    hf_config = DeepseekV3Config(hidden_size=16, moe_intermediate_size=8, n_routed_experts=6,
                                 num_experts_per_tok=2, n_shared_experts=2, n_group=1,
                                 topk_group=1, routed_scaling_factor=2.5, norm_topk_prob=True)
    hf_config._experts_implementation = "eager"
    reference = DeepseekV3MoE(hf_config).eval()
    reference.load_state_dict(to_transformers_state_dict(moe), strict=True)
    assert {k for k in moe.state_dict() if not k.startswith("experts.")} == \
           {k for k in reference.state_dict() if not k.startswith("experts.")}
    assert "experts.0.gate_proj.weight" in moe.state_dict()
    x = torch.randn(3, 5, 16)
    with torch.no_grad():
        torch.testing.assert_close(moe(x), reference(x), rtol=0, atol=1e-5)


def test_moonlight_has_16b_parameters_like_transformers_builds_it_and_about_3b_activated():
    from transformers import DeepseekV3Config
    from transformers.models.deepseek_v3.modeling_deepseek_v3 import DeepseekV3ForCausalLM

    counts = moe_lm_parameter_counts(MOONLIGHT)
    with torch.device("meta"):
        reference = DeepseekV3ForCausalLM(DeepseekV3Config(**MOONLIGHT.to_hf_kwargs()))
    assert counts["total"] == sum(p.numel() for p in reference.parameters())
    assert counts["total"] == pytest.approx(KIMI_VL_PUBLISHED["language_total"], rel=0.01)
    # the report's 2.8B and Moonlight's "A3B" lie between our two ways of counting
    assert counts["activated_non_embedding"] < KIMI_VL_PUBLISHED["language_activated"] < counts["activated"]
    assert counts["activated"] == pytest.approx(3e9, rel=0.05)


def test_auxiliary_loss_is_alpha_when_the_load_is_even_and_grows_when_it_is_not():
    moe = _moe(scoring_func="softmax", balancing="aux_loss", aux_loss_alpha=0.1,
               num_experts_per_tok=1)
    from mlbook.vlm import RouterOutput
    even = RouterOutput(torch.full((6, 6), 1 / 6), torch.arange(6)[:, None], torch.ones(6, 1))
    skewed = RouterOutput(torch.eye(6)[[0] * 6], torch.zeros(6, 1, dtype=torch.long), torch.ones(6, 1))
    assert float(moe.auxiliary_loss(even)) == pytest.approx(0.1)
    assert float(moe.auxiliary_loss(skewed)) == pytest.approx(0.1 * 6)


def test_loss_free_bias_lowers_overloaded_experts_and_raises_underloaded_ones():
    moe = _moe(balancing="bias", bias_update_speed=0.5)
    moe.update_bias(torch.tensor([10.0, 0, 2, 2, 2, 2]))
    assert moe.gate.e_score_correction_bias.tolist() == [-0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    assert [p for p, _ in moe.named_parameters()].count("gate.e_score_correction_bias") == 0


def test_steps_to_balance_finds_the_first_window_whose_mean_violation_is_low():
    import numpy as np
    from mlbook.vlm import BalanceRun, step_violations, steps_to_balance

    uneven, even = np.array([4.0, 0, 0, 0]), np.ones(4)       # violations 3 and 0
    history = [uneven] * 6 + [even] * 10
    run = BalanceRun(MoEConfig(hidden_size=4, moe_intermediate_size=4, n_routed_experts=4,
                               num_experts_per_tok=1), even, history)
    assert step_violations(run).tolist() == [3.0] * 6 + [0.0] * 10
    # 4-step means reported at steps 4, 5, ...: 3, 3, 3, 2.25, 1.5, 0.75, 0 (steps 7-10), ...
    assert steps_to_balance(run, threshold=0.5, window=4) == 10
    assert steps_to_balance(run, threshold=2.0, window=4) == 8
    assert steps_to_balance(BalanceRun(run.config, uneven, [uneven] * 12), window=4) is None
    with pytest.raises(ValueError, match="window"):
        steps_to_balance(run, window=0)


# ----------------------------------------------------------------------------------------
# The tiny VLM
# ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny():
    vocab = make_vocab()
    config = replace(TINY_VLM, text=replace(TINY_VLM.text, vocab_size=len(vocab)))
    train_images, train_labels, _, _ = digit_pools()
    examples = make_digit_vqa(train_images, train_labels, 64, seed=0)
    return vocab, config, examples


def test_vlm_puts_image_tokens_before_the_question_and_counts_activated_parameters(tiny):
    vocab, config, examples = tiny
    model = TinyVLM(config, seed=0)
    batch = collate(examples[:4], vocab, config.vision.patch_size)
    logits = model(batch)
    n_image = [len(e) for e in model.image_embeddings(batch.images)]
    assert logits.shape[0] == 4 and logits.shape[-1] == len(vocab)
    assert batch.answer_positions.tolist() == [n + len(ex.question.split()) - 1
                                               for n, ex in zip(n_image, examples[:4])]
    counts = vlm_parameter_counts(config)
    assert counts["total"] == model.num_parameters() == model_parameters_by_part(model)
    per_layer = moe_layer_parameter_counts(config.moe)
    assert counts["total"] - counts["activated"] == 2 * (per_layer["total"] - per_layer["activated"])
    assert counts["activated"] == model.num_activated_parameters()


def test_vlm_logits_are_the_decoder_loop_on_its_embeddings_bit_for_bit(tiny):
    """TinyVLM feeds its image and word vectors to LlamaModel(inputs_embeds=...): the logits
    equal, with tolerance 0, the decoder loop written out (rotary tables, each layer, the final
    norm, lm_head: the loop TinyVLM.decode ran before it used inputs_embeds)."""
    vocab, config, examples = tiny
    model = TinyVLM(config, seed=0).eval()
    batch = collate(examples[:4], vocab, config.vision.patch_size)
    lm = model.language_model
    seen = []
    hook = lm.model.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["inputs_embeds"]), with_kwargs=True)
    try:
        with torch.no_grad():
            logits = model(batch)
    finally:
        hook.remove()
    (x,) = seen
    with torch.no_grad():
        cos, sin = lm.model.rotary_emb(0, x.shape[1])
        h = x
        for layer in lm.model.layers:
            h = layer(h, cos, sin)
        expected = lm.lm_head(lm.model.norm(h))
    assert logits.shape == (4, x.shape[1], len(vocab))
    assert torch.equal(logits, expected)


def model_parameters_by_part(model):
    return sum(sum(p.numel() for p in part.parameters())
               for part in (model.vision_tower, model.multi_modal_projector, model.language_model))


@pytest.mark.parametrize("changes", [{"first_k_dense_replace": 1},
                                     {"moe": replace(TINY_VLM.moe, n_routed_experts=5,
                                                     num_experts_per_tok=3, n_shared_experts=0)}])
def test_vlm_parameter_count_from_the_config_equals_the_built_model(changes):
    config = replace(TINY_VLM, **changes)
    assert vlm_parameter_counts(config)["total"] == TinyVLM(config, seed=None).num_parameters()


def test_seeds_follow_llamas_rule_and_leave_the_global_generator_alone():
    """An integer seed: the same weights every time, PyTorch's global generator untouched;
    None: weights from the global generator, as Llama(seed=None) draws them."""
    from mlbook.vlm import train_balancing_demo

    def weights(model):
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    torch.manual_seed(123)
    state = torch.get_rng_state()
    first = weights(TinyVLM(TINY_VLM, seed=3))
    assert torch.equal(torch.get_rng_state(), state)
    x, y = torch.randn(64, 6), torch.randint(0, 3, (64,))
    state = torch.get_rng_state()
    config = MoEConfig(hidden_size=8, moe_intermediate_size=8, n_routed_experts=4,
                       num_experts_per_tok=2, n_shared_experts=0, balancing="bias")
    runs = [train_balancing_demo(x, y, x, y, config, steps=3, batch_size=16, last=3, seed=5,
                                 progress=False) for _ in range(2)]
    assert torch.equal(torch.get_rng_state(), state)         # no global side effect
    assert (runs[0].load == runs[1].load).all()
    assert torch.equal(weights(TinyVLM(TINY_VLM, seed=3)), first)
    assert torch.equal(torch.get_rng_state(), state)
    unseeded = [weights(TinyVLM(TINY_VLM, seed=None)) for _ in range(2)]
    assert not torch.equal(unseeded[0], unseeded[1])          # the global generator moves on
    torch.manual_seed(7)
    again = weights(TinyVLM(TINY_VLM, seed=None))
    torch.manual_seed(7)
    assert torch.equal(weights(TinyVLM(TINY_VLM, seed=None)), again)


def test_training_steps_lower_the_loss_and_move_the_expert_biases(tiny):
    vocab, config, examples = tiny
    model = TinyVLM(config, seed=0)
    history = train_vlm(model, examples, vocab, TrainConfig(steps=8, batch_size=8, lr=3e-3,
                                                              warmup_steps=1), progress=False)
    assert history.loss[-1] < history.loss[0]
    assert any(m.gate.e_score_correction_bias.abs().sum() > 0 for m in model.moe_layers())
    assert history.load[-1].shape == (2, 8)


# ----------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------
def test_an_image_smaller_than_one_patch_is_refused():
    with pytest.raises(ValueError, match="smaller than one patch"):
        patch_grid(10, 30, 14)
    with pytest.raises(ValueError, match="smaller than one patch"):
        pack_images([torch.zeros(1, 3, 8)], 4)


def test_a_side_not_divisible_by_the_patch_size_is_refused_not_cropped():
    with pytest.raises(ValueError, match="multiples of the patch size 14.*pad_to_multiple"):
        patch_grid(30, 28, 14)
    with pytest.raises(ValueError, match="multiples of 2"):
        token_counts(42, 28)                                 # 3 x 2 patches: no 2 x 2 blocks
    with pytest.raises(ValueError, match="multiples of 2"):
        pixel_shuffle(torch.zeros(6, 4), [(3, 2)])


def test_top_k_larger_than_the_number_of_experts_is_refused():
    with pytest.raises(ValueError, match=r"num_experts_per_tok .* \[1, n_routed_experts = 4\]"):
        MoEConfig(hidden_size=8, moe_intermediate_size=8, n_routed_experts=4, num_experts_per_tok=5)
    with pytest.raises(ValueError, match="num_experts_per_tok"):
        MoEConfig(hidden_size=8, moe_intermediate_size=8, n_routed_experts=4, num_experts_per_tok=0)
    with pytest.raises(ValueError, match="num_experts_per_tok"):
        replace(MOONLIGHT, num_experts_per_tok=65)


def test_zero_experts_is_refused():
    with pytest.raises(ValueError, match="n_routed_experts must be a positive integer"):
        MoEConfig(hidden_size=8, moe_intermediate_size=8, n_routed_experts=0, num_experts_per_tok=1)
    with pytest.raises(ValueError, match="n_routed_experts"):
        MoELanguageModelSizes(**{**MOONLIGHT.__dict__, "n_routed_experts": 0})


def test_other_bad_settings_are_refused():
    with pytest.raises(ValueError, match="scoring_func"):
        MoEConfig(hidden_size=8, moe_intermediate_size=8, scoring_func="relu")
    with pytest.raises(ValueError, match="multiple of 4"):
        MoonViTConfig(hidden_size=24, num_attention_heads=4)
    with pytest.raises(ValueError, match="head_dim must be a positive multiple of 4"):
        rope_2d_cos_sin([(2, 2)], 6)
    with pytest.raises(ValueError, match="must equal"):
        replace(TINY_VLM, moe=replace(TINY_VLM.moe, hidden_size=32))
