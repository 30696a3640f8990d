"""How the package runs on the machine: the torch thread count (used by chapters 6-8).

:func:`one_thread` runs a block on one torch thread and then restores the caller's setting.
Two kinds of code need it:

* the cached models (:func:`mlbook.llm.train.pretrained_tiny_llama`,
  :func:`mlbook.llm.instruct.sft_tiny_llama`) are trained on one thread whichever chapter
  asks for them first. Sums split over several threads are added in another order, so a
  model trained on two threads is not the one trained on one: chapter 8 opened alone (it
  works on two threads) would otherwise train a different model from the one chapters 6
  and 7 (one thread) cache in the book;
* tiny tensor work (the tabular problems of chapter 8's bandit, token-by-token decoding):
  for tensors of a few entries, the cost of waking a second thread (milliseconds on a busy
  machine) dwarfs the arithmetic.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

__all__ = ["one_thread"]


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the block on one torch thread, then restore the caller's setting (also when the
    block raises)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
