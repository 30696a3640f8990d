"""Chapter 6: the LLaMA model, its training loop and the cached tiny LLaMA."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from mlbook.llm.data import build_corpus
from mlbook.llm.llama import (LLAMA_SIZES, PUBLISHED_PARAMETERS, KVCache, Llama, LlamaConfig,
                              apply_rope, apply_rope_interleaved, causal_lm_loss,
                              count_parameters, generate, permute_hf_to_meta,
                              permute_meta_to_hf, rope_cos_sin, sample_next_token,
                              saved_activation_bytes)
from mlbook.llm.train import (TrainConfig, cosine_lr, load_checkpoint, make_optimizer,
                              pretrained_tiny_llama, save_checkpoint, tiny_llama_key, train)



#: Small tensors: one torch thread is as fast, and is not slowed by busy cores.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


SMALL = LlamaConfig(vocab_size=97, dim=32, n_layers=2, n_heads=4, n_kv_heads=2,
                    multiple_of=16, max_seq_len=48)


@pytest.fixture(scope="module")
def corpus():
    return build_corpus(512)


# ----------------------------------------------------------------------------------------
# Parameter counts
# ----------------------------------------------------------------------------------------
def test_parameter_count_of_llama_7b_is_6_738_415_616():
    assert count_parameters(LLAMA_SIZES["7B"]) == 6_738_415_616


@pytest.mark.parametrize("size", ["7B", "13B", "33B", "65B"])
def test_parameter_counts_reproduce_the_released_models(size):
    assert count_parameters(LLAMA_SIZES[size]) == PUBLISHED_PARAMETERS[size]


def test_swiglu_hidden_size_is_two_thirds_of_4d_rounded_up_to_256():
    hidden = {k: c.ffn_hidden_dim for k, c in LLAMA_SIZES.items()}
    assert hidden == {"7B": 11008, "13B": 13824, "33B": 17920, "65B": 22016}


@pytest.mark.parametrize("n_kv_heads", [4, 2, 1])
def test_count_from_the_config_equals_the_built_model(n_kv_heads):
    config = replace(SMALL, n_kv_heads=n_kv_heads)
    assert Llama(config).num_parameters() == count_parameters(config)


# ----------------------------------------------------------------------------------------
# RoPE
# ----------------------------------------------------------------------------------------
def _score(q, k, m, n, theta=10000.0):
    cos, sin = rope_cos_sin(torch.tensor([m, n]), q.shape[-1], theta)
    return float(apply_rope(q, cos[:1], sin[:1]) @ apply_rope(k, cos[1:], sin[1:]).T)


def test_rope_score_depends_only_on_the_relative_position():
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(1, 64, generator=g, dtype=torch.float64), torch.randn(1, 64, generator=g, dtype=torch.float64)
    for m, n in [(5, 2), (40, 3), (7, 7)]:
        reference = _score(q, k, m, n)
        for shift in (1, 17, 300):
            assert _score(q, k, m + shift, n + shift) == pytest.approx(reference, rel=1e-5)  # float32 angles
    # and it does depend on the distance
    assert abs(_score(q, k, 10, 0) - _score(q, k, 11, 0)) > 1e-3


def test_rope_is_a_rotation_it_keeps_lengths():
    x = torch.randn(3, 10, 16, dtype=torch.float64)
    cos, sin = rope_cos_sin(torch.arange(10), 16)
    assert torch.allclose(apply_rope(x, cos.double(), sin.double()).norm(dim=-1), x.norm(dim=-1))


def test_meta_interleaved_and_hf_half_layouts_agree_after_the_permutation():
    torch.manual_seed(0)
    n_heads, hd, d, t = 2, 8, 16, 6
    x = torch.randn(t, d)
    wq_meta, wk_meta = torch.randn(n_heads * hd, d), torch.randn(n_heads * hd, d)
    positions = torch.arange(t)
    cos, sin = rope_cos_sin(positions, hd)

    def heads(v):
        return v.view(t, n_heads, hd).transpose(0, 1)                    # (H, T, hd)

    q_meta = apply_rope_interleaved(heads(x @ wq_meta.T), positions)
    k_meta = apply_rope_interleaved(heads(x @ wk_meta.T), positions)
    q_hf = apply_rope(heads(x @ permute_meta_to_hf(wq_meta, n_heads).T), cos, sin)
    k_hf = apply_rope(heads(x @ permute_meta_to_hf(wk_meta, n_heads).T), cos, sin)
    assert torch.allclose(q_meta @ k_meta.transpose(-1, -2), q_hf @ k_hf.transpose(-1, -2), atol=1e-4)
    assert not torch.allclose(q_meta @ k_meta.transpose(-1, -2),
                              heads(x @ wq_meta.T) @ heads(x @ wk_meta.T).transpose(-1, -2), atol=1e-2)
    assert torch.equal(permute_hf_to_meta(permute_meta_to_hf(wq_meta, n_heads), n_heads), wq_meta)


# ----------------------------------------------------------------------------------------
# Causality, the KV cache and sampling
# ----------------------------------------------------------------------------------------
def test_changing_a_future_token_never_changes_an_earlier_logit():
    model = Llama(SMALL, seed=0).eval()
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, SMALL.vocab_size, (2, 20), generator=g)
    with torch.no_grad():
        before = model(ids)
        for j in (5, 12, 19):
            changed = ids.clone()
            changed[:, j] = (changed[:, j] + 1) % SMALL.vocab_size
            after = model(changed)
            assert torch.equal(before[:, :j], after[:, :j])
            assert not torch.allclose(before[:, j], after[:, j])


def test_kv_cache_gives_the_same_logits_as_a_full_forward():
    model = Llama(SMALL, seed=0).eval()
    ids = torch.randint(0, SMALL.vocab_size, (2, 16), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        full = model(ids)
        cache = KVCache(SMALL, batch_size=2)
        parts = [model(ids[:, :6], cache), model(ids[:, 6:9], cache)]
        parts += [model(ids[:, t:t + 1], cache) for t in range(9, 16)]
    assert cache.length == 16
    assert torch.allclose(torch.cat(parts, dim=1), full, atol=1e-5)


def test_inputs_embeds_give_the_same_hidden_states_as_the_token_ids_they_embed():
    """LlamaModel(inputs_embeds=embed_tokens(ids)) is LlamaModel(ids), bit for bit, with and
    without a cache; and it matches transformers' LlamaModel given the same embeddings."""
    import transformers

    model = Llama(SMALL, seed=0).eval()
    ids = torch.randint(0, SMALL.vocab_size, (2, 12), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        embeds = model.model.embed_tokens(ids)
        assert torch.equal(model.model(inputs_embeds=embeds), model.model(ids))
        cache_ids, cache_embeds = KVCache(SMALL, 2), KVCache(SMALL, 2)
        for a, b in ((0, 7), (7, 12)):
            by_ids = model.model(ids[:, a:b], cache_ids)
            by_embeds = model.model(None, cache_embeds, inputs_embeds=embeds[:, a:b])
            cache_ids.length += b - a
            cache_embeds.length += b - a
            assert torch.equal(by_ids, by_embeds)
        theirs = transformers.LlamaForCausalLM(transformers.LlamaConfig(**SMALL.to_hf_kwargs()))
        theirs.load_state_dict(model.state_dict(), strict=True)
        hf = theirs.eval().model(inputs_embeds=embeds).last_hidden_state
    assert torch.allclose(model.model(inputs_embeds=embeds), hf, atol=1e-5)


def test_exactly_one_of_input_ids_and_inputs_embeds_is_given():
    model = Llama(SMALL, seed=0).model
    ids = torch.zeros(1, 3, dtype=torch.long)
    with pytest.raises(ValueError, match="exactly one of input_ids .* and inputs_embeds"):
        model()
    with pytest.raises(ValueError, match="exactly one of input_ids .* and inputs_embeds"):
        model(ids, inputs_embeds=model.embed_tokens(ids))
    with pytest.raises(ValueError, match="inputs_embeds must have shape"):
        model(inputs_embeds=torch.zeros(3, SMALL.dim))
    with pytest.raises(ValueError, match="inputs_embeds: a sequence of .* longer than the context"):
        model(inputs_embeds=torch.zeros(1, SMALL.max_seq_len + 1, SMALL.dim))
    with pytest.raises(TypeError, match="inputs_embeds must have the module's dtype"):
        model(inputs_embeds=torch.zeros(1, 3, SMALL.dim, dtype=torch.float64))


def test_generation_with_and_without_the_cache_agree():
    model = Llama(SMALL, seed=3)
    prompt = torch.tensor([1, 5, 9])
    fast = generate(model, prompt, 20, greedy=True)
    slow = generate(model, prompt, 20, greedy=True, use_cache=False)
    assert torch.equal(fast, slow) and fast.shape == (23,)
    a = generate(model, prompt, 20, temperature=0.9, top_p=0.9, seed=7)
    b = generate(model, prompt, 20, temperature=0.9, top_p=0.9, seed=7, use_cache=False)
    assert torch.equal(a, b)


def test_top_p_samples_only_from_the_nucleus():
    logits = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log().expand(4000, 4)
    g = torch.Generator().manual_seed(0)
    drawn = sample_next_token(logits, top_p=0.7, generator=g)
    assert set(drawn.tolist()) == {0, 1}
    assert (drawn == 0).float().mean() == pytest.approx(0.5 / 0.8, abs=0.03)
    assert set(sample_next_token(logits, top_p=0.4, generator=g).tolist()) == {0}
    assert set(sample_next_token(logits, top_p=1.0, generator=g).tolist()) == {0, 1, 2, 3}


def test_low_temperature_sharpens_and_high_temperature_flattens():
    logits = torch.tensor([[2.0, 1.0, 0.0]]).expand(3000, 3)
    g = torch.Generator().manual_seed(0)
    cold = (sample_next_token(logits, temperature=0.05, generator=g) == 0).float().mean()
    warm = (sample_next_token(logits, temperature=1.0, generator=g) == 0).float().mean()
    hot = (sample_next_token(logits, temperature=50.0, generator=g) == 0).float().mean()
    assert cold > 0.99 and abs(warm - torch.softmax(logits[0], 0)[0]) < 0.03 and hot < 0.4


# ----------------------------------------------------------------------------------------
# Interoperability with Hugging Face transformers
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_kv_heads, rope_theta", [(4, 10000.0), (2, 500000.0)])
def test_state_dict_loads_into_and_from_transformers_llama(n_kv_heads, rope_theta):
    import transformers

    config = replace(SMALL, n_kv_heads=n_kv_heads, rope_theta=rope_theta)
    ours = Llama(config, seed=0).eval()
    torch.manual_seed(0)
    theirs = transformers.LlamaForCausalLM(transformers.LlamaConfig(**config.to_hf_kwargs())).eval()
    assert {k: v.shape for k, v in ours.state_dict().items()} == \
        {k: v.shape for k, v in theirs.state_dict().items()}
    ids = torch.randint(0, config.vocab_size, (2, 30), generator=torch.Generator().manual_seed(0))

    theirs.load_state_dict(ours.state_dict(), strict=True)           # ours -> theirs
    with torch.no_grad():
        assert torch.allclose(ours(ids), theirs(ids).logits, atol=1e-5)

    other = transformers.LlamaForCausalLM(transformers.LlamaConfig(**config.to_hf_kwargs())).eval()
    ours.load_state_dict(other.state_dict(), strict=True)            # theirs -> ours
    with torch.no_grad():
        assert torch.allclose(ours(ids), other(ids).logits, atol=1e-5)
    back = LlamaConfig.from_hf(other.config)
    assert back.to_hf_kwargs() == config.to_hf_kwargs()
    assert count_parameters(back) == count_parameters(config)


# ----------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------
def test_cosine_schedule_warms_up_to_the_peak_and_ends_at_ten_percent():
    cfg = TrainConfig(steps=100, lr=1e-3, warmup_steps=10)
    lrs = [cosine_lr(s, cfg) for s in range(100)]
    assert lrs[9] == pytest.approx(1e-3) and lrs[0] == pytest.approx(1e-4)
    assert lrs[-1] == pytest.approx(1e-4)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))


