"""Compute, tokens and parameters: the budget arithmetic behind LLaMA (chapter 6).

* :func:`training_flops` and :func:`inference_flops_per_token`: the usual estimates
  ``C ~ 6 N D`` for training (equation (6.1) of chapter 6) and ``2 N`` per generated
  token (Kaplan et al., 2020).
* :func:`chinchilla_loss`: the parametric fit ``L(N, D) = E + A / N^alpha + B / D^beta`` of
  Hoffmann et al. (2022), equation (10) of their paper (their "approach 3"); chapter 6,
  equation (6.2). :func:`chinchilla_optimal` minimises it at fixed training compute.
* :func:`training_memory_bytes`: the memory the model states of AdamW training take, per
  parameter (weights, gradients, optimizer states), in mixed precision or float32, and how
  ZeRO's three stages divide it among data-parallel devices (Rajbhandari et al., 2020,
  section 3.1; chapter 6, equations (6.15) and (6.16)).
* The published facts of the LLaMA paper (Touvron et al., 2023): training tokens per size
  (Table 2) and the pre-training data mixture (Table 1).
"""

from __future__ import annotations

import numpy as np

from ..checks import ArgumentTypeError, check_array, check_choice, check_number

__all__ = [
    "CHINCHILLA_FIT", "LLAMA_TRAINING_TOKENS", "LLAMA_DATA_MIXTURE", "training_flops",
    "inference_flops_per_token", "chinchilla_loss", "chinchilla_optimal",
    "TRAINING_STATE_BYTES", "training_memory_bytes",
]

#: Hoffmann et al. (2022), eq. (10): ``E, A, B, alpha, beta`` (loss in nats per token).
CHINCHILLA_FIT = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}

#: Training tokens of the four LLaMA models (Touvron et al., 2023, Table 2).
LLAMA_TRAINING_TOKENS = {"7B": 1.0e12, "13B": 1.0e12, "33B": 1.4e12, "65B": 1.4e12}

#: LLaMA's pre-training data (Table 1): sampling proportion and epochs over each source.
LLAMA_DATA_MIXTURE = {
    # source:        (sampling proportion, epochs, disk size)
    "CommonCrawl":   (0.670, 1.10, "3.3 TB"),
    "C4":            (0.150, 1.06, "783 GB"),
    "GitHub":        (0.045, 0.64, "328 GB"),
    "Wikipedia":     (0.045, 2.45, "83 GB"),
    "Books":         (0.045, 2.23, "85 GB"),
    "ArXiv":         (0.025, 1.06, "92 GB"),
    "StackExchange": (0.020, 1.03, "78 GB"),
}


def _positive(name: str, x) -> np.ndarray:
    """A positive finite number, or an array of them (bool refused), as a float array."""
    if x is None or isinstance(x, (bool, np.bool_, str, bytes)):
        raise ArgumentTypeError(f"{name} must be a positive finite number or an array of them, "
                                f"got {x!r:.60} of type {type(x).__name__}")
    try:
        arr = check_array(name, x)
    except ValueError as error:
        raise type(error)(f"{error} ({name} must be positive and finite)") from None
    if np.any(arr <= 0):
        raise ValueError(f"{name} must be positive and finite, got {x!r}")
    return arr


def _check_fit(fit) -> dict:
    """Hoffmann et al.'s five numbers ``E, A, B, alpha, beta``, finite, the last four > 0."""
    if not isinstance(fit, dict):
        raise ArgumentTypeError(f"fit must be a dict with E, A, B, alpha and beta (like "
                                f"CHINCHILLA_FIT), got {type(fit).__name__}")
    missing = [k for k in CHINCHILLA_FIT if k not in fit]
    if missing:
        raise ValueError(f"fit must have the keys E, A, B, alpha and beta; missing {missing}")
    check_number("fit['E']", fit["E"])
    for k in ("A", "B", "alpha", "beta"):
        check_number(f"fit[{k!r}]", fit[k], minimum=0.0, exclusive_minimum=True)
    return fit


def training_flops(n_params, n_tokens):
    """Floating-point operations to train ``n_params`` parameters on ``n_tokens``: ``6 N D`` (6.1).

    Two FLOPs per parameter per token forward (a multiply and an add), four backward.
    """
    return 6.0 * _positive("n_params", n_params) * _positive("n_tokens", n_tokens)


def inference_flops_per_token(n_params):
    """FLOPs to generate one token with ``n_params`` parameters: ``2 N`` (ignoring attention)."""
    return 2.0 * _positive("n_params", n_params)


