"""Chapter 6: the memory arithmetic of training (weights, gradients, Adam states, ZeRO)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlbook.llm import scaling
from mlbook.llm.llama import LLAMA_SIZES, Llama, LlamaConfig, causal_lm_loss, count_parameters
from mlbook.llm.train import TrainConfig, make_optimizer


@pytest.mark.parametrize("precision, per_param", [("mixed", 2 + 2 + 4 + 4 + 4), ("fp32", 4 * 4)])
def test_model_states_cost_sixteen_bytes_per_parameter(precision, per_param):
    n = count_parameters(LLAMA_SIZES["7B"])
    states = scaling.training_memory_bytes(n, precision)
    assert states["total"] == per_param * n == 16 * n
    assert sum(v for k, v in states.items() if k != "total") == states["total"]


def test_mixed_precision_keeps_16_bit_weights_and_gradients_and_32_bit_adam_states():
    states = scaling.training_memory_bytes(1000.0)
    assert states["weights"] == states["gradients"] == 2000
    assert states["master weights"] == states["Adam first moment"] == states["Adam second moment"] == 4000


def test_fp32_count_is_what_pytorch_allocates_for_adamw():
    """Weights, gradients and AdamW's two moments of a real model after one step: 16 N bytes."""
    config = LlamaConfig(vocab_size=64, dim=32, n_layers=2, n_heads=4, n_kv_heads=2, max_seq_len=16)
    model = Llama(config, seed=0)
    optimizer = make_optimizer(model, TrainConfig(steps=2, warmup_steps=0))
    ids = torch.randint(0, 64, (2, 9), generator=torch.Generator().manual_seed(0))
    causal_lm_loss(model(ids[:, :-1]), ids[:, 1:]).backward()
    optimizer.step()
    params = list(model.parameters())
    nbytes = lambda ts: sum(t.numel() * t.element_size() for t in ts)
    measured = {
        "weights": nbytes(params),
        "gradients": nbytes(p.grad for p in params),
        "Adam first moment": nbytes(optimizer.state[p]["exp_avg"] for p in params),
        "Adam second moment": nbytes(optimizer.state[p]["exp_avg_sq"] for p in params),
    }
    predicted = scaling.training_memory_bytes(count_parameters(config), "fp32")
    for state, value in measured.items():
        assert value == predicted[state], state
    assert sum(measured.values()) == predicted["total"]


def test_zero_stages_reproduce_the_zero_paper_example():
    """Rajbhandari et al. (2020), figure 1: 7.5B parameters on 64 devices, in GB."""
    n, gb = 7.5e9, 1e9
    per_device = [scaling.training_memory_bytes(n, devices=64, zero_stage=s)["total"] / gb
                  for s in range(4)]
    assert per_device == pytest.approx([120, 31.4, 16.6, 1.88], abs=0.05)


@pytest.mark.parametrize("devices", [1, 2, 8, 2048])
def test_zero_stages_only_ever_lower_the_memory_and_stage_3_divides_it_all(devices):
    n = 6.5e10
    totals = [scaling.training_memory_bytes(n, devices=devices, zero_stage=s)["total"]
              for s in range(4)]
    assert all(a >= b for a, b in zip(totals, totals[1:]))
    assert totals[0] == 16 * n                       # plain data parallelism: a full copy each
    assert totals[3] == pytest.approx(16 * n / devices)
    if devices > 1:
        assert totals[0] > totals[1] > totals[2] > totals[3]


def test_fp32_weights_are_sharded_only_at_stage_3():
    n, w = 1e9, 4
    stage2 = scaling.training_memory_bytes(n, "fp32", devices=w, zero_stage=2)
    stage3 = scaling.training_memory_bytes(n, "fp32", devices=w, zero_stage=3)
    assert stage2["weights"] == 4 * n and stage3["weights"] == 4 * n / w
    assert stage2["gradients"] == 4 * n / w


def test_arrays_of_sizes_give_arrays_of_bytes():
    sizes = np.array([count_parameters(c) for c in LLAMA_SIZES.values()], dtype=float)
    total = scaling.training_memory_bytes(sizes)["total"]
    assert total.shape == (4,) and np.array_equal(total, 16 * sizes)


@pytest.mark.parametrize("kwargs, error, word", [
    (dict(n_params=0), ValueError, "n_params"),
    (dict(n_params=float("nan")), ValueError, "n_params"),
    (dict(n_params=1e9, precision="fp16"), ValueError, "precision"),
    (dict(n_params=1e9, devices=0), ValueError, "devices"),
    (dict(n_params=1e9, devices=2.0), TypeError, "devices"),
    (dict(n_params=1e9, devices=True), TypeError, "devices"),
    (dict(n_params=1e9, zero_stage=4), ValueError, "zero_stage"),
    (dict(n_params=1e9, zero_stage="3"), TypeError, "zero_stage"),
])
def test_bad_arguments_are_rejected_by_name(kwargs, error, word):
    with pytest.raises(error, match=word):
        scaling.training_memory_bytes(**kwargs)
