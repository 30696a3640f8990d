"""LoRA: fine-tuning a frozen linear layer through a low-rank update (chapter 7).

Backs the section "LoRA: fine-tuning a low-rank update" of chapter 7. Follows Hu et al.,
*LoRA: Low-Rank Adaptation of Large Language Models* (ICLR 2022), with the initialisation
of Microsoft's ``loralib`` and the parameter shapes of Hugging Face's ``peft``.

* :class:`LoRALinear`: ``W x + (alpha / r) B A x`` (7.4) around a frozen ``nn.Linear``;
* :func:`apply_lora` wraps the named linear layers of any model (and freezes the rest),
  :func:`merge_lora` folds the updates back into plain ``nn.Linear`` layers;
* :func:`trainable_parameters` and :func:`lora_parameter_count` (the adapters of a LLaMA
  of a given shape: 4,194,304 for the alpaca-lora recipe on LLaMA-7B).

Nothing here depends on instruction tuning: any ``nn.Module`` with ``nn.Linear`` children
can take adapters.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import (check_count, check_instance, check_integer_seed, check_list,
                      check_positive, check_tensor)
from .llama import LlamaConfig

__all__ = [
    "LoRALinear", "LORA_TARGETS", "apply_lora", "merge_lora", "trainable_parameters",
    "lora_parameter_count",
]


# ----------------------------------------------------------------------------------------
# LoRA
# ----------------------------------------------------------------------------------------
class LoRALinear(nn.Module):
    """``y = W x + (alpha / r) B A x`` (7.4): a frozen ``nn.Linear`` plus a low-rank update.

    ``W``: ``(out, in)``, frozen (``base``); ``A``: ``(r, in)``, Kaiming-uniform as in
    Microsoft's ``loralib``; ``B``: ``(out, r)``, zeros, so the wrapped layer starts out
    computing exactly what ``base`` computes. Only ``lora_A`` and ``lora_B`` train.
    Parameter shapes match ``peft``'s ``lora_A``/``lora_B`` weights.
    """

    def __init__(self, base: nn.Linear, rank: int, alpha: float = 1.0, *,
                 generator: torch.Generator | None = None):
        super().__init__()
        check_instance("base", base, nn.Linear, what="an nn.Linear (LoRALinear wraps one)")
        rank = check_count("rank", rank)
        if rank > min(base.in_features, base.out_features):
            raise ValueError(f"rank ({rank}) must not exceed min(in, out) = "
                             f"{min(base.in_features, base.out_features)}")
        check_positive("alpha", alpha)
        if generator is not None:
            check_instance("generator", generator, torch.Generator,
                           what="a torch.Generator or None")
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.rank, self.alpha = rank, float(alpha)
        self.scaling = self.alpha / rank
        w = base.weight
        bound = 1 / math.sqrt(base.in_features)        # kaiming_uniform_(a=sqrt(5)) bound
        a = (torch.rand(rank, base.in_features, generator=generator) * 2 - 1) * bound
        self.lora_A = nn.Parameter(a.to(w.dtype).to(w.device))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank, dtype=w.dtype,
                                               device=w.device))

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def delta_weight(self) -> torch.Tensor:
        """The update ``(alpha / r) B A``, shape ``(out, in)``, of rank at most ``r``."""
        return self.scaling * (self.lora_B @ self.lora_A)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        # W x + (alpha / r) B (A x): two thin products, never the d_out x d_in matrix B A
        return self.base(x) + F.linear(F.linear(x, self.lora_A), self.lora_B * self.scaling)

    def _check_input(self, x: Any) -> None:
        """``x``: a floating-point tensor ``(..., in)``; NaN and inf propagate, as in any
        ``nn.Linear`` (no scan of the activations)."""
        check_tensor("x", x, finite=False, min_size=0, layout=f"(..., in={self.in_features})")
        if x.dim() == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"x must have shape (..., in={self.in_features}), got "
                             f"{tuple(x.shape)}")

    def merged(self) -> nn.Linear:
        """A plain ``nn.Linear`` with weight ``W + (alpha / r) B A``: no cost at inference."""
        out = nn.Linear(self.in_features, self.out_features, bias=self.base.bias is not None,
                        device=self.base.weight.device, dtype=self.base.weight.dtype)
        with torch.no_grad():
            out.weight.copy_(self.base.weight + self.delta_weight())
            if self.base.bias is not None:
                out.bias.copy_(self.base.bias)
        return out

    def extra_repr(self) -> str:
        return f"rank={self.rank}, alpha={self.alpha}"


LORA_TARGETS = ("q_proj", "v_proj")   # the LoRA paper's choice for GPT-3 (section 7.1)


def _check_targets(targets: Any) -> list[str]:
    return check_list("targets", targets, what="a list of module names such as 'q_proj'",
                      item=lambda n, v: check_instance(n, v, str, what="a module name"))


def apply_lora(model: nn.Module, rank: int = 8, alpha: float = 16.0,
               targets: Sequence[str] = LORA_TARGETS, *, seed: int = 0) -> nn.Module:
    """Wrap every ``nn.Linear`` whose name ends in one of ``targets`` in :class:`LoRALinear`.

    Every other parameter is frozen (``requires_grad=False``), so an optimizer over
    ``trainable_parameters(model)`` trains the adapters alone. Modifies ``model`` in place
    and returns it. ``targets`` are module names such as ``"q_proj"``, ``"down_proj"``.
    """
    check_instance("model", model, nn.Module, what="a torch.nn.Module")
    check_count("rank", rank)
    check_positive("alpha", alpha)
    targets = _check_targets(targets)
    seed = check_integer_seed("seed", seed, fresh_if_none=True)
    found = [(module, child_name, child) for _, module in model.named_modules()
             for child_name, child in module.named_children()
             if child_name in targets and isinstance(child, nn.Linear)]
    if not found:
        raise ValueError(f"targets: the model has no nn.Linear named {targets}")
    smallest = min(min(child.in_features, child.out_features) for _, _, child in found)
    if rank > smallest:
        raise ValueError(f"rank ({rank}) must not exceed min(in, out) = {smallest} of the "
                         f"smallest layer named in targets")
    for p in model.parameters():              # checked: now the model is changed
        p.requires_grad_(False)
    generator = torch.Generator().manual_seed(seed)
    for module, child_name, child in found:
        setattr(module, child_name, LoRALinear(child, rank, alpha, generator=generator))
    return model


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every :class:`LoRALinear` by its merged ``nn.Linear`` (in place; returned).

    The merged model computes the same function, with no extra cost per token, and has
    exactly the original parameter names. Every parameter is made trainable again.
    """
    check_instance("model", model, nn.Module, what="a torch.nn.Module")
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, LoRALinear):
                setattr(module, child_name, child.merged())
    for p in model.parameters():
        p.requires_grad_(True)
    return model