def chinchilla_loss(n_params, n_tokens, fit: dict | None = None):
    """Predicted pre-training loss (nats/token) of ``n_params`` trained on ``n_tokens`` (6.2).

    ``E`` is the entropy of text that no model removes; ``A / N^alpha`` the cost of a
    finite model, ``B / D^beta`` the cost of finite data. Fitted on Chinchilla's own data
    and tokenizer, so it describes trends, not LLaMA's exact losses.
    """
    f = CHINCHILLA_FIT if fit is None else _check_fit(fit)
    n, d = _positive("n_params", n_params), _positive("n_tokens", n_tokens)
    return f["E"] + f["A"] / n ** f["alpha"] + f["B"] / d ** f["beta"]


def chinchilla_optimal(compute, fit: dict | None = None) -> tuple[float, float]:
    """The ``(N, D)`` with ``6 N D = compute`` that minimises :func:`chinchilla_loss`.

    Closed form (Hoffmann et al., 2022, eq. 4): ``N = G (C/6)^(beta/(alpha+beta))`` with
    ``G = (alpha A / (beta B))^(1/(alpha+beta))``, and ``D = C / (6 N)``.
    """
    f = CHINCHILLA_FIT if fit is None else _check_fit(fit)
    c = float(_positive("compute", compute))
    a, b = f["alpha"], f["beta"]
    g = (a * f["A"] / (b * f["B"])) ** (1 / (a + b))
    n = g * (c / 6) ** (b / (a + b))
    return n, c / (6 * n)


#: Bytes per parameter of the *model states* of AdamW training (activations not included).
#: ``"mixed"``: mixed-precision training as in Micikevicius et al. (2018) and Rajbhandari et
#: al. (2020, section 3.1): 16-bit weights and gradients for the forward and backward passes,
#: and a float32 master copy of the weights with Adam's two float32 moments for the update,
#: ``2 + 2 + 4 + 4 + 4 = 16``. ``"fp32"``: everything in float32, as the tiny LLaMA of
#: chapter 6 trains, ``4 + 4 + 4 + 4 = 16`` (no separate master copy is needed).
TRAINING_STATE_BYTES = {
    "mixed": {"weights": 2, "gradients": 2, "master weights": 4,
              "Adam first moment": 4, "Adam second moment": 4},
    "fp32": {"weights": 4, "gradients": 4, "Adam first moment": 4, "Adam second moment": 4},
}

# Which state ZeRO shards from which stage on: 1 = optimizer states, 2 = + gradients,
# 3 = + weights (Rajbhandari et al., 2020, section 5).
_ZERO_STAGE_OF = {"weights": 3, "gradients": 2, "master weights": 1,
                  "Adam first moment": 1, "Adam second moment": 1}


def training_memory_bytes(n_params, precision: str = "mixed", *, devices: int = 1,
                          zero_stage: int = 0) -> dict:
    """Bytes of model states *per device* for AdamW training of ``n_params`` parameters.

    Equation (6.15) of chapter 6: ``M = (2 + 2 + 4 + 4 + 4) N = 16 N`` bytes in mixed
    precision (:data:`TRAINING_STATE_BYTES`). With ``devices`` data-parallel devices, plain
    data parallelism (``zero_stage=0``) keeps a full copy on each; ZeRO stage 1 splits the
    optimizer states (the float32 master weights and both moments) into ``devices`` equal
    shards, stage 2 the gradients too, stage 3 the weights too, equation (6.16):
    ``M_3 = 16 N / devices``.

    ``n_params``: a positive number or array of them. Returns a dict mapping each state
    (``"weights"``, ``"gradients"``, ...) to its bytes per device, plus ``"total"``; the
    values have the shape of ``n_params``. Activations, buffers for communication and
    memory fragmentation come on top.
    """
    check_choice("precision", precision, sorted(TRAINING_STATE_BYTES))
    for name, value in (("devices", devices), ("zero_stage", zero_stage)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if devices < 1:
        raise ValueError(f"devices must be >= 1, got {devices}")
    if zero_stage not in (0, 1, 2, 3):
        raise ValueError(f"zero_stage must be 0, 1, 2 or 3, got {zero_stage}")
    n = _positive("n_params", n_params)
    states = {}
    for state, per_param in TRAINING_STATE_BYTES[precision].items():
        # In float32 training the weights are the master weights: sharded from stage 3 on.
        sharded = zero_stage >= _ZERO_STAGE_OF[state]
        states[state] = per_param * n / (devices if sharded else 1)
    states["total"] = sum(states.values())
    return states
