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
