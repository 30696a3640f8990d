"""Chapter 4's claims about Monte Carlo control (mlbook.rl.monte_carlo).

The reference throughout is chapter 3's value iteration on the same 5 x 5 grid world: the
optimal action values ``q*`` and the states whose optimal action is unique.
"""

import gymnasium
import numpy as np
import pytest

from mlbook.rl import (GRIDWORLD_ID, ZHAO_OPTIMAL_VALUES, EpisodeSampler, GridWorld,
                       action_values, best_epsilon_greedy, episodic_control,
                       epsilon_greedy_policy, policy_cdf,
                       evaluate_policy_exact, greedy_policy, mc_basic, mc_epsilon_greedy,
                       mc_exploring_starts, sample_episode, suboptimal_states,
                       uniform_policy, unique_optimal_states, value_iteration)

GAMMA = 0.9


@pytest.fixture(scope="module")
def world():
    return GridWorld()


@pytest.fixture(scope="module")
def optimum(world):
    """``(v*, q*, unique)``: optimal values, action values and the unique-optimum mask."""
    mdp = world.to_mdp()
    v_star = value_iteration(mdp, tol=1e-12).values
    q_star = action_values(mdp, v_star)
    return v_star, q_star, unique_optimal_states(q_star)


# ---- MC Basic ------------------------------------------------------------------------------
@pytest.mark.parametrize("length", [30, 100])
def test_mc_basic_with_long_episodes_recovers_the_optimal_policy(world, optimum, length):
    v_star, q_star, unique = optimum
    res = mc_basic(world, length)
    assert res.converged
    # the same greedy action wherever the optimal one is unique (and an optimal one elsewhere)
    assert not suboptimal_states(res.q, q_star)[unique].any()
    assert not suboptimal_states(res.q, q_star).any()
    # returns cut after L steps miss at most gamma^L r_max / (1 - gamma) of the value
    assert np.max(np.abs(res.values - v_star)) <= GAMMA ** length * 10 + 1e-9
    assert res.n_episodes == res.n_iter * 25 * 5
    assert res.n_steps == res.n_episodes * length


def test_mc_basic_values_round_to_zhaos_printed_optimal_values(world):
    res = mc_basic(world, 100)
    assert np.array_equal(np.round(res.values.reshape(5, 5), 1), ZHAO_OPTIMAL_VALUES)


def test_mc_basic_with_one_step_episodes_learns_only_immediate_rewards(world):
    res = mc_basic(world, 1)
    np.testing.assert_array_equal(res.q, world.to_mdp().R)


def test_mc_basic_needs_episodes_long_enough_to_reach_the_target(world, optimum):
    _, q_star, unique = optimum
    wrong = {L: int(suboptimal_states(mc_basic(world, L).q, q_star)[unique].sum())
             for L in (1, 2, 3, 4, 5, 6)}
    assert wrong[1] > wrong[3] > wrong[4] > 0     # far cells see no reward yet
    assert wrong[5] == wrong[6] == 0               # the farthest cell is 5 steps away


def test_mc_basic_is_policy_iteration_with_sampled_evaluation(world):
    # deterministic world and policies: one episode per pair gives the exact truncated q
    res = mc_basic(world, 40, max_iter=2)
    mdp = world.to_mdp()
    v = np.zeros(25)
    pi = greedy_policy(res.q_history[1])          # the policy of iteration 2
    r_pi, P_pi = mdp.policy_model(pi)
    for _ in range(39):                            # 39 more steps after the first action
        v = r_pi + GAMMA * P_pi @ v
    q = mdp.R + GAMMA * mdp.P @ v
    np.testing.assert_allclose(res.q_history[2], q, atol=1e-9)


# ---- MC Exploring Starts ----------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1])
def test_exploring_starts_with_a_constant_step_size_recovers_the_optimal_policy(
        world, optimum, seed):
    _, q_star, unique = optimum
    res = mc_exploring_starts(world, 10_000, 50, step_size=0.1, seed=seed)
    needed = res.episodes_to_optimal(q_star)
    assert needed is not None and needed <= 10_000
    assert not suboptimal_states(res.q, q_star)[unique].any()


def test_exploring_starts_with_plain_averages_recovers_the_optimal_policy(world, optimum):
    """The textbook algorithm (every return weighs the same) gets there too, more slowly."""
    _, q_star, unique = optimum
    res = mc_exploring_starts(world, 8_000, 100, seed=0)
    assert not suboptimal_states(res.q, q_star)[unique].any()
    assert res.episodes_to_optimal(q_star) is not None