def test_optimizer_is_adamw_with_beta2_095_and_no_decay_on_norm_gains():
    opt = make_optimizer(Llama(SMALL), TrainConfig())
    assert isinstance(opt, torch.optim.AdamW)
    decay, no_decay = opt.param_groups
    assert decay["betas"] == (0.9, 0.95) and decay["weight_decay"] == 0.1
    assert no_decay["weight_decay"] == 0.0 and all(p.dim() == 1 for p in no_decay["params"])


def test_training_lowers_the_validation_loss(corpus):
    model = Llama(replace(SMALL, vocab_size=512), seed=0)
    cfg = TrainConfig(steps=40, batch_size=8, seq_len=32, warmup_steps=5, eval_every=40)
    before = float(causal_lm_loss(*_val_logits(model, corpus.val_ids)))
    history = train(model, corpus.train_ids, corpus.val_ids, cfg, progress=False)
    assert history.val_loss[-1] < before - 0.5
    assert history.tokens == 40 * 8 * 32 and history.tokens_per_second > 0


def _val_logits(model, ids, t=32):
    x = ids[:4 * t].view(4, t)
    y = ids[1:4 * t + 1].view(4, t)
    with torch.no_grad():
        return model(x), y


def test_activation_checkpointing_stores_less_and_gives_the_same_gradients():
    ids = torch.randint(0, SMALL.vocab_size, (2, 32), generator=torch.Generator().manual_seed(0))
    model = Llama(SMALL, seed=0)
    plain = saved_activation_bytes(model, ids[:, :-1], ids[:, 1:])
    causal_lm_loss(model(ids[:, :-1]), ids[:, 1:]).backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model.gradient_checkpointing = True
    saved = saved_activation_bytes(model, ids[:, :-1], ids[:, 1:])
    causal_lm_loss(model(ids[:, :-1]), ids[:, 1:]).backward()
    assert saved < plain / 2
    assert all(torch.allclose(g, p.grad, atol=1e-6) for g, p in zip(grads, model.parameters()))


