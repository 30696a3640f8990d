"""The cached models are trained on one thread whoever asks first (mlbook.runtime.one_thread):
a sum split over two threads is added in another order, so the weights would differ."""

from __future__ import annotations

import torch

from mlbook.runtime import one_thread


def test_one_thread_inside_and_the_callers_setting_restored_after():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with one_thread():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        try:
            with one_thread():
                raise KeyError("boom")
        except KeyError:
            pass
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