def test_first_visit_counts_one_return_per_pair_and_episode_every_visit_counts_all(world):
    first = mc_exploring_starts(world, 300, 20, visit="first", seed=3)
    every = mc_exploring_starts(world, 300, 20, visit="every", seed=3)
    assert every.counts.sum() == every.n_steps == 300 * 20
    assert first.counts.max() <= 300 and first.counts.sum() < every.counts.sum()


def test_first_and_every_visit_agree_when_no_pair_repeats(world):
    a = mc_exploring_starts(world, 200, 1, visit="first", seed=5)
    b = mc_exploring_starts(world, 200, 1, visit="every", seed=5)
    np.testing.assert_array_equal(a.q, b.q)


def test_exploring_starts_policy_is_greedy_in_its_estimates(world):
    res = mc_exploring_starts(world, 2_000, 30, seed=1)
    np.testing.assert_array_equal(res.policy, greedy_policy(res.q))


# ---- MC epsilon-greedy -------------------------------------------------------------------
@pytest.mark.parametrize("eps", [0.0, 0.1, 0.5, 1.0])
def test_epsilon_greedy_policy_gives_each_action_at_least_epsilon_over_A(eps):
    q = np.random.default_rng(0).normal(size=(6, 5))
    pi = epsilon_greedy_policy(q, eps)
    np.testing.assert_allclose(pi.sum(axis=1), 1.0)
    best = q.argmax(axis=1)
    np.testing.assert_allclose(pi[np.arange(6), best], 1 - eps * 4 / 5)
    assert np.all(pi >= eps / 5 - 1e-15)


def test_epsilon_greedy_with_epsilon_zero_and_one_are_greedy_and_uniform():
    q = np.arange(10.0).reshape(2, 5)
    np.testing.assert_array_equal(epsilon_greedy_policy(q, 0.0), greedy_policy(q))
    np.testing.assert_allclose(epsilon_greedy_policy(q, 1.0), uniform_policy(2, 5))


def test_larger_epsilon_costs_more_value_and_eventually_changes_the_greedy_policy(
        world, optimum):
    v_star, q_star, unique = optimum
    mdp = world.to_mdp()
    gaps, wrong = [], []
    for eps in (0.0, 0.05, 0.1, 0.2, 0.5):
        q_eps, pi_eps = best_epsilon_greedy(mdp, eps)
        gaps.append(np.max(v_star - evaluate_policy_exact(mdp, pi_eps)))
        wrong.append(int(suboptimal_states(q_eps, q_star)[unique].sum()))
    assert gaps[0] < 1e-9 and np.all(np.diff(gaps) > 0)
    assert wrong[:3] == [0, 0, 0] and wrong[3] > 0 and wrong[4] > 0


def test_mc_epsilon_greedy_with_small_epsilon_is_within_tolerance_of_optimal_values(optimum):
    """epsilon = 0.1, 20,000 episodes of 20 steps from random cells.

    Tolerance: the learned 0.1-greedy policy is worth on average (over the 25 start cells)
    at most 1.6 less than v*, of which 1.40 is the price of exploring (the best 0.1-greedy
    policy's own gap), and at most 2.5 less in any cell; the greedy policy underneath is
    within 0.2 of v* on average.
    """
    v_star, _, _ = optimum
    world = GridWorld(start=None)
    mdp = world.to_mdp()
    res = mc_epsilon_greedy(world, 0.1, 20_000, 20, visit="first", seed=0)
    v_learned = evaluate_policy_exact(mdp, res.policy)
    _, best = best_epsilon_greedy(mdp, 0.1)
    assert 1.3 < np.mean(v_star - evaluate_policy_exact(mdp, best)) < 1.5
    assert np.mean(v_star - v_learned) < 1.6
    assert np.max(v_star - v_learned) < 2.5
    assert np.mean(v_star - evaluate_policy_exact(mdp, res.greedy)) < 0.2


def test_mc_epsilon_greedy_with_epsilon_half_finds_the_best_half_greedy_policy():
    """A check against a reference implementation: model-based policy iteration over
    epsilon-greedy policies (``best_epsilon_greedy``)."""
    world = GridWorld(start=None)
    mdp = world.to_mdp()
    res = mc_epsilon_greedy(world, 0.5, 3_000, 60, visit="first", seed=0)
    _, best = best_epsilon_greedy(mdp, 0.5)
    gap = evaluate_policy_exact(mdp, best) - evaluate_policy_exact(mdp, res.policy)
    assert np.max(gap) < 0.15