def test_checkpoint_round_trip(tmp_path):
    model = Llama(SMALL, seed=4).eval()
    save_checkpoint(tmp_path / "m.pt", model, note="hello")
    loaded, payload = load_checkpoint(tmp_path / "m.pt")
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        assert torch.equal(model(ids), loaded(ids))
    assert payload["note"] == "hello" and loaded.config == SMALL


def test_pretrained_tiny_llama_trains_once_then_loads_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MLBOOK_CACHE", str(tmp_path))
    config = replace(SMALL, vocab_size=300)
    tc = TrainConfig(steps=3, batch_size=2, seq_len=16, warmup_steps=1)
    first = pretrained_tiny_llama(model_config=config, train_config=tc, progress=False)
    assert not first.from_cache and first.path.parent == tmp_path and first.path.exists()
    second = pretrained_tiny_llama(model_config=config, train_config=tc, progress=False)
    assert second.from_cache and second.path == first.path
    assert all(torch.equal(a, b) for a, b in zip(first.model.state_dict().values(),
                                                 second.model.state_dict().values()))
    assert second.tokenizer.to_str() == first.tokenizer.to_str()
    assert second.history.train_loss == first.history.train_loss
    assert tiny_llama_key(config, tc, 300, "x", 0) != tiny_llama_key(config, replace(tc, steps=4), 300, "x", 0)