def trainable_parameters(model: nn.Module) -> int:
    """Number of parameters with ``requires_grad``."""
    check_instance("model", model, nn.Module, what="a torch.nn.Module")
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def lora_parameter_count(config: LlamaConfig, rank: int,
                         targets: Sequence[str] = LORA_TARGETS) -> int:
    """Adapter parameters of LoRA on a LLaMA of this shape: ``r (in + out)`` per wrapped matrix.

    For LLaMA-7B, ``rank=8`` on ``q_proj`` and ``v_proj`` gives 4,194,304, the number
    ``peft`` prints for the alpaca-lora recipe.
    """
    check_instance("config", config, LlamaConfig)
    rank = check_count("rank", rank)
    targets = _check_targets(targets)
    d, kv, f = config.dim, config.n_kv_heads * config.head_dim, config.ffn_hidden_dim
    shapes = {"q_proj": (d, d), "k_proj": (d, kv), "v_proj": (d, kv), "o_proj": (d, d),
              "gate_proj": (d, f), "up_proj": (d, f), "down_proj": (f, d)}
    unknown = [t for t in targets if t not in shapes]
    if unknown:
        raise ValueError(f"unknown targets {unknown}; choose among {list(shapes)}")
    return config.n_layers * sum(rank * sum(shapes[t]) for t in targets)
