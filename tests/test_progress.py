"""mlbook.progress: progress bars that TQDM_DISABLE switches off even when a loop asks for one."""

from mlbook.progress import bars_disabled, tqdm


def test_a_requested_bar_shows_when_the_variable_is_unset(monkeypatch, capsys):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    assert not bars_disabled()
    assert list(tqdm(range(3), desc="counting", disable=False)) == [0, 1, 2]
    assert "counting" in capsys.readouterr().err


def test_the_variable_wins_over_an_explicit_request(monkeypatch, capsys):
    # tqdm itself reads TQDM_DISABLE only as a default, so disable=False would still draw
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert bars_disabled()
    bar = tqdm(range(3), desc="counting", disable=False)
    assert bar.disable and list(bar) == [0, 1, 2]
    assert "counting" not in capsys.readouterr().err


def test_a_false_value_leaves_bars_on(monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "0")
    assert not bars_disabled()
    assert tqdm(range(2), disable=True).disable      # ... and an explicit disable still holds


# ---- timed: the chapters' wall-clock measurements --------------------------------------
import time  # noqa: E402

import pytest  # noqa: E402

from mlbook.progress import timed  # noqa: E402


def test_timed_returns_the_result_and_a_duration_at_least_as_long_as_the_call():
    out, seconds = timed(lambda: (time.sleep(0.02), "done")[1])
    assert out == "done"
    assert 0.02 <= seconds < 1.0


def test_timed_keeps_the_shortest_of_the_repeated_calls():
    delays = iter([0.06, 0.01, 0.04])
    calls = []

    def work():
        calls.append(1)
        time.sleep(next(delays))
        return len(calls)

    out, seconds = timed(work, repeat=3)
    assert len(calls) == 3 and out == 3                  # every call made, the last result
    assert 0.01 <= seconds < 0.04                        # the 10 ms call, not the others


def test_timed_restores_the_garbage_collector_even_when_the_call_fails():
    import gc
    assert gc.isenabled()
    with pytest.raises(ZeroDivisionError):
        timed(lambda: 1 / 0)
    assert gc.isenabled()


@pytest.mark.parametrize("kwargs, match", [({"fn": None}, "fn"), ({"fn": print, "repeat": 0},
                                                                    "repeat")])
def test_timed_refuses_bad_arguments(kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        timed(**kwargs)