def test_a_cached_model_whose_contents_do_not_match_its_key_is_trained_again(tmp_path,
                                                                             monkeypatch):
    """Another model's file under this model's name (a copy or rename gone wrong) is not
    loaded: one warning names the file and why, and the right model is trained and cached."""
    import shutil
    import warnings

    monkeypatch.setenv("MLBOOK_CACHE", str(tmp_path))
    config = replace(SMALL, vocab_size=300)
    tc = TrainConfig(steps=3, batch_size=2, seq_len=16, warmup_steps=1)
    other = pretrained_tiny_llama(model_config=config, train_config=replace(tc, steps=2),
                                  progress=False)
    right = pretrained_tiny_llama(model_config=config, train_config=tc, progress=False)
    shutil.copyfile(other.path, right.path)            # the wrong weights under the right name
    with pytest.warns(RuntimeWarning, match=r"could not be read \(ValueError: it holds the model"):
        healed = pretrained_tiny_llama(model_config=config, train_config=tc, progress=False)
    assert not healed.from_cache
    assert all(torch.equal(a, b) for a, b in zip(healed.model.state_dict().values(),
                                                 right.model.state_dict().values()))
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # and the file on disk is right again
        assert pretrained_tiny_llama(model_config=config, train_config=tc,
                                     progress=False).from_cache


