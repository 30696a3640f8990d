"""Chapter 3's claims about finite MDPs and planning (mlbook.rl.mdp, .planning, .examples)."""

import numpy as np
import pytest

from mlbook.rl import (SUTTON_BARTO_OPTIMAL_VALUES, SUTTON_BARTO_RANDOM_VALUES,
                       ZHAO_OPTIMAL_VALUES, FiniteMDP, GridWorld, action_values,
                       check_policy, deterministic_policy, evaluate_policy_exact,
                       evaluate_policy_iterative, greedy_policy, policy_iteration,
                       sutton_barto_gridworld, truncated_policy_iteration, uniform_policy,
                       value_iteration)
from mlbook.rl import improve_policy, stopping_bounds
from mlbook.rl import random_mdp as mlbook_random_mdp


def random_mdp(seed, n_states=6, n_actions=3, gamma=0.8):   # dense rows, unlike mlbook's
    """A dense random MDP: every planning function must work on it, not only on grids."""
    rng = np.random.default_rng(seed)
    P = rng.random((n_states, n_actions, n_states)) ** 3
    P /= P.sum(axis=2, keepdims=True)
    R = rng.normal(size=(n_states, n_actions))
    return FiniteMDP(P, R, gamma)


def random_policy(seed, n_states, n_actions):
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.ones(n_actions), size=n_states)


@pytest.fixture(scope="module")
def grid_mdp():
    return GridWorld().to_mdp()


# ---- the Bellman equation: closed form and iteration agree -------------------------------
@pytest.mark.parametrize("which", ["uniform", "random", "deterministic"])
def test_closed_form_and_iterative_evaluation_agree_to_1e8(grid_mdp, which):
    S, A = grid_mdp.n_states, grid_mdp.n_actions
    policy = {"uniform": uniform_policy(S, A),
              "random": random_policy(0, S, A),
              "deterministic": deterministic_policy(np.arange(S) % A, A)}[which]
    exact = evaluate_policy_exact(grid_mdp, policy)
    it = evaluate_policy_iterative(grid_mdp, policy)
    assert it.converged
    assert np.max(np.abs(exact - it.values)) < 1e-8


@pytest.mark.parametrize("seed", range(5))
def test_closed_form_and_iterative_evaluation_agree_on_any_finite_mdp(seed):
    mdp = random_mdp(seed, gamma=0.95)
    policy = random_policy(seed, mdp.n_states, mdp.n_actions)
    exact = evaluate_policy_exact(mdp, policy)
    assert np.max(np.abs(exact - evaluate_policy_iterative(mdp, policy).values)) < 1e-8


def test_closed_form_values_solve_the_bellman_equation(grid_mdp):
    policy = random_policy(1, grid_mdp.n_states, grid_mdp.n_actions)
    v = evaluate_policy_exact(grid_mdp, policy)
    r_pi, P_pi = grid_mdp.policy_model(policy)
    np.testing.assert_allclose(v, r_pi + grid_mdp.gamma * P_pi @ v, atol=1e-12)
    # elementwise form (3): v(s) = sum_a pi(a|s) q(s, a)
    np.testing.assert_allclose(v, (policy * action_values(grid_mdp, v)).sum(axis=1),
                               atol=1e-12)


def test_iterative_evaluation_error_shrinks_at_least_by_gamma_each_sweep(grid_mdp):
    policy = uniform_policy(grid_mdp.n_states, grid_mdp.n_actions)
    exact = evaluate_policy_exact(grid_mdp, policy)
    res = evaluate_policy_iterative(grid_mdp, policy, tol=1e-6)
    errors = np.array([np.max(np.abs(v - exact)) for v in res.history])
    assert np.all(errors[1:] <= grid_mdp.gamma * errors[:-1] + 1e-12)
    assert res.n_iter == len(res.history) - 1


def test_iterative_evaluation_reports_non_convergence_when_capped(grid_mdp):
    res = evaluate_policy_iterative(grid_mdp, uniform_policy(25, 5), max_iter=3)
    assert not res.converged and res.n_iter == 3


