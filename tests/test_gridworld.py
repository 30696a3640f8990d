"""Chapter 3's claims about the grid world environment and its episodes (mlbook.rl)."""

import warnings

import gymnasium
import matplotlib.pyplot as plt
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from mlbook.rl import (ACTION_NAMES, GRIDWORLD_ID, GridWorld, deterministic_policy,
                       discounted_return, discounted_returns, evaluate_policy_exact,
                       plot_gridworld, policy_from_arrows, sample_episode,
                       uniform_policy)

UP, RIGHT, DOWN, LEFT, STAY = range(5)


# ---- Gymnasium's API ---------------------------------------------------------------------
def test_registered_environment_passes_gymnasiums_check_env_without_warnings():
    env = gymnasium.make(GRIDWORLD_ID)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)


def test_environment_with_random_starts_passes_check_env():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(GridWorld(start=None), skip_render_check=True)


def test_spaces_are_discrete_with_25_states_and_5_actions():
    env = GridWorld()
    assert env.observation_space == gymnasium.spaces.Discrete(25)
    assert env.action_space == gymnasium.spaces.Discrete(5)
    assert ACTION_NAMES == ("up", "right", "down", "left", "stay")


def test_reset_with_the_same_seed_gives_the_same_random_start():
    env = GridWorld(start=None)
    starts = [env.reset(seed=7)[0] for _ in range(3)]
    assert len(set(starts)) == 1
    assert len({env.reset(seed=s)[0] for s in range(40)}) > 5


def test_reset_options_choose_the_start_by_index_or_cell():
    env = GridWorld()
    assert env.reset(options={"start": 12})[0] == 12
    assert env.reset(options={"start": (4, 4)})[0] == 24
    obs, info = env.reset()
    assert obs == 0 and info["cell"] == (0, 0)


# ---- the rules -----------------------------------------------------------------------------
def test_a_move_off_the_grid_stays_put_and_earns_the_boundary_reward():
    env = GridWorld(r_boundary=-3)
    env.reset()
    obs, reward, terminated, truncated, _ = env.step(UP)
    assert (obs, reward, terminated, truncated) == (0, -3.0, False, False)


def test_forbidden_cells_can_be_entered_and_earn_the_forbidden_reward():
    env = GridWorld(r_forbidden=-2)
    env.reset(options={"start": (0, 1)})
    obs, reward, *_ = env.step(DOWN)
    assert env.cell_of(obs) == (1, 1) and reward == -2.0
    obs, reward, *_ = env.step(STAY)           # staying in a forbidden cell costs again
    assert env.cell_of(obs) == (1, 1) and reward == -2.0


def test_the_target_pays_at_every_step_and_never_ends_the_task():
    env = GridWorld()
    env.reset(options={"start": (3, 2)})
    for _ in range(50):
        obs, reward, terminated, truncated, _ = env.step(STAY)
        assert env.cell_of(obs) == (3, 2) and reward == 1.0
        assert not terminated and not truncated


def test_other_moves_earn_nothing():
    env = GridWorld()
    env.reset()
    obs, reward, *_ = env.step(RIGHT)
    assert (obs, reward) == (1, 0.0)


def test_the_world_itself_never_ends_an_episode():
    env = GridWorld()
    env.reset()
    flags = [env.step(STAY)[2:4] for _ in range(200)]
    assert not any(terminated or truncated for terminated, truncated in flags)


def test_episodes_are_truncated_by_gymnasiums_time_limit():
    for env in (gymnasium.wrappers.TimeLimit(GridWorld(), max_episode_steps=3),
                gymnasium.make(GRIDWORLD_ID, max_episode_steps=3)):
        env.reset(seed=0)
        flags = [env.step(STAY)[3] for _ in range(3)]
        assert flags == [False, False, True]
        episode = sample_episode(env, uniform_policy(25, 5), 10, seed=0)
        assert len(episode) == 3 and not episode.terminated