# ----------------------------------------------------------------------------------------
# Data parallelism: two processes under torchrun compute the one-process update
# ----------------------------------------------------------------------------------------
def test_two_process_ddp_under_torchrun_matches_one_process(tmp_path, corpus):
    torchrun = Path(sys.executable).with_name("torchrun")
    assert torchrun.exists() or shutil.which("torchrun")
    args = ["--dim", "32", "--n-layers", "2", "--n-heads", "4", "--n-kv-heads", "2",
            "--vocab-size", "512", "--steps", "3", "--batch-size", "4", "--seq-len", "32",
            "--warmup-steps", "1", "--eval-every", "3"]
    out = tmp_path / "ddp.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node=2",
                          "-m", "mlbook.llm", *args, "--out", str(out)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["world_size"] == 2
    ddp_model, payload = load_checkpoint(out)

    config = LlamaConfig(vocab_size=512, dim=32, n_layers=2, n_heads=4, n_kv_heads=2,
                         multiple_of=32, max_seq_len=256)
    one = Llama(config, seed=0)
    initial = [p.detach().clone() for p in one.parameters()]
    history = train(one, corpus.train_ids, corpus.val_ids,
                    TrainConfig(steps=3, batch_size=4, seq_len=32, warmup_steps=1, eval_every=3),
                    progress=False)
    moved = max(float((p.detach() - q).abs().max()) for p, q in zip(one.parameters(), initial))
    gap = max(float((p.detach() - q.detach()).abs().max())
              for p, q in zip(one.parameters(), ddp_model.parameters()))
    assert moved > 1e-3          # the update is real ...
    assert gap < 1e-5            # ... and the same in both runs
    assert payload["history"]["train_loss"] == pytest.approx(history.train_loss, rel=1e-5)


# ----------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------
def test_dim_not_divisible_by_heads_is_rejected():
    with pytest.raises(ValueError, match="divisible by n_heads"):
        LlamaConfig(dim=100, n_heads=3)


def test_heads_not_divisible_by_kv_heads_is_rejected():
    with pytest.raises(ValueError, match="divisible by n_kv_heads"):
        LlamaConfig(dim=64, n_heads=4, n_kv_heads=3)


def test_a_sequence_longer_than_the_context_is_rejected():
    model = Llama(SMALL)
    with pytest.raises(ValueError, match="longer than the context"):
        model(torch.zeros(1, SMALL.max_seq_len + 1, dtype=torch.long))
    cache = KVCache(SMALL, 1)
    model(torch.zeros(1, SMALL.max_seq_len - 2, dtype=torch.long), cache)
    with pytest.raises(ValueError, match="longer than the context"):
        model(torch.zeros(1, 3, dtype=torch.long), cache)
    with pytest.raises(ValueError, match="longer than the context"):
        generate(model, torch.tensor([1, 2]), SMALL.max_seq_len)


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan")])
def test_non_positive_temperature_is_rejected(temperature):
    with pytest.raises(ValueError, match="temperature"):
        generate(Llama(SMALL), torch.tensor([1]), 3, temperature=temperature)
    with pytest.raises(ValueError, match="temperature"):
        sample_next_token(torch.zeros(1, 5), temperature=temperature)


@pytest.mark.parametrize("top_p", [0.0, -0.1, 1.01])
def test_top_p_outside_zero_one_is_rejected(top_p):
    with pytest.raises(ValueError, match=r"top_p must be in \(0, 1\]"):
        generate(Llama(SMALL), torch.tensor([1]), 3, top_p=top_p)