# ---- optimal values --------------------------------------------------------------------
def test_value_and_policy_iteration_reach_the_same_optimal_values(grid_mdp):
    vi = value_iteration(grid_mdp)
    pi = policy_iteration(grid_mdp)
    assert vi.converged and pi.converged
    assert np.max(np.abs(vi.values - pi.values)) < 1e-6
    # both policies are optimal: evaluated exactly, each reaches v*
    for res in (vi, pi):
        np.testing.assert_allclose(evaluate_policy_exact(grid_mdp, res.policy), pi.values,
                                   atol=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_value_and_policy_iteration_agree_on_any_finite_mdp(seed):
    mdp = random_mdp(seed, n_states=8, n_actions=4, gamma=0.9)
    vi, pi = value_iteration(mdp), policy_iteration(mdp)
    assert np.max(np.abs(vi.values - pi.values)) < 1e-6


def test_optimal_values_satisfy_the_bellman_optimality_equation(grid_mdp):
    v = policy_iteration(grid_mdp).values
    np.testing.assert_allclose(v, action_values(grid_mdp, v).max(axis=1), atol=1e-10)


def test_policy_iteration_needs_far_fewer_iterations_than_value_iteration(grid_mdp):
    assert policy_iteration(grid_mdp).n_iter < value_iteration(grid_mdp).n_iter / 10


def test_policy_iteration_values_never_decrease(grid_mdp):
    res = policy_iteration(grid_mdp)
    for before, after in zip(res.history, res.history[1:]):
        assert np.all(after >= before - 1e-12)


def test_truncated_policy_iteration_with_one_sweep_is_value_iteration(grid_mdp):
    vi = value_iteration(grid_mdp)
    tpi = truncated_policy_iteration(grid_mdp, 1)
    assert tpi.n_iter == vi.n_iter
    for a, b in zip(vi.history, tpi.history):
        np.testing.assert_allclose(a, b, atol=1e-12)


def test_more_evaluation_sweeps_mean_fewer_outer_iterations(grid_mdp):
    counts = [truncated_policy_iteration(grid_mdp, j).n_iter for j in (1, 2, 5, 20, 100)]
    assert counts == sorted(counts, reverse=True) and counts[0] > counts[-1]
    exact = policy_iteration(grid_mdp).values
    assert np.max(np.abs(truncated_policy_iteration(grid_mdp, 5).values - exact)) < 1e-6


def test_target_value_is_r_target_over_one_minus_gamma():
    world = GridWorld()
    v = policy_iteration(world.to_mdp()).values
    assert v[world.state_of(world.target)] == pytest.approx(1.0 / (1 - 0.9))


def test_adding_a_constant_to_every_reward_keeps_the_optimal_policy():
    base = GridWorld()
    shifted = GridWorld(r_boundary=-1 + 2, r_forbidden=-1 + 2, r_target=1 + 2, r_other=2)
    a, b = policy_iteration(base.to_mdp()), policy_iteration(shifted.to_mdp())
    np.testing.assert_array_equal(a.policy, b.policy)
    np.testing.assert_allclose(b.values, a.values + 2 / (1 - 0.9), atol=1e-9)


def _greedy_path(world, policy, n=12):
    s, path = world.state_of(world.start), []
    for _ in range(n):
        path.append(world.cell_of(s))
        s, _ = world.transition(s, int(policy[s].argmax()))
    return path


def test_far_sighted_agent_cuts_through_a_forbidden_cell_a_short_sighted_one_goes_round():
    far, near = GridWorld(gamma=0.9), GridWorld(gamma=0.5)
    far_path = _greedy_path(far, policy_iteration(far.to_mdp()).policy)
    near_path = _greedy_path(near, policy_iteration(near.to_mdp()).policy)
    assert far.target in far_path and near.target in near_path
    assert any(c in far.forbidden for c in far_path)
    assert not any(c in near.forbidden for c in near_path)


def test_a_harsh_penalty_keeps_the_agent_out_of_forbidden_cells():
    harsh = GridWorld(r_forbidden=-10)
    path = _greedy_path(harsh, policy_iteration(harsh.to_mdp()).policy)
    assert harsh.target in path and not any(c in harsh.forbidden for c in path)


def test_with_zero_discount_the_agent_only_avoids_immediate_penalties():
    world = GridWorld(gamma=0.0)
    mdp = world.to_mdp()
    res = policy_iteration(mdp)
    np.testing.assert_allclose(res.values, mdp.R.max(axis=1))


# ---- published numbers: Sutton & Barto (2018), Figures 3.2 and 3.5 --------------------
def test_random_policy_values_match_sutton_barto_figure_3_2():
    mdp = sutton_barto_gridworld()
    v = evaluate_policy_exact(mdp, uniform_policy(25, 4)).reshape(5, 5)
    np.testing.assert_array_equal(np.round(v, 1), SUTTON_BARTO_RANDOM_VALUES)


def test_optimal_values_match_sutton_barto_figure_3_5():
    mdp = sutton_barto_gridworld()
    for res in (value_iteration(mdp), policy_iteration(mdp)):
        np.testing.assert_array_equal(np.round(res.values.reshape(5, 5), 1),
                                      SUTTON_BARTO_OPTIMAL_VALUES)


# ---- greedy policies ---------------------------------------------------------------------
def test_greedy_policy_breaks_ties_by_first_action_or_splits_them():
    q = np.array([[1.0, 3.0, 3.0 - 1e-12], [0.0, -1.0, -2.0]])
    np.testing.assert_array_equal(greedy_policy(q), [[0, 1, 0], [1, 0, 0]])
    np.testing.assert_allclose(greedy_policy(q, ties="split"), [[0, 0.5, 0.5], [1, 0, 0]])


def test_policy_helpers_make_valid_policies():
    assert check_policy(uniform_policy(3, 4), 3, 4).sum() == pytest.approx(3)
    np.testing.assert_array_equal(deterministic_policy([2, 0], 3), [[0, 0, 1], [1, 0, 0]])


def test_mdp_arrays_are_read_only_copies():
    P = np.ones((2, 1, 2)) / 2
    mdp = FiniteMDP(P, np.zeros((2, 1)), 0.5)
    P[0, 0, 0] = 5.0
    assert mdp.P[0, 0, 0] == 0.5
    with pytest.raises(ValueError):
        mdp.P[0, 0, 0] = 1.0


# ---- bad input -----------------------------------------------------------------------------
def _tiny(gamma=0.5, P=None, R=None):
    P = np.ones((2, 1, 2)) / 2 if P is None else P
    R = np.zeros((2, 1)) if R is None else R
    return FiniteMDP(P, R, gamma)


@pytest.mark.parametrize("gamma", [1.0, 1.5, -0.1, float("nan"), True, "0.9"])
def test_discount_outside_zero_one_is_refused(gamma):
    with pytest.raises(ValueError, match="gamma"):
        _tiny(gamma=gamma)


def test_transition_rows_that_do_not_sum_to_one_are_refused():
    P = np.ones((2, 1, 2)) / 2
    P[1, 0] = [0.5, 0.6]
    with pytest.raises(ValueError, match=r"P\[1, 0, :\] sums to 1.1"):
        _tiny(P=P)


@pytest.mark.parametrize("P, match", [
    (np.ones((2, 1, 3)) / 3, "shape"),
    (np.ones((2, 2)) / 2, "shape"),
    (np.array([[[1.5, -0.5]], [[0.5, 0.5]]]), "probabilities"),
    (np.array([[[np.nan, 1.0]], [[0.5, 0.5]]]), "probabilities"),
])
def test_malformed_transition_arrays_are_refused(P, match):
    with pytest.raises(ValueError, match=match):
        _tiny(P=P)


@pytest.mark.parametrize("R", [np.zeros((2, 2)), np.zeros(2), np.array([[np.inf], [0.0]])])
def test_malformed_reward_arrays_are_refused(R):
    with pytest.raises(ValueError, match="R must"):
        _tiny(R=R)


def test_labels_of_the_wrong_length_are_refused():
    with pytest.raises(ValueError, match="state_labels"):
        FiniteMDP(np.ones((2, 1, 2)) / 2, np.zeros((2, 1)), 0.5, state_labels=("a",))


@pytest.mark.parametrize("policy, match", [
    (np.full((25, 5), 0.3), "row 0 sums to 1.5"),
    (np.full((25, 4), 0.25), "shape"),
    (np.c_[np.full((25, 4), 0.5), -np.ones(25)], ">= 0"),
    (np.full((25, 5), np.nan), "finite"),
])
def test_policies_whose_rows_are_not_distributions_are_refused(grid_mdp, policy, match):
    for call in (lambda: evaluate_policy_exact(grid_mdp, policy),
                 lambda: evaluate_policy_iterative(grid_mdp, policy),
                 lambda: policy_iteration(grid_mdp, policy0=policy),
                 lambda: grid_mdp.policy_model(policy)):
        with pytest.raises(ValueError, match=match):
            call()


@pytest.mark.parametrize("kwargs", [{"tol": 0}, {"tol": -1e-3}, {"max_iter": 0},
                                    {"v0": np.zeros(3)}])
def test_bad_iteration_settings_are_refused(grid_mdp, kwargs):
    with pytest.raises(ValueError):
        value_iteration(grid_mdp, **kwargs)


@pytest.mark.parametrize("sweeps", [0, -2, 1.5, True])
def test_truncated_policy_iteration_needs_a_positive_number_of_sweeps(grid_mdp, sweeps):
    with pytest.raises(ValueError, match="n_eval_sweeps"):
        truncated_policy_iteration(grid_mdp, sweeps)


def test_planning_refuses_something_that_is_not_a_finite_mdp():
    with pytest.raises(ValueError, match="FiniteMDP"):
        value_iteration({"P": 1})


@pytest.mark.parametrize("q, kwargs", [(np.zeros(3), {}), (np.zeros((2, 2)), {"ties": "random"}),
                                       (np.full((2, 2), np.nan), {}),
                                       (np.zeros((2, 2)), {"atol": -1.0})])
def test_greedy_policy_refuses_bad_input(q, kwargs):
    with pytest.raises(ValueError):
        greedy_policy(q, **kwargs)


@pytest.mark.parametrize("call", [lambda: uniform_policy(0, 3),
                                  lambda: deterministic_policy([0, 3], 3),
                                  lambda: deterministic_policy([0.5], 3)])
def test_policy_helpers_refuse_bad_input(call):
    with pytest.raises(ValueError):
        call()


def test_optimal_values_of_the_default_grid_world_match_zhao_chapter_3():
    world = GridWorld()
    for res in (value_iteration(world.to_mdp()), policy_iteration(world.to_mdp())):
        np.testing.assert_array_equal(np.round(res.values.reshape(world.shape), 1),
                                      ZHAO_OPTIMAL_VALUES)


# ---- the policy improvement theorem, eqs. (3.11)-(3.12) ---------------------------------------
@pytest.mark.parametrize("seed", range(5))
def test_policy_improvement_never_lowers_a_value_and_gains_at_least_the_advantage(seed):
    mdp = mlbook_random_mdp(12, 3, 0.9, seed=seed)
    policy = random_policy(seed, mdp.n_states, mdp.n_actions)
    v_old = evaluate_policy_exact(mdp, policy)
    improved = improve_policy(mdp, policy)
    v_new = evaluate_policy_exact(mdp, improved)
    r_new, P_new = mdp.policy_model(improved)
    advantage = r_new + mdp.gamma * P_new @ v_old - v_old
    assert np.all(advantage >= -1e-12)
    # identity (3.12): (I - gamma P_pi') (v_pi' - v_pi) = a, so the gain is >= the advantage
    np.testing.assert_allclose((np.eye(mdp.n_states) - mdp.gamma * P_new) @ (v_new - v_old),
                               advantage, atol=1e-10)
    assert np.all(v_new - v_old >= advantage - 1e-10)
    # a random stochastic policy is not optimal: some state gains strictly
    assert np.max(v_new - v_old) > 1e-6


def test_improving_an_optimal_policy_changes_no_value(grid_mdp):
    best = policy_iteration(grid_mdp)
    again = improve_policy(grid_mdp, best.policy)
    np.testing.assert_allclose(evaluate_policy_exact(grid_mdp, again), best.values, atol=1e-9)


def test_repeated_improvement_is_policy_iteration(grid_mdp):
    pi = deterministic_policy(np.zeros(grid_mdp.n_states, dtype=int), grid_mdp.n_actions)
    for _ in range(20):
        new = improve_policy(grid_mdp, pi)
        if np.array_equal(new, pi):
            break
        pi = new
    np.testing.assert_allclose(evaluate_policy_exact(grid_mdp, pi),
                               policy_iteration(grid_mdp).values, atol=1e-9)


def test_improve_policy_refuses_bad_input(grid_mdp):
    with pytest.raises(ValueError, match="shape"):
        improve_policy(grid_mdp, np.full((25, 4), 0.25))
    with pytest.raises(ValueError, match="FiniteMDP"):
        improve_policy("not an mdp", uniform_policy(25, 5))


# ---- value iteration's stopping bounds, eqs. (3.13)-(3.14) -------------------------------------
def _errors_along(mdp, run):
    v_star = policy_iteration(mdp).values
    error = np.array([np.max(np.abs(v - v_star)) for v in run.history[1:]])
    loss = np.array([np.max(v_star - evaluate_policy_exact(
        mdp, greedy_policy(action_values(mdp, v)))) for v in run.history[1:]])
    return error, loss


@pytest.mark.parametrize("seed", range(5))
def test_stopping_bounds_hold_at_every_sweep_on_random_mdps(seed):
    mdp = mlbook_random_mdp(20, 3, 0.95, seed=seed)
    run = value_iteration(mdp, tol=1e-8)
    bounds = stopping_bounds(run.history, mdp.gamma)
    error, loss = _errors_along(mdp, run)
    assert bounds.change.shape == error.shape == (run.n_iter,)
    assert np.all(error <= bounds.value_error_bound + 1e-10)
    assert np.all(loss <= bounds.policy_loss_bound + 1e-10)
    np.testing.assert_allclose(bounds.policy_loss_bound, 2 * bounds.value_error_bound)


def test_stopping_bounds_hold_from_any_start_on_the_grid(grid_mdp):
    v0 = np.random.default_rng(0).normal(scale=20, size=grid_mdp.n_states)
    run = value_iteration(grid_mdp, v0=v0, tol=1e-6)
    bounds = stopping_bounds(run.history, grid_mdp.gamma)
    error, loss = _errors_along(grid_mdp, run)
    assert np.all(error <= bounds.value_error_bound + 1e-10)
    assert np.all(loss <= bounds.policy_loss_bound + 1e-10)


def test_the_value_bound_holds_with_equality_for_a_single_rewarding_state():
    mdp = FiniteMDP(np.ones((1, 1, 1)), np.ones((1, 1)), 0.8)
    run = value_iteration(mdp, tol=1e-9)
    error = np.array([abs(v[0] - 5.0) for v in run.history[1:]])
    np.testing.assert_allclose(error, stopping_bounds(run.history, 0.8).value_error_bound,
                               rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("history, gamma, match", [
    ([np.zeros(3)], 0.9, "at least two"),
    ([np.zeros(3), np.zeros(4)], 0.9, "history"),
    ([np.zeros(3), np.full(3, np.nan)], 0.9, "finite"),
    ([np.zeros(3), np.ones(3)], 1.0, "gamma"),
    (np.zeros((4, 3, 2)), 0.9, "at least two"),
])
def test_stopping_bounds_refuse_bad_input(history, gamma, match):
    with pytest.raises(ValueError, match=match):
        stopping_bounds(history, gamma)


# ---- generalized policy iteration: counting backups ---------------------------------------------
def test_backup_counts_follow_the_formula(grid_mdp):
    S, A = grid_mdp.n_states, grid_mdp.n_actions
    vi = value_iteration(grid_mdp)
    assert vi.n_backups == vi.n_iter * S * A
    assert truncated_policy_iteration(grid_mdp, 1).n_backups == vi.n_backups
    tpi = truncated_policy_iteration(grid_mdp, 7)
    assert tpi.n_backups == tpi.n_iter * S * (A + 6)
    assert policy_iteration(grid_mdp).n_backups is None


@pytest.mark.parametrize("seed", range(5))
def test_an_intermediate_number_of_sweeps_needs_the_fewest_backups(seed):
    mdp = mlbook_random_mdp(30, 4, 0.95, seed=seed)
    sweeps = [1, 4, 16, 64, 256]
    backups = [truncated_policy_iteration(mdp, j, tol=1e-8).n_backups for j in sweeps]
    best = int(np.argmin(backups))
    assert 0 < best < len(sweeps) - 1
    assert backups[0] > 2 * backups[best]


# ---- episodic tasks: absorbing states ----------------------------------------------------
def test_absorbing_states_loop_with_zero_reward_and_leave_the_rest_unchanged(grid_mdp):
    t = 17
    ep = grid_mdp.with_absorbing_states([t])
    assert np.all(ep.P[t, :, t] == 1) and np.all(ep.R[t] == 0)
    others = np.arange(grid_mdp.n_states) != t
    np.testing.assert_array_equal(ep.P[others], grid_mdp.P[others])
    np.testing.assert_array_equal(ep.R[others], grid_mdp.R[others])
    assert grid_mdp.R[t, 4] == 1.0           # the original is not modified
    assert ep.gamma == grid_mdp.gamma


def _optimal_sets(mdp):
    v = policy_iteration(mdp).values
    return greedy_policy(action_values(mdp, v), ties="split", atol=1e-9) > 0


def test_an_absorbing_target_changes_the_optimal_actions_in_most_cells():
    world = GridWorld()
    mdp = world.to_mdp()
    t = world.state_of(world.target)
    cont, epi = _optimal_sets(mdp), _optimal_sets(mdp.with_absorbing_states([t]))
    changed = sum(not np.array_equal(cont[s], epi[s]) for s in range(25) if s != t)
    assert changed > 12


def test_an_arrival_reward_of_one_over_one_minus_gamma_recovers_the_continuing_task():
    world = GridWorld(gamma=0.8)
    mdp = world.to_mdp()
    t = world.state_of(world.target)
    R = mdp.R.copy()
    R[mdp.P[:, :, t] > 0] = 1.0 / (1 - 0.8)
    ep = FiniteMDP(mdp.P, R, 0.8).with_absorbing_states([t])
    others = np.arange(25) != t
    np.testing.assert_allclose(policy_iteration(ep).values[others],
                               policy_iteration(mdp).values[others], atol=1e-9)


@pytest.mark.parametrize("c", [0.5, 2.0, 5.0])
def test_in_an_episodic_task_a_positive_shift_of_every_reward_keeps_the_agent_from_ending(c):
    world = GridWorld()
    mdp = world.to_mdp()
    t = world.state_of(world.target)
    base = policy_iteration(mdp.with_absorbing_states([t]))
    shifted = policy_iteration(FiniteMDP(mdp.P, mdp.R + c, 0.9).with_absorbing_states([t]))
    assert not np.array_equal(base.policy, shifted.policy)
    # the shifted agent never enters the target from any other cell
    s_next = mdp.P.argmax(axis=2)[np.arange(25), shifted.policy.argmax(axis=1)]
    assert np.all(s_next[np.arange(25) != t] != t)


@pytest.mark.parametrize("states", [[], [25], [-1], [1.5], [True], 3])
def test_with_absorbing_states_refuses_bad_input(grid_mdp, states):
    with pytest.raises(ValueError, match="states"):
        grid_mdp.with_absorbing_states(states)


# ---- random MDPs ---------------------------------------------------------------------------
def test_random_mdps_are_valid_and_reproducible_from_a_seed():
    a, b = mlbook_random_mdp(7, 2, 0.5, seed=3), mlbook_random_mdp(7, 2, 0.5, seed=3)
    c = mlbook_random_mdp(7, 2, seed=4)
    np.testing.assert_array_equal(a.P, b.P)
    np.testing.assert_array_equal(a.R, b.R)
    assert not np.array_equal(a.P, c.P)
    assert a.P.shape == (7, 2, 7) and a.R.shape == (7, 2) and a.gamma == 0.5
    np.testing.assert_allclose(a.P.sum(axis=2), 1.0)
    # larger peakedness concentrates each row on fewer next states
    flat = mlbook_random_mdp(40, 2, seed=0, peakedness=1)
    peaked = mlbook_random_mdp(40, 2, seed=0)
    assert peaked.P.max(axis=2).mean() > flat.P.max(axis=2).mean()


@pytest.mark.parametrize("kwargs, match", [
    ({"n_states": 0}, "n_states"), ({"n_actions": 1.5}, "n_actions"),
    ({"peakedness": 0}, "peakedness"), ({"peakedness": float("inf")}, "peakedness"),
    ({"gamma": 1.0}, "gamma"), ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"),
])
def test_random_mdp_refuses_bad_input(kwargs, match):
    args = {"n_states": 4, "n_actions": 2, "gamma": 0.9, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        mlbook_random_mdp(**args)