def test_the_mdp_has_the_same_rules_as_step():
    env = GridWorld(r_boundary=-2, r_forbidden=-5, r_target=3)
    mdp = env.to_mdp()
    assert mdp.P.shape == (25, 5, 25) and mdp.R.shape == (25, 5) and mdp.gamma == 0.9
    for s in range(env.n_states):
        for a in range(env.n_actions):
            env.reset(options={"start": s})
            obs, reward, *_ = env.step(a)
            assert mdp.P[s, a, obs] == 1.0 and mdp.R[s, a] == reward


def test_default_layout_is_zhaos_five_by_five_world():
    env = GridWorld()
    assert env.shape == (5, 5) and env.target == (3, 2)
    assert env.forbidden == ((1, 1), (1, 2), (2, 2), (3, 1), (3, 3), (4, 1))
    assert (env.r_boundary, env.r_forbidden, env.r_target, env.gamma) == (-1, -1, 1, 0.9)


def test_render_ansi_shows_agent_target_and_forbidden_cells():
    env = GridWorld(size=(2, 3), forbidden=[(0, 2)], target=(1, 1), render_mode="ansi")
    env.reset()
    assert env.render() == "A . #\n. T .\n"


def test_rectangular_boards_number_states_row_by_row():
    env = GridWorld(size=(2, 4), forbidden=[], target=(1, 3))
    assert env.n_states == 8 and env.state_of((1, 2)) == 6 and env.cell_of(5) == (1, 1)


# ---- episodes and returns ------------------------------------------------------------------
def test_discounted_returns_follow_the_backward_recursion():
    rewards = np.array([0.0, -1.0, 0.0, 1.0, 1.0])
    g = discounted_returns(rewards, 0.9)
    assert g[0] == pytest.approx(sum(0.9 ** k * r for k, r in enumerate(rewards)))
    np.testing.assert_allclose(g[:-1], rewards[:-1] + 0.9 * g[1:])
    assert discounted_return(np.ones(100), 0.5) == pytest.approx(2 * (1 - 0.5 ** 100))
    assert discounted_return([], 0.9) == 0.0


def test_sampled_episodes_are_reproducible_from_a_seed():
    env = GridWorld(start=None)
    pi = uniform_policy(25, 5)
    a, b = sample_episode(env, pi, 30, seed=3), sample_episode(env, pi, 30, seed=3)
    np.testing.assert_array_equal(a.states, b.states)
    np.testing.assert_array_equal(a.actions, b.actions)
    assert len(a) == 30 and not a.terminated


def test_a_deterministic_policy_gives_the_path_it_prescribes():
    env = GridWorld()
    actions = np.full(25, STAY)
    actions[[0, 1, 2, 3]] = RIGHT       # along the top row ...
    actions[[4, 9, 14, 19]] = DOWN      # ... then down the right edge
    ep = sample_episode(env, deterministic_policy(actions, 5), 10)
    assert [env.cell_of(s) for s in ep.states[:6]] == [(0, 0), (0, 1), (0, 2), (0, 3),
                                                       (0, 4), (1, 4)]
    assert ep.final_state == env.state_of((4, 4))


def test_exploring_starts_fix_the_first_state_and_action():
    env = GridWorld()
    ep = sample_episode(env, uniform_policy(25, 5), 5, seed=0, start_state=13,
                        start_action=LEFT)
    assert ep.states[0] == 13 and ep.actions[0] == LEFT


def test_sampled_actions_follow_the_policy_probabilities():
    env = GridWorld()
    pi = np.tile([0.1, 0.2, 0.3, 0.4, 0.0], (25, 1))
    ep = sample_episode(env, pi, 20_000, seed=1)
    freq = np.bincount(ep.actions, minlength=5) / len(ep)
    np.testing.assert_allclose(freq, pi[0], atol=0.015)


def test_average_sampled_return_estimates_the_state_value():
    env = GridWorld()
    pi = uniform_policy(25, 5)
    v = evaluate_policy_exact(env.to_mdp(), pi)
    rng = np.random.default_rng(0)
    # 0.9 ** 150 < 2e-7, so truncating the endless return at 150 steps changes nothing here
    g = [sample_episode(env, pi, 150, rng=rng, start_state=0).ret(0.9) for _ in range(400)]
    stderr = np.std(g) / np.sqrt(len(g))
    assert abs(np.mean(g) - v[0]) < 4 * stderr