def test_mc_epsilon_greedy_policy_is_epsilon_greedy_in_its_estimates_where_it_went():
    res = mc_epsilon_greedy(GridWorld(start=None), 0.3, 300, 20, seed=2)
    visited = res.counts.sum(axis=1) > 0
    np.testing.assert_allclose(res.policy[visited],
                               epsilon_greedy_policy(res.q, 0.3)[visited])


def test_one_long_uniform_episode_visits_every_state_action_pair(world):
    sampler = EpisodeSampler(world)
    states, actions, _ = sampler.episode(uniform_policy(25, 5), 3_000,
                                         np.random.default_rng(0), start_state=0)
    assert len(set(zip(states.tolist(), actions.tolist()))) == 125


def test_greedy_control_without_exploring_starts_gets_stuck(world, optimum):
    _, q_star, unique = optimum
    res = mc_epsilon_greedy(world, 0.0, 500, 50, policy0=greedy_policy(np.zeros((25, 5))))
    assert (res.counts > 0).sum() < 20          # a handful of the 125 pairs
    assert suboptimal_states(res.q, q_star)[unique].sum() > 10


# ---- any environment of chapter 3's form ------------------------------------------------------
def test_fast_sampler_draws_exactly_the_episodes_env_step_draws(world):
    sampler = EpisodeSampler(world)
    assert sampler.fast
    pi = np.random.default_rng(1).dirichlet(np.ones(5), size=25)
    for start, first in ((0, None), (12, 3), (24, 4)):
        fast = sampler.episode(pi, 200, np.random.default_rng(7), start_state=start,
                               start_action=first)
        slow = sample_episode(world, pi, 200, start_state=start, start_action=first,
                              rng=np.random.default_rng(7))
        for a, b in zip(fast, (slow.states, slow.actions, slow.rewards)):
            np.testing.assert_array_equal(a, b)


def test_episode_cdf_draws_the_episode_of_the_policy_it_is_the_cdf_of(world):
    sampler = EpisodeSampler(world)
    pi = np.random.default_rng(5).dirichlet(np.ones(5), size=25)
    by_cdf = sampler.episode_cdf(policy_cdf(pi), 60, np.random.default_rng(9), start_state=7)
    by_pi = sampler.episode(pi, 60, np.random.default_rng(9), start_state=7)
    other = sampler.episode(uniform_policy(25, 5), 60, np.random.default_rng(9), start_state=7)
    for a, b in zip(by_cdf, by_pi):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(by_cdf[1], other[1])
    with pytest.raises(TypeError, match="cdf"):
        sampler.episode_cdf(policy_cdf(pi)[:-1], 5, np.random.default_rng(0))


