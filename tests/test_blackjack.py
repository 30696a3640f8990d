"""Chapter 4's Blackjack and off-policy claims (mlbook.rl.blackjack, mlbook.rl.monte_carlo).

The reference is the exact dynamic-programming value of a policy, computed from the rules
with an infinite deck; the games are played through Gymnasium's ``Blackjack-v1``.
"""

import gymnasium
import numpy as np
import pytest

from mlbook.rl import (OBS_SHAPE, evaluate_blackjack_policy, importance_sampling_estimates,
                       mc_off_policy_prediction, play_blackjack, state_value_estimates,
                       stick_on_policy)

N_OBS = int(np.prod(OBS_SHAPE))


@pytest.fixture(scope="module")
def stick20():
    return stick_on_policy(20)


@pytest.fixture(scope="module")
def exact(stick20):
    return evaluate_blackjack_policy(stick20)


@pytest.fixture(scope="module")
def games(stick20):
    return play_blackjack(60_000, stick20, seed=11)


def test_dp_value_of_the_game_matches_a_large_monte_carlo_run(exact, games):
    g = games.returns
    se = g.std(ddof=1) / np.sqrt(len(g))
    assert abs(g.mean() - exact.game_value) < 3 * se
    assert se < 0.005                       # the check is tight enough to mean something


def test_dp_state_values_match_monte_carlo_within_standard_errors(exact, games):
    est = state_value_estimates(games.states, games.step_returns, N_OBS)
    truth = exact.observed_values().ravel()
    seen = est.counts >= 50
    z = (est.values[seen] - truth[seen]) / est.std_errors[seen]
    assert seen.sum() > 150
    assert np.max(np.abs(z)) < 4.5
    assert np.mean(np.abs(z) < 2) > 0.9     # about 95 % expected


def test_dp_reproduces_sutton_bartos_value_of_example_5_4():
    # S&B Example 5.4: dealer shows a deuce, player 13 with a usable ace, stick on 20/21:
    # "approximately -0.27726" (their estimate from 100 million games)
    v = evaluate_blackjack_policy(stick_on_policy(20)).v[13, 2, 1]
    assert abs(v - (-0.27726)) < 1e-3


def test_dp_reach_probabilities_match_visit_frequencies(exact, games):
    plain = ~games.naturals[games.episode]
    freq = np.bincount(games.states[plain], minlength=N_OBS) / games.n_episodes
    assert np.max(np.abs(freq - exact.reach.ravel())) < 0.005
    assert abs(games.naturals.mean() - 2 * (1 / 13) * (4 / 13)) < 0.003


def test_sab_rules_make_a_natural_worth_more(stick20):
    sab = evaluate_blackjack_policy(stick20, sab=True)
    plain = evaluate_blackjack_policy(stick20, sab=False)
    assert np.all(sab.v_natural[1:] >= plain.v_natural[1:] - 1e-12)
    assert sab.game_value > plain.game_value
    np.testing.assert_allclose(sab.v, plain.v, equal_nan=True)    # only naturals differ
    env = gymnasium.make("Blackjack-v1", sab=False)
    g = play_blackjack(40_000, stick20, seed=3, env=env).returns
    assert abs(g.mean() - plain.game_value) < 3 * g.std(ddof=1) / np.sqrt(len(g))


def test_stick_value_and_hit_value_are_consistent_with_the_policy(exact, stick20):
    pick = np.where(stick20 > 0.5, exact.q[..., 1], exact.q[..., 0])
    np.testing.assert_allclose(pick, exact.v, equal_nan=True)
    # sticking on 21 never loses; hitting on hard 21 always busts
    assert np.all(exact.q[21, 1:, 0, 0] >= 0) and np.all(exact.q[21, 1:, 0, 1] == -1)


def test_play_blackjack_is_seeded_and_records_whole_games(stick20):
    a = play_blackjack(500, stick20, seed=5)
    b = play_blackjack(500, stick20, seed=5)
    c = play_blackjack(500, stick20, seed=6)
    np.testing.assert_array_equal(a.states, b.states)
    np.testing.assert_array_equal(a.returns, b.returns)
    assert not np.array_equal(a.returns, c.returns)
    assert set(np.unique(a.returns)) <= {-1.0, 0.0, 1.0}
    assert np.all(np.diff(a.episode) >= 0) and a.episode[-1] == 499
    assert sum(len(s) for s, _, _ in a.as_list()) == len(a.states)


# ---- importance sampling ----------------------------------------------------------------
def test_ordinary_is_is_unbiased_and_weighted_has_lower_variance_over_seeds(exact,
                                                                             stick20):
    behavior = np.full(OBS_SHAPE, 0.5)
    ordinary, weighted = [], []
    for seed in range(30):
        run = play_blackjack(300, behavior, seed=100 + seed)
        o, w = importance_sampling_estimates(run.returns, run.ratios(stick20, behavior))
        ordinary.append(o[-1])
        weighted.append(w[-1])
    ordinary, weighted = np.array(ordinary), np.array(weighted)
    assert abs(ordinary.mean() - exact.game_value) < 3 * ordinary.std(ddof=1) / np.sqrt(30)
    assert weighted.std() < ordinary.std()
    assert np.mean((weighted - exact.game_value) ** 2) < np.mean(
        (ordinary - exact.game_value) ** 2)


