"""Reinforcement learning: the code behind chapters 3-4.

=============================  ===========================================================
module                         what it holds
=============================  ===========================================================
:mod:`mlbook.rl.mdp`           :class:`FiniteMDP` (``P`` ``(S, A, S)``, ``R`` ``(S, A)``,
                               ``gamma``) and policies as ``(S, A)`` arrays
:mod:`mlbook.rl.gridworld`     :class:`GridWorld`, a Gymnasium environment, and its drawing
:mod:`mlbook.rl.episodes`      sampling trajectories under a policy (one loop, Gymnasium
                               interface only); discounted returns
:mod:`mlbook.rl.planning`      policy evaluation (closed form, iterative), value, policy
                               and truncated policy iteration, greedy policies, policy
                               improvement, value iteration's stopping bounds
:mod:`mlbook.rl.examples`      textbook MDPs with published values to check against
:mod:`mlbook.rl.monte_carlo`   Monte Carlo control from sampled episodes (chapter 4): MC
                               Basic, exploring starts, epsilon-greedy (one shared loop);
                               prediction and off-policy importance sampling
:mod:`mlbook.rl.blackjack`     Blackjack through Gymnasium, and its exact values (chapter 4)
=============================  ===========================================================

Importing this package registers the grid world with Gymnasium as
``"mlbook/GridWorld-v0"``, so ``gymnasium.make("mlbook/GridWorld-v0")`` works. The task is
continuing, so the registration sets no time limit; ``gymnasium.make("mlbook/GridWorld-v0",
max_episode_steps=n)`` adds Gymnasium's ``TimeLimit``, which truncates episodes after ``n``
steps.
"""

import gymnasium as _gym

from .episodes import (Episode, EpisodeSampler, discounted_return, discounted_returns,
                       policy_cdf, sample_episode)
from .examples import (SUTTON_BARTO_OPTIMAL_VALUES, SUTTON_BARTO_RANDOM_VALUES,
                       ZHAO_OPTIMAL_VALUES, random_mdp, sutton_barto_gridworld)
from .gridworld import ACTION_NAMES, ACTIONS, GridWorld, plot_gridworld, policy_from_arrows
from .mdp import FiniteMDP, check_policy, deterministic_policy, uniform_policy
from .monte_carlo import (MCResult, OffPolicyResult, ValueEstimates,
                          best_epsilon_greedy, episodic_control, epsilon_greedy_policy,
                          importance_sampling_estimates, mc_basic, mc_epsilon_greedy,
                          mc_exploring_starts, mc_off_policy_prediction,
                          state_value_estimates, suboptimal_states, unique_optimal_states)
from .blackjack import (OBS_SHAPE, BlackjackEpisodes, BlackjackValues,
                        evaluate_blackjack_policy, play_blackjack, stick_on_policy)
from .planning import (EvaluationResult, PlanningResult, StoppingBounds, action_values,
                       evaluate_policy_exact, evaluate_policy_iterative, greedy_policy,
                       improve_policy, policy_iteration, stopping_bounds,
                       truncated_policy_iteration, value_iteration)

GRIDWORLD_ID = "mlbook/GridWorld-v0"
if GRIDWORLD_ID not in _gym.registry:
    _gym.register(id=GRIDWORLD_ID, entry_point="mlbook.rl.gridworld:GridWorld")

__all__ = [
    "ACTIONS", "ACTION_NAMES", "Episode", "EvaluationResult", "FiniteMDP", "GRIDWORLD_ID",
    "GridWorld", "PlanningResult", "SUTTON_BARTO_OPTIMAL_VALUES",
    "SUTTON_BARTO_RANDOM_VALUES", "action_values", "check_policy", "deterministic_policy",
    "discounted_return", "discounted_returns", "evaluate_policy_exact",
    "evaluate_policy_iterative", "greedy_policy", "plot_gridworld", "policy_from_arrows",
    "policy_iteration", "StoppingBounds", "improve_policy", "random_mdp", "stopping_bounds",
    "policy_cdf", "sample_episode", "sutton_barto_gridworld", "truncated_policy_iteration",
    "uniform_policy", "value_iteration", "ZHAO_OPTIMAL_VALUES",
    # chapter 4: Monte Carlo methods
    "EpisodeSampler", "MCResult", "best_epsilon_greedy", "episodic_control",
    "epsilon_greedy_policy", "mc_basic",
    "mc_epsilon_greedy", "mc_exploring_starts", "suboptimal_states", "unique_optimal_states",
    "OffPolicyResult", "ValueEstimates", "importance_sampling_estimates",
    "mc_off_policy_prediction", "state_value_estimates",
    # chapter 4: Blackjack
    "OBS_SHAPE", "BlackjackEpisodes", "BlackjackValues", "evaluate_blackjack_policy",
    "play_blackjack", "stick_on_policy",
]
