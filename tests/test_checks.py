"""mlbook.checks: the package's one set of argument validators (issue 24)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlbook.checks import (ArgumentTypeError, check_array, check_bool, check_callable,
                           check_choice, check_count, check_index, check_instance, check_int,
                           check_number, check_positive, check_probability, check_seed)


def test_a_wrong_kind_is_both_a_type_error_and_a_value_error():
    with pytest.raises(TypeError):
        check_count("n", "3")
    with pytest.raises(ValueError):   # what older callers of mlbook catch
        check_count("n", "3")
    assert issubclass(ArgumentTypeError, TypeError) and issubclass(ArgumentTypeError, ValueError)


@pytest.mark.parametrize("bad", [True, False, np.bool_(True), 3.0, 2.5, "3", None,
                                 float("nan")])
def test_counts_refuse_bools_floats_strings_and_none(bad):
    with pytest.raises(ArgumentTypeError, match=r"^n_states must be a positive integer"):
        check_count("n_states", bad)


def test_counts_take_python_and_numpy_integers_and_return_int():
    assert check_count("n", np.int64(4)) == 4 and type(check_count("n", np.int64(4))) is int
    assert check_count("n", 0, minimum=0) == 0
    with pytest.raises(ValueError, match=r"n must be a positive integer \(>= 1\), got 0"):
        check_count("n", 0)
    with pytest.raises(ValueError, match="k must be an integer from 2 to 5, got 6"):
        check_int("k", 6, minimum=2, maximum=5)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_numbers_refuse_nan_and_inf_unless_asked(bad):
    with pytest.raises(ValueError, match="tol must be a positive finite number"):
        check_positive("tol", bad)
    with pytest.raises(ValueError, match="atol"):
        check_number("atol", bad, minimum=0.0)


def test_infinity_only_where_allowed():
    assert check_number("stop", math.inf, allow_inf=True) == math.inf
    with pytest.raises(ValueError, match="stop"):
        check_number("stop", math.nan, allow_inf=True)   # NaN never


def test_intervals_and_their_messages():
    assert check_probability("p", 0) == 0.0 and check_probability("p", 1) == 1.0
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\], got 1.5"):
        check_probability("p", 1.5)
    with pytest.raises(ValueError, match=r"level must be a number in \(0, 1\), got 1.0"):
        check_probability("level", 1.0, open_low=True, open_high=True)
    with pytest.raises(ValueError, match=r"noise_std must be a non-negative finite number"):
        check_number("noise_std", -0.1, minimum=0.0)
    with pytest.raises(ArgumentTypeError, match="gamma"):
        check_number("gamma", True, minimum=0.0, maximum=1.0)


def test_flags_are_bools_only():
    assert check_bool("fast", np.bool_(False)) is False
    for bad in ("no", 0, 1, None):
        with pytest.raises(ArgumentTypeError, match="fast must be True or False"):
            check_bool("fast", bad)


def test_choices_index_callables_and_instances():
    assert check_choice("visit", "first", ("first", "every")) == "first"
    with pytest.raises(ValueError, match="visit must be one of 'first', 'every'; got 'last'"):
        check_choice("visit", "last", ("first", "every"))
    with pytest.raises(ArgumentTypeError, match="visit"):
        check_choice("visit", None, ("first", "every"))
    assert check_index("start_state", 4, 5) == 4
    with pytest.raises(ValueError, match="start_state must be a state index, an integer from "
                                         "0 to 4, got 5"):
        check_index("start_state", 5, 5, what="state")
    with pytest.raises(ArgumentTypeError, match="action"):
        check_index("action", True, 5)
    with pytest.raises(ArgumentTypeError, match="load must be a callable"):
        check_callable("load", "f")
    with pytest.raises(ArgumentTypeError, match="mdp must be a FiniteMDP, got None"):
        from mlbook.rl import FiniteMDP
        check_instance("mdp", None, FiniteMDP)


def test_arrays_are_converted_and_checked():
    x = check_array("x", [1, 2, 3])
    assert x.dtype == float and x.shape == (3,)
    with pytest.raises(ArgumentTypeError, match="x must be an array of numbers, got 'abc'"):
        check_array("x", "abc")
    with pytest.raises(ArgumentTypeError, match="x must be an array of numbers, got None"):
        check_array("x", None)
    with pytest.raises(ValueError, match="x must hold at least 1 value, got an empty array"):
        check_array("x", [])
    with pytest.raises(ValueError, match="X must be a 2-D array, got shape \\(3,\\)"):
        check_array("X", [1.0, 2.0, 3.0], ndim=2)
    with pytest.raises(ValueError, match=r"w must have shape \(n, 2\), got \(2, 3\)"):
        check_array("w", np.zeros((2, 3)), shape=(None, 2))
    with pytest.raises(ValueError, match="y must be a finite array"):
        check_array("y", [1.0, np.nan])
    assert np.isnan(check_array("v", [1.0, np.nan], finite=False)[1])
    with pytest.raises(ValueError, match="start_states must hold integers"):
        check_array("start_states", [0.5, 1.5], integer=True)
    assert check_array("s", [0.0, 2.0], integer=True).dtype == np.int64
    with pytest.raises(ArgumentTypeError, match="s must hold numbers, not booleans"):
        check_array("s", [True, False], integer=True)
    with pytest.raises(ValueError, match="theta must hold values <= 1"):
        check_array("theta", [0.5, 1.5], minimum=0.0, maximum=1.0)
    with pytest.raises(ValueError, match="ragged must be an array of numbers"):
        check_array("ragged", [[1.0], [1.0, 2.0]])


def test_seed_has_one_meaning():
    a = check_seed("seed", 7).random(3)
    assert np.array_equal(a, check_seed("seed", 7).random(3))          # an int reproduces
    assert np.array_equal(a, np.random.default_rng(7).random(3))        # numpy's stream
    gen = np.random.default_rng(1)
    assert check_seed("rng", gen) is gen                                 # a Generator: itself
    fresh = [check_seed("seed", None).random() for _ in range(3)]        # None: fresh entropy
    assert len(set(fresh)) == 3
    for bad in (True, 1.5, "0", -1):
        with pytest.raises(ValueError, match="seed must be a non-negative integer seed"):
            check_seed("seed", bad)


def test_tensors_are_checked_not_converted():
    import torch

    from mlbook.checks import check_tensor

    x = torch.zeros(2, 3)
    assert check_tensor("x", x, ndim=2) is x                              # the same object
    with pytest.raises(ArgumentTypeError, match="x must be a torch.Tensor, got \\[1.0, 2.0\\]"):
        check_tensor("x", [1.0, 2.0])                                     # a list is a slip
    with pytest.raises(ArgumentTypeError, match="x must be a floating-point tensor, got dtype "
                                                "torch.int64"):
        check_tensor("x", x.long())
    with pytest.raises(ArgumentTypeError, match="ids must be an integer tensor"):
        check_tensor("ids", torch.tensor([True]), dtype="int")          # bool is not an integer
    with pytest.raises(ValueError, match=r"x must be a 3-D tensor \(batch, time, dim\), got "
                                         r"shape \(2, 3\)"):
        check_tensor("x", x, ndim=3, layout="(batch, time, dim)")
    with pytest.raises(ValueError, match=r"w must have shape \(n, 4\), got \(2, 3\)"):
        check_tensor("w", x, shape=(None, 4))
    with pytest.raises(ValueError, match="x must hold at least 1 value, got an empty tensor"):
        check_tensor("x", torch.zeros(0))
    with pytest.raises(ValueError, match="x must hold numbers, not NaN"):
        check_tensor("x", torch.tensor([1.0, math.nan]))
    with pytest.raises(ValueError, match="x must hold finite numbers: it contains -inf"):
        check_tensor("x", torch.tensor([1.0, -math.inf]))
    scores = torch.tensor([0.0, -math.inf])
    assert check_tensor("s", scores, allow_inf=True) is scores          # -inf: a masked score
    with pytest.raises(ValueError, match="s must hold numbers, not NaN"):
        check_tensor("s", torch.tensor([math.nan, -math.inf]), allow_inf=True)
    assert torch.isnan(check_tensor("a", torch.tensor([math.nan]), finite=False)).all()
    with pytest.raises(ValueError, match="p must hold values >= 0, got a minimum of -0.5"):
        check_tensor("p", torch.tensor([0.5, -0.5]), minimum=0.0)


def test_token_ids_are_checked_against_the_vocabulary():
    import torch

    from mlbook.checks import check_token_ids

    ids = torch.tensor([[0, 5, 9]])
    assert check_token_ids("input_ids", ids, 10, ndim=2) is ids
    with pytest.raises(ValueError, match="input_ids must hold token ids from 0 to vocab_size - 1 "
                                         "= 9, got 10"):
        check_token_ids("input_ids", torch.tensor([1, 10]), 10)
    with pytest.raises(ValueError, match="got -1"):
        check_token_ids("input_ids", torch.tensor([-1, 3]), 10)
    with pytest.raises(ArgumentTypeError, match="input_ids must be an integer tensor"):
        check_token_ids("input_ids", torch.tensor([1.0, 3.0]), 10)
    with pytest.raises(ArgumentTypeError, match="vocab_size"):
        check_token_ids("input_ids", ids, True)


def test_integer_seeds_keep_integers_and_draw_fresh_ones_for_none():
    from mlbook.checks import check_integer_seed

    assert check_integer_seed("seed", 7) == 7 and check_integer_seed("seed", np.int64(7)) == 7
    assert check_integer_seed("seed", None) is None                      # the caller's meaning
    fresh = {check_integer_seed("seed", None, fresh_if_none=True) for _ in range(3)}
    assert len(fresh) == 3 and all(0 <= s < 2 ** 63 for s in fresh)
    for bad in (True, 1.5, "0", -1, 2 ** 63):
        with pytest.raises(ValueError, match="seed must be a non-negative integer seed"):
            check_integer_seed("seed", bad)


def test_lists_refuse_strings_and_non_iterables_and_come_back_as_lists():
    from mlbook.checks import check_list

    assert check_list("texts", ("a", "b")) == ["a", "b"]
    assert check_list("texts", (w for w in "ab")) == ["a", "b"]        # an iterator, consumed
    assert check_list("n_values", np.array([2, 3])) == [2, 3]
    for bad in ("abc", b"abc"):                 # a string is not a list of its characters
        with pytest.raises(ArgumentTypeError,
                           match=r"^texts must be a list of texts, got the string .* not a list"):
            check_list("texts", bad, what="a list of texts")
    for bad in (None, 3, 2.5, np.float64(1.0), np.array(4)):
        with pytest.raises(ArgumentTypeError, match=r"^words must be a list, got"):
            check_list("words", bad)
    with pytest.raises(ArgumentTypeError, match=r"^images must be a list of images, got a "
                                                r"single ndarray"):
        check_list("images", np.zeros((2, 3)), what="a list of images", exclude=np.ndarray)


def test_list_lengths_and_their_messages():
    from mlbook.checks import check_list

    with pytest.raises(ValueError, match=r"^layouts must be a list with at least 1 element, "
                                         r"got 0$"):
        check_list("layouts", [])
    assert check_list("merges", [], min_len=0) == []
    with pytest.raises(ValueError, match=r"^grid must be a pair with exactly 2 elements, got 3"):
        check_list("grid", (1, 2, 3), what="a pair", min_len=2, max_len=2)
    with pytest.raises(ValueError, match=r"from 1 to 2 elements, got 3"):
        check_list("digits", [1, 2, 3], max_len=2)
    for bad in (-1, True, 1.5):
        with pytest.raises(ValueError, match="min_len"):
            check_list("x", [1], min_len=bad)
    with pytest.raises(ValueError, match="max_len"):
        check_list("x", [1], min_len=2, max_len=1)


def test_list_elements_are_checked_by_name_and_index():
    from mlbook.checks import check_list

    assert check_list("n_values", [np.int64(4), 5], item=check_count) == [4, 5]
    assert all(type(n) is int for n in check_list("n_values", [np.int64(4)], item=check_count))
    with pytest.raises(ValueError, match=r"^n_values\[1\] must be a positive integer"):
        check_list("n_values", [4, 0], item=check_count)
    with pytest.raises(ArgumentTypeError, match=r"^n_values\[0\] must be a positive integer"):
        check_list("n_values", [True], item=check_count)