def test_importance_sampling_with_equal_policies_is_the_plain_average():
    g = np.random.default_rng(0).normal(size=50)
    o, w = importance_sampling_estimates(g, np.ones(50))
    np.testing.assert_allclose(o, np.cumsum(g) / np.arange(1, 51))
    np.testing.assert_allclose(w, o)


def test_incremental_weighted_update_equals_the_batch_weighted_average():
    # one state, one action, then a second step whose ratio weights the first visit
    rng = np.random.default_rng(1)
    S, A = 3, 2
    target = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])
    behavior = np.full((S, A), 0.5)
    episodes, num, den = [], 0.0, 0.0
    for _ in range(200):
        a1 = int(rng.integers(2))
        r0, r1 = rng.normal(), rng.normal()
        episodes.append((np.array([0, 1]), np.array([0, a1]), np.array([r0, r1])))
        w = target[1, a1] / behavior[1, a1]
        g = r0 + 0.9 * r1
        num, den = num + w * g, den + w
    res = mc_off_policy_prediction(episodes, target, behavior, gamma=0.9)
    assert res.q[0, 0] == pytest.approx(num / den)
    assert res.weights[0, 0] == pytest.approx(den)
    ordinary = mc_off_policy_prediction(episodes, target, behavior, gamma=0.9,
                                        weighted=False)
    assert ordinary.q[0, 0] == pytest.approx(num / 200)


def test_off_policy_weighted_q_matches_dp_on_blackjack(exact, stick20):
    behavior = np.full(OBS_SHAPE, 0.5)
    run = play_blackjack(30_000, behavior, seed=2)
    pi = np.stack([1 - stick20.ravel(), stick20.ravel()], axis=1)
    b = np.full((N_OBS, 2), 0.5)
    res = mc_off_policy_prediction(run.as_list(), pi, b, gamma=1.0)
    truth = exact.q.reshape(N_OBS, 2)
    # pairs with plenty of weight, outside 21 with a usable ace (naturals share it)
    visits = np.zeros((N_OBS, 2))
    np.add.at(visits, (run.states, run.actions), 1)
    soft21 = np.zeros(OBS_SHAPE, dtype=bool)
    soft21[21, :, 1] = True
    mask = (visits >= 100) & ~soft21.ravel()[:, None]
    assert mask.sum() > 150
    err = np.abs(res.q[mask] - truth[mask])
    assert np.sqrt(np.mean(err ** 2)) < 0.15          # returns of +-1: sd / sqrt(100) ~ 0.1
    assert np.all(res.weights[visits == 0] == 0)


# ---- bad input ---------------------------------------------------------------------------
def test_bad_arguments_are_refused(stick20):
    with pytest.raises(ValueError, match="hit_prob"):
        evaluate_blackjack_policy(np.zeros((10, 10)))
    with pytest.raises(ValueError, match="hit_prob"):
        play_blackjack(10, np.full(OBS_SHAPE, 1.5))
    with pytest.raises(TypeError, match="sab"):
        evaluate_blackjack_policy(stick20, sab="yes")
    with pytest.raises(ValueError, match="n_episodes"):
        play_blackjack(0, stick20)
    with pytest.raises(ValueError, match="threshold"):
        stick_on_policy(30)
    with pytest.raises(ValueError, match="ratios"):
        importance_sampling_estimates(np.ones(3), np.array([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="same length|one length"):
        importance_sampling_estimates(np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match="coverage"):
        mc_off_policy_prediction([], np.array([[0.5, 0.5]]), np.array([[1.0, 0.0]]),
                                 gamma=1.0)
    with pytest.raises(ValueError, match="gamma"):
        mc_off_policy_prediction([], np.ones((1, 2)) / 2, np.ones((1, 2)) / 2, gamma=2)
    with pytest.raises(ValueError, match="states"):
        state_value_estimates(np.array([0, 5]), np.array([1.0, 2.0]), 3)


def test_games_from_a_chosen_deal_match_the_dp_value_of_that_state(exact, stick20):
    run = play_blackjack(20_000, stick20, seed=4, start=((1, 2), 2))
    assert np.all(run.states[run.episode != np.roll(run.episode, 1)]
                  == np.ravel_multi_index((13, 2, 1), OBS_SHAPE))
    g = run.returns
    assert abs(g.mean() - exact.v[13, 2, 1]) < 3 * g.std(ddof=1) / np.sqrt(len(g))
    with pytest.raises(ValueError, match="start"):
        play_blackjack(5, stick20, start=((10, 10, 5), 2))


def test_off_policy_prediction_refuses_states_outside_the_policies():
    pi = np.full((3, 2), 0.5)
    with pytest.raises(ValueError, match="indices"):
        mc_off_policy_prediction([(np.array([5]), np.array([0]), np.array([1.0]))], pi, pi,
                                 gamma=1.0)