# ---- drawing -------------------------------------------------------------------------------
def test_plot_draws_one_arrow_per_move_and_a_circle_for_stay():
    env = GridWorld(size=(1, 2), forbidden=[], target=(0, 1))
    pi = np.array([[0, 0.5, 0, 0, 0.5], [0, 0, 0, 0, 1.0]])
    ax = plot_gridworld(env, values=np.array([9.0, 10.0]), policy=pi, title="t")
    drawn = {c.get_gid(): len(c.get_paths()) for c in ax.collections}
    assert drawn["policy-arrows"] == 1 and drawn["policy-stay"] == 2
    assert [t.get_text() for t in ax.texts] == ["9.0", "10.0"]
    assert ax.get_title() == "t" and ax.get_xlabel() == "column"
    plt.close(ax.figure)


def test_plot_refuses_values_or_policies_of_the_wrong_shape():
    env = GridWorld()
    with pytest.raises(ValueError, match="values"):
        plot_gridworld(env, values=np.zeros(24))
    with pytest.raises(ValueError, match="policy"):
        plot_gridworld(env, policy=np.ones((25, 5)))
    plt.close("all")


# ---- bad input -----------------------------------------------------------------------------
@pytest.mark.parametrize("size", [0, (0, 5), (5, 0), -3, (2,), "5", 2.5])
def test_a_grid_of_size_zero_or_a_malformed_size_is_refused(size):
    with pytest.raises(ValueError, match="size"):
        GridWorld(size)


def test_a_target_inside_a_forbidden_cell_is_refused():
    with pytest.raises(ValueError, match="target .* forbidden"):
        GridWorld(target=(1, 1))


@pytest.mark.parametrize("gamma", [1.0, 1.2, -0.5])
def test_a_discount_outside_zero_one_is_refused_by_the_environment(gamma):
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        GridWorld(gamma=gamma)


@pytest.mark.parametrize("kwargs, match", [
    ({"target": (5, 0)}, "off the 5 x 5 board"),
    ({"forbidden": [(0, 7)]}, "off the 5 x 5 board"),
    ({"start": (-1, 0)}, "off the 5 x 5 board"),
    ({"target": 3}, "pair"),
    ({"r_forbidden": float("nan")}, "r_forbidden"),
    ({"render_mode": "human"}, "render_mode"),
])
def test_other_bad_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GridWorld(**kwargs)


def test_bad_actions_and_states_are_refused():
    env = GridWorld()
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    env.reset()
    with pytest.raises(ValueError, match="action"):
        env.step(5)
    with pytest.raises(ValueError, match="state"):
        env.reset(options={"start": 25})


@pytest.mark.parametrize("kwargs, match", [
    ({"policy": np.full((25, 5), 0.3)}, "sum to 1"),
    ({"n_steps": 0}, "n_steps"),
    ({"start_action": 7}, "start_action"),
])
def test_sample_episode_refuses_bad_input(kwargs, match):
    args = {"policy": uniform_policy(25, 5), "n_steps": 5, **kwargs}
    with pytest.raises(ValueError, match=match):
        sample_episode(GridWorld(), args.pop("policy"), args.pop("n_steps"), **args)


@pytest.mark.parametrize("gamma", [-0.1, 1.1])
def test_discounted_returns_refuse_a_discount_outside_zero_one(gamma):
    with pytest.raises(ValueError, match="gamma"):
        discounted_returns([1.0], gamma)


def test_a_policy_can_be_written_as_arrows():
    env = GridWorld(size=(2, 3), forbidden=[], target=(1, 2))
    pi = policy_from_arrows(env, ["> > v", "↑ → o"])
    np.testing.assert_array_equal(pi.argmax(axis=1), [RIGHT, RIGHT, DOWN, UP, RIGHT, STAY])
    assert pi.sum() == 6


@pytest.mark.parametrize("rows, match", [(["> > v"], "2 rows"), (["> > v", "> x o"], "'x'")])
def test_arrow_policies_of_the_wrong_shape_or_with_other_characters_are_refused(rows, match):
    env = GridWorld(size=(2, 3), forbidden=[], target=(1, 2))
    with pytest.raises(ValueError, match=match):
        policy_from_arrows(env, rows)