def test_policy_cdf_rows_rise_to_exactly_one():
    pi = np.array([[0.1, 0.2, 0.7], [0.0, 1.0, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    cdf = policy_cdf(pi)
    assert [row[-1] for row in cdf] == [1.0, 1.0, 1.0]
    np.testing.assert_allclose(cdf[0], [0.1, 0.3, 1.0])
    assert cdf[1] == [0.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="policy"):
        policy_cdf(np.zeros((2, 3)))


def test_the_two_control_algorithms_are_the_shared_loop_with_the_books_settings(world):
    es = mc_exploring_starts(world, 300, 20, seed=5)
    loop = episodic_control(world, 300, 20, exploring_starts=True, seed=5)
    np.testing.assert_array_equal(es.q, loop.q)
    np.testing.assert_array_equal(es.policy, loop.policy)
    free = GridWorld(start=None)
    eps = mc_epsilon_greedy(free, 0.2, 300, 20, seed=5)
    loop = episodic_control(free, 300, 20, exploring_starts=False, epsilon=0.2,
                            visit="every", seed=5)
    np.testing.assert_array_equal(eps.q, loop.q)
    first = episodic_control(free, 300, 20, exploring_starts=False, epsilon=0.2, seed=5)
    assert not np.array_equal(first.q, loop.q)            # visit="first" by default
    with pytest.raises(TypeError, match="exploring_starts"):
        episodic_control(world, 10, 10, exploring_starts=1)


def test_batch_sampling_equals_one_episode_at_a_time(world):
    sampler = EpisodeSampler(world)
    pi = uniform_policy(25, 5)
    starts, acts = np.arange(25), np.arange(25) % 5
    batch = sampler.batch(pi, 40, np.random.default_rng(2), starts, acts)
    rng = np.random.default_rng(2)
    for (s, a, r), s0, a0 in zip(batch, starts, acts):
        one = sampler.episode(pi, 40, rng, start_state=int(s0), start_action=int(a0))
        for x, y in zip((s, a, r), one):
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("algorithm", ["basic", "es", "eps"])
def test_fast_and_gymnasium_step_paths_learn_the_same_thing(algorithm):
    world = GridWorld(start=None)
    run = {"basic": lambda env, fast: mc_basic(env, 20, max_iter=3, fast=fast),
           "es": lambda env, fast: mc_exploring_starts(env, 200, 20, seed=4, fast=fast),
           "eps": lambda env, fast: mc_epsilon_greedy(env, 0.3, 200, 20, seed=4, fast=fast)}
    a, b = run[algorithm](world, True), run[algorithm](world, False)
    np.testing.assert_array_equal(a.q, b.q)
    np.testing.assert_array_equal(a.policy, b.policy)
    assert a.n_steps == b.n_steps == a.n_episodes * 20
    # truncation is Gymnasium's TimeLimit, honoured through env.step: at most 15 steps
    limited = run[algorithm](gymnasium.wrappers.TimeLimit(world, max_episode_steps=15), True)
    assert limited.n_steps <= limited.n_episodes * 15 < a.n_steps


def test_the_sampler_tabulates_only_an_unwrapped_environment_with_a_step_rule(world):
    assert EpisodeSampler(world).fast                 # GridWorld.transition, unwrapped
    assert not EpisodeSampler(world, fast=False).fast
    assert not EpisodeSampler(gymnasium.wrappers.TimeLimit(world, 10)).fast
    lake = gymnasium.make("FrozenLake-v1", is_slippery=False)
    assert not EpisodeSampler(lake.unwrapped).fast    # no transition rule to tabulate


def test_a_subclass_with_its_own_step_rule_is_sampled_by_that_rule():
    class Costly(GridWorld):                         # every move also costs 0.5
        def transition(self, state, action):
            nxt, reward = super().transition(state, action)
            return nxt, reward - 0.5
    env, pi = Costly(), uniform_policy(25, 5)
    sampler = EpisodeSampler(env)
    assert sampler.fast
    fast = sampler.episode(pi, 30, np.random.default_rng(3), start_state=4)
    slow = sample_episode(env, pi, 30, start_state=4, rng=np.random.default_rng(3))
    plain = EpisodeSampler(GridWorld()).episode(pi, 30, np.random.default_rng(3), start_state=4)
    for a, b in zip(fast, (slow.states, slow.actions, slow.rewards)):   # step follows the rule
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(fast[0], plain[0])
    np.testing.assert_allclose(fast[2], plain[2] - 0.5)


def test_works_on_the_registered_gymnasium_environment(world):
    env = gymnasium.make(GRIDWORLD_ID)               # wrapped: goes through env.step
    assert not EpisodeSampler(env).fast
    res = mc_basic(env, 30, gamma=0.9)
    np.testing.assert_array_equal(res.q, mc_basic(world, 30).q)


def test_mc_epsilon_greedy_solves_frozen_lake():
    env = gymnasium.make("FrozenLake-v1", is_slippery=False)
    res = mc_epsilon_greedy(env, 0.5, 2_000, 100, gamma=0.9, seed=0)
    ep = sample_episode(env, res.greedy, 20, seed=0)
    assert ep.terminated and ep.rewards[-1] == 1.0            # the goal, in 6 steps
    assert len(ep) == 6


def test_exploring_starts_refuse_an_environment_that_ignores_the_start():
    env = gymnasium.make("FrozenLake-v1", is_slippery=False)
    with pytest.raises(ValueError, match="start"):
        mc_exploring_starts(env, 10, 10, gamma=0.9)


def test_runs_are_seeded(world):
    a = mc_exploring_starts(world, 300, 20, seed=11)
    b = mc_exploring_starts(world, 300, 20, seed=11)
    c = mc_exploring_starts(world, 300, 20, seed=12)
    np.testing.assert_array_equal(a.q, b.q)
    assert not np.array_equal(a.q, c.q)


def test_learning_curve_has_a_snapshot_per_checkpoint(world):
    res = mc_epsilon_greedy(world, 0.2, 250, 10, record_every=50)
    assert res.checkpoints.tolist() == [0, 50, 100, 150, 200, 250]
    assert res.q_history.shape == (6, 25, 5)
    np.testing.assert_array_equal(res.q_history[-1], res.q)
    assert res.episode_returns.shape == (250,)


# ---- bad input ---------------------------------------------------------------------------
@pytest.mark.parametrize("eps", [-0.1, 1.5, float("nan"), True, "0.1"])
def test_epsilon_outside_zero_one_is_refused(world, eps):
    with pytest.raises(ValueError, match="epsilon"):
        mc_epsilon_greedy(world, eps, 10, 10)
    with pytest.raises(ValueError, match="epsilon"):
        epsilon_greedy_policy(np.zeros((2, 5)), eps)


@pytest.mark.parametrize("n", [0, -3, 2.5, None])
def test_zero_episodes_is_refused(world, n):
    with pytest.raises(ValueError, match="n_episodes"):
        mc_exploring_starts(world, n, 10)
    with pytest.raises(ValueError, match="n_episodes"):
        mc_epsilon_greedy(world, 0.1, n, 10)


@pytest.mark.parametrize("length", [0, -1, 1.5])
def test_an_episode_length_of_zero_is_refused(world, length):
    with pytest.raises(ValueError, match="episode_length"):
        mc_basic(world, length)
    with pytest.raises(ValueError, match="episode_length"):
        mc_exploring_starts(world, 10, length)
    with pytest.raises(ValueError, match="episode_length"):
        mc_epsilon_greedy(world, 0.1, 10, length)


def test_other_bad_arguments_are_refused(world):
    with pytest.raises(ValueError, match="episodes_per_pair"):
        mc_basic(world, 10, episodes_per_pair=0)
    with pytest.raises(ValueError, match="max_iter"):
        mc_basic(world, 10, max_iter=0)
    with pytest.raises(ValueError, match="visit"):
        mc_exploring_starts(world, 10, 10, visit="last")
    with pytest.raises(ValueError, match="step_size"):
        mc_exploring_starts(world, 10, 10, step_size=0.0)
    with pytest.raises(ValueError, match="gamma"):
        mc_epsilon_greedy(world, 0.1, 10, 10, gamma=1.5)
    with pytest.raises(ValueError, match="seed"):
        mc_epsilon_greedy(world, 0.1, 10, 10, seed=-1)
    with pytest.raises(ValueError, match="policy"):
        mc_exploring_starts(world, 10, 10, policy0=np.ones((25, 4)) / 4)
    with pytest.raises(ValueError, match="gamma"):               # no discount of its own
        mc_epsilon_greedy(gymnasium.make("FrozenLake-v1"), 0.1, 10, 10)
    with pytest.raises(ValueError, match="Discrete"):
        mc_epsilon_greedy(gymnasium.make("CartPole-v1"), 0.1, 10, 10, gamma=0.9)
    sampler = EpisodeSampler(world)
    with pytest.raises(ValueError, match="length"):
        sampler.episode(uniform_policy(25, 5), 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="start_action"):
        sampler.episode(uniform_policy(25, 5), 5, np.random.default_rng(0), start_state=0,
                        start_action=5)
    with pytest.raises(ValueError, match="start_actions"):
        sampler.batch(uniform_policy(25, 5), 5, np.random.default_rng(0), [0, 1], [0])


def test_mc_epsilon_greedy_from_one_fixed_start_cell_learns_without_exploring_starts(
        world, optimum):
    """The chapter's setting: every episode starts in (0, 0), no random starts at all.

    With epsilon = 0.5 the learned policy is worth nearly what the best 0.5-greedy policy
    is worth, and its greedy policy is close to optimal; with epsilon = 0.1 the one start
    cell leaves some pairs untried and the greedy policy is clearly worse."""
    v_star, q_star, unique = optimum
    mdp = world.to_mdp()
    _, best = best_epsilon_greedy(mdp, 0.5)
    half = mc_epsilon_greedy(world, 0.5, 1_000, 200, visit="first", seed=0)
    assert np.mean(evaluate_policy_exact(mdp, best)
                   - evaluate_policy_exact(mdp, half.policy)) < 0.05
    assert np.all(half.counts > 0)
    tenth = mc_epsilon_greedy(world, 0.1, 1_000, 200, visit="first", seed=0)
    gap_half, gap_tenth = (np.mean(v_star - evaluate_policy_exact(mdp, r.greedy))
                           for r in (half, tenth))
    assert gap_half < 0.1 < gap_tenth
    assert suboptimal_states(tenth.q, q_star)[unique].sum() > 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_visit_values_end_lower_and_further_from_optimal_than_first_visit(
        world, optimum, seed):
    """Chapter 4's verdict on the truncated grid world (25,000 episodes of 50 steps): the
    every-visit averages, which also count late visits with cut-short returns, end below
    the first-visit ones and with a larger mean error."""
    v_star, _, _ = optimum
    first = mc_exploring_starts(world, 25_000, 50, visit="first", seed=seed)
    every = mc_exploring_starts(world, 25_000, 50, visit="every", seed=seed)
    assert np.mean(every.values - v_star) < np.mean(first.values - v_star) < 0
    assert np.mean(np.abs(every.values - v_star)) > np.mean(np.abs(first.values - v_star))
