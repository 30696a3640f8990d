"""The grid world: chapter 3's running example, as a Gymnasium environment and as an MDP.

Chapter 3, *Reinforcement learning basics*, and chapters 4-5 after it use the grid world of
Zhao (2025, ch. 1): a board of ``n_rows x n_cols`` cells, some of them *forbidden*, one of
them the *target*. The agent has five actions, in this order (Zhao's ``a1 .. a5``):

======  ==========  =====================
index   name        move (row, column)
======  ==========  =====================
0       up          (-1, 0)
1       right       (0, +1)
2       down        (+1, 0)
3       left        (0, -1)
4       stay        (0, 0)
======  ==========  =====================

The rules (deterministic, and the reward depends only on where a move leads):

* a move off the board leaves the agent where it is and earns ``r_boundary``;
* otherwise, a move that ends in a forbidden cell earns ``r_forbidden`` (forbidden cells
  can be entered, and staying in one earns the penalty again);
* a move that ends on the target, staying there included, earns ``r_target``; the task is
  *continuing*: reaching the target does not end it, so an agent that stays collects
  ``r_target`` at every step;
* any other move earns ``r_other`` (0 by default).

The episodic variant of chapter 3, in which arriving at the target ends the episode (paying
``r_target`` once), is the MDP ``world.to_mdp().with_absorbing_states([world.state_of(
world.target)])`` (:meth:`~mlbook.rl.mdp.FiniteMDP.with_absorbing_states`).

States are numbered row by row, ``s = row * n_cols + col``. :class:`GridWorld` follows
Gymnasium's ``Env`` API (``reset(seed=...)``, ``step(a)``, discrete spaces) and is
registered as ``"mlbook/GridWorld-v0"``; :meth:`GridWorld.to_mdp` gives the same rules as a
:class:`~mlbook.rl.mdp.FiniteMDP` for the planning code, and :func:`plot_gridworld` draws
values and policies (arrows; a circle for 'stay').

Sources: S. Zhao, *Mathematical Foundations of Reinforcement Learning*, Springer Nature
Press, 2025, ch. 1 (the grid world, its default layout and rewards); M. Towers et al.,
"Gymnasium: a standard interface for reinforcement learning environments", 2024 (the API).
"""

from __future__ import annotations

import numbers
from typing import Any, Iterable, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ..checks import (ArgumentTypeError, check_array, check_bool, check_index, check_instance,
                      check_int, check_list, check_positive)
from .mdp import FiniteMDP, check_discount, check_policy

__all__ = ["ACTIONS", "ACTION_NAMES", "ARROW_CHARS", "CELL_COLORS", "GridWorld",
           "plot_gridworld", "policy_from_arrows"]

#: (row, column) displacement of each action, in action-index order.
ACTIONS: tuple[tuple[int, int], ...] = ((-1, 0), (0, 1), (1, 0), (0, -1), (0, 0))
#: Names of the actions, in action-index order.
ACTION_NAMES: tuple[str, ...] = ("up", "right", "down", "left", "stay")

#: Fill colours of the special cells (Okabe-Ito palette, as in :mod:`mlbook.plotting`).
CELL_COLORS = {"forbidden": "#E69F00", "target": "#56B4E9", "arrow": "#009E73",
               "path": "#D55E00"}

Cell = tuple[int, int]

#: Zhao's 5 x 5 layout (0-based (row, column)); the target is at row 3, column 2.
DEFAULT_FORBIDDEN: tuple[Cell, ...] = ((1, 1), (1, 2), (2, 2), (3, 1), (3, 3), (4, 1))
DEFAULT_TARGET: Cell = (3, 2)


class GridWorld(gym.Env):
    """A grid world with forbidden cells and a target (Zhao 2025, ch. 1), Gymnasium style.

    Parameters
    ----------
    size
        ``n`` for an ``n x n`` board or ``(n_rows, n_cols)``; each at least 1.
    forbidden
        The forbidden cells as ``(row, col)`` pairs (0-based), each on the board.
    target
        The target cell ``(row, col)``; on the board and not forbidden.
    r_boundary, r_forbidden, r_target, r_other
        Rewards for bumping into the edge, entering a forbidden cell, entering or staying
        on the target, and any other move (finite numbers, in reward units).
    gamma
        Discount rate in ``[0, 1)``, used by :meth:`to_mdp` (the environment itself only
        hands out rewards).
    start
        The cell where :meth:`reset` puts the agent, or ``None`` for a cell drawn uniformly
        at random (with the generator ``reset(seed=...)`` seeds).
        ``reset(options={"start": s})`` overrides it for one episode (``s`` a state index
        or a ``(row, col)`` pair), which exploring starts in chapter 4 need.
    render_mode
        ``None`` or ``"ansi"`` (``render()`` returns the board as text).

    Raises ``ValueError`` for a board of size 0, a cell off the board, a target inside a
    forbidden cell, a non-finite reward or a discount outside ``[0, 1)``.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, size: int | tuple[int, int] = 5, *,
                 forbidden: Iterable[Cell] = DEFAULT_FORBIDDEN, target: Cell = DEFAULT_TARGET,
                 r_boundary: float = -1.0, r_forbidden: float = -1.0, r_target: float = 1.0,
                 r_other: float = 0.0, gamma: float = 0.9, start: Cell | None = (0, 0),
                 render_mode: str | None = None):
        self.n_rows, self.n_cols = _check_size(size)
        forbidden = check_list("forbidden", forbidden, min_len=0,
                               what="a collection of (row, col) cells")
        self.forbidden: tuple[Cell, ...] = tuple(
            sorted({self._check_cell(c, "forbidden cell") for c in forbidden}))
        self.target: Cell = self._check_cell(target, "target")
        if self.target in self.forbidden:
            raise ValueError(
                f"the target {self.target} is inside a forbidden cell; choose a target that "
                f"is not one of the forbidden cells {list(self.forbidden)}")
        self.rewards = {}
        for name, r in (("r_boundary", r_boundary), ("r_forbidden", r_forbidden),
                        ("r_target", r_target), ("r_other", r_other)):
            if isinstance(r, bool) or not isinstance(r, numbers.Real) or not np.isfinite(r):
                raise ValueError(f"{name} must be a finite number, got {r!r}")
            self.rewards[name] = float(r)
        self.r_boundary = self.rewards["r_boundary"]
        self.r_forbidden = self.rewards["r_forbidden"]
        self.r_target = self.rewards["r_target"]
        self.r_other = self.rewards["r_other"]
        self.gamma = check_discount(gamma)
        self.start: Cell | None = None if start is None else self._check_cell(start, "start")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, "
                f"got {render_mode!r}")
        self.render_mode = render_mode

        self.observation_space = spaces.Discrete(self.n_states)
        self.action_space = spaces.Discrete(len(ACTIONS))
        self._state: int | None = None

    # ---- geometry --------------------------------------------------------------------
    @property
    def n_states(self) -> int:
        """Number of cells, ``S = n_rows * n_cols``."""
        return self.n_rows * self.n_cols

    @property
    def n_actions(self) -> int:
        """Number of actions, ``A = 5``."""
        return len(ACTIONS)

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_rows, n_cols)``; ``values.reshape(world.shape)`` lays values out as the board."""
        return self.n_rows, self.n_cols

    def state_of(self, cell: Cell) -> int:
        """The state index of cell ``(row, col)``: ``row * n_cols + col``."""
        row, col = self._check_cell(cell, "cell")
        return row * self.n_cols + col

    def cell_of(self, state: int) -> Cell:
        """The cell ``(row, col)`` of state index ``state``."""
        state = self._check_state(state)
        return divmod(state, self.n_cols)

    def _check_cell(self, cell: Any, what: str) -> Cell:
        try:
            row, col = cell
        except (TypeError, ValueError):
            raise ValueError(f"a {what} must be a (row, col) pair, got {cell!r}") from None
        if not all(isinstance(x, numbers.Integral) and not isinstance(x, bool)
                   for x in (row, col)):
            raise ValueError(f"a {what} must be a pair of integers, got {cell!r}")
        if not (0 <= row < self.n_rows and 0 <= col < self.n_cols):
            raise ValueError(
                f"the {what} {tuple(cell)} is off the {self.n_rows} x {self.n_cols} board: "
                f"rows go from 0 to {self.n_rows - 1}, columns from 0 to {self.n_cols - 1}")
        return int(row), int(col)

    def _check_state(self, state: Any, name: str = "state") -> int:
        return check_index(name, state, self.n_states, what="state")

    # ---- the model: one function that both step() and to_mdp() use -------------------
    def transition(self, state: int, action: int) -> tuple[int, float]:
        """``(next_state, reward)`` of taking ``action`` in ``state`` (the rules above).

        The one rule :meth:`step` applies, exposed so that a sampler can tabulate it
        (:class:`~mlbook.rl.episodes.EpisodeSampler`): a subclass that changes the
        dynamics overrides this method, and :meth:`step` follows.
        """
        return self._move(self._check_state(state), self._check_action(action))

    def _check_action(self, action: Any, name: str = "action") -> int:
        if (isinstance(action, bool) or not isinstance(action, numbers.Integral)
                or not 0 <= action < len(ACTIONS)):
            error = ValueError if isinstance(action, numbers.Integral) and not isinstance(
                action, bool) else ArgumentTypeError
            raise error(
                f"{name} must be an action index from 0 to {len(ACTIONS) - 1} "
                f"({', '.join(ACTION_NAMES)}), got {action!r}")
        return int(action)

    def _move(self, state: int, action: int) -> tuple[int, float]:
        # the rules, for a valid state index and action index
        row, col = divmod(state, self.n_cols)
        dr, dc = ACTIONS[action]
        r2, c2 = row + dr, col + dc
        if not (0 <= r2 < self.n_rows and 0 <= c2 < self.n_cols):
            return state, self.r_boundary
        nxt = r2 * self.n_cols + c2
        if (r2, c2) in self.forbidden:
            return nxt, self.r_forbidden
        if (r2, c2) == self.target:
            return nxt, self.r_target
        return nxt, self.r_other

    def to_mdp(self, gamma: float | None = None) -> FiniteMDP:
        """This world as a :class:`FiniteMDP`: ``P`` of shape ``(S, 5, S)``, ``R`` ``(S, 5)``.

        ``gamma`` defaults to the world's own discount.
        """
        S, A = self.n_states, self.n_actions
        P = np.zeros((S, A, S))
        R = np.zeros((S, A))
        for s in range(S):
            for a in range(A):
                nxt, r = self.transition(s, a)
                P[s, a, nxt] = 1.0
                R[s, a] = r
        labels = tuple(f"({r},{c})" for r in range(self.n_rows) for c in range(self.n_cols))
        return FiniteMDP(P, R, self.gamma if gamma is None else gamma,
                         state_labels=labels, action_labels=ACTION_NAMES)

    # ---- Gymnasium API ------------------------------------------------------------------
    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        """Start an episode: ``(observation, info)``; the observation is the state index.

        ``options={"start": s}`` starts in state ``s`` (an index or a ``(row, col)`` pair);
        otherwise the agent starts at ``start``, or in a uniformly random cell if
        ``start`` is ``None``.
        """
        if seed is not None:
            check_int("seed", seed, minimum=0)
        if options is not None:
            check_instance("options", options, dict, what='a dict such as {"start": 0}')
        super().reset(seed=seed)
        start = (options or {}).get("start")
        if start is not None:
            self._state = (self.state_of(start) if isinstance(start, (tuple, list))
                           else self._check_state(start, "start"))
        elif self.start is not None:
            self._state = self.state_of(self.start)
        else:
            self._state = int(self.np_random.integers(self.n_states))
        return self._state, {"cell": self.cell_of(self._state)}

    def step(self, action: int) -> tuple[int, float, bool, bool, dict[str, Any]]:
        """Take ``action``: ``(observation, reward, terminated, truncated, info)``.

        ``terminated`` and ``truncated`` are always ``False``: the task is continuing. To cut
        episodes after ``n`` steps, wrap the world in Gymnasium's
        ``TimeLimit(world, max_episode_steps=n)`` (``gymnasium.make(GRIDWORLD_ID,
        max_episode_steps=n)`` does it), which reports ``truncated=True`` at step ``n``.
        """
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        nxt, reward = self.transition(self._state, action)
        self._state = nxt
        return nxt, reward, False, False, {"cell": divmod(nxt, self.n_cols)}

    def render(self) -> str | None:
        """The board as text: ``A`` the agent, ``T`` the target, ``#`` forbidden, ``.`` free."""
        if self.render_mode != "ansi":
            return None
        rows = []
        for r in range(self.n_rows):
            line = []
            for c in range(self.n_cols):
                s = r * self.n_cols + c
                ch = "T" if (r, c) == self.target else "#" if (r, c) in self.forbidden else "."
                line.append("A" if s == self._state else ch)
            rows.append(" ".join(line))
        return "\n".join(rows) + "\n"

    def __str__(self) -> str:
        return repr(self)

    def __repr__(self) -> str:
        return (f"GridWorld({self.n_rows}x{self.n_cols}, target={self.target}, "
                f"forbidden={list(self.forbidden)}, r_boundary={self.r_boundary:g}, "
                f"r_forbidden={self.r_forbidden:g}, r_target={self.r_target:g}, "
                f"gamma={self.gamma:g})")


def _check_size(size: Any) -> tuple[int, int]:
    dims = (size, size) if isinstance(size, numbers.Integral) else size
    try:
        n_rows, n_cols = dims
    except (TypeError, ValueError):
        raise ValueError(f"size must be an integer n or a pair (n_rows, n_cols), got {size!r}") \
            from None
    for x in (n_rows, n_cols):
        if isinstance(x, bool) or not isinstance(x, numbers.Integral) or x < 1:
            raise ValueError(
                f"a grid must have at least 1 row and 1 column, got size {size!r}")
    return int(n_rows), int(n_cols)


#: Characters :func:`policy_from_arrows` reads, per action (ASCII and Unicode arrows).
ARROW_CHARS: tuple[str, ...] = ("^\u2191", ">\u2192", "v\u2193", "<\u2190", "o\u25cb")


def policy_from_arrows(world: GridWorld, rows: Sequence[str]) -> np.ndarray:
    """A deterministic policy drawn as text, one string per row of the board.

    Each cell is one of ``^ > v < o`` (up, right, down, left, stay) or the arrows
    ``\u2191 \u2192 \u2193 \u2190 \u25cb``; spaces are ignored. Returns the one-hot
    ``(S, 5)`` policy. Raises ``ValueError`` if the text does not match the board's shape or
    holds another character.
    """
    check_instance("world", world, GridWorld)
    rows = check_list("rows", rows, what="a list of strings, one per row of the board",
                      min_len=0)
    cleaned = ["".join(str(r).split()) for r in rows]
    if len(cleaned) != world.n_rows or any(len(r) != world.n_cols for r in cleaned):
        raise ValueError(
            f"give {world.n_rows} rows of {world.n_cols} arrows each (spaces are ignored), "
            f"got rows of lengths {[len(r) for r in cleaned]}")
    policy = np.zeros((world.n_states, world.n_actions))
    for r, line in enumerate(cleaned):
        for c, ch in enumerate(line):
            matches = [a for a, chars in enumerate(ARROW_CHARS) if ch in chars]
            if not matches:
                raise ValueError(
                    f"cell ({r}, {c}) holds {ch!r}; use one of ^ > v < o (up, right, down, "
                    "left, stay)")
            policy[r * world.n_cols + c, matches[0]] = 1.0
    return policy


# ---- drawing ------------------------------------------------------------------------------
def plot_gridworld(world: GridWorld, values: np.ndarray | None = None,
                   policy: np.ndarray | None = None, *, ax=None, title: str | None = None,
                   value_fmt: str = "{:.1f}", trajectory: Sequence[int] | None = None,
                   show_start: bool = False, fontsize: float = 9):
    """Draw the board, optionally with state values, a policy and a trajectory.

    Parameters
    ----------
    world
        The grid world (its layout is drawn: forbidden cells orange, the target blue).
    values
        State values of shape ``(S,)``, written in each cell with ``value_fmt``.
    policy
        A policy of shape ``(S, 5)``: an arrow from the cell's centre for each move with
        probability > 0, longer the likelier it is, and a circle for 'stay' whose size
        grows with its probability.
    trajectory
        A sequence of state indices, drawn as a path with a dot at its start.
    show_start
        Mark the world's start cell with an 'S'.

    Returns the matplotlib ``Axes`` (a new figure's when ``ax`` is ``None``). The arrows
    and circles are two matplotlib ``PatchCollection`` objects, with gids
    ``"policy-arrows"`` and ``"policy-stay"``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.collections import PatchCollection
    from matplotlib.colors import to_rgb
    from matplotlib.patches import Circle, FancyArrow

    check_instance("world", world, GridWorld)
    if title is not None:
        check_instance("title", title, str, what="a string or None")
    check_instance("value_fmt", value_fmt, str, what='a format string such as "{:.1f}"')
    show_start = check_bool("show_start", show_start)
    fontsize = check_positive("fontsize", fontsize)
    if trajectory is not None:
        trajectory = check_array("trajectory", trajectory, ndim=1, integer=True, min_size=0,
                                 minimum=0, maximum=world.n_states - 1)
    if ax is None:
        _, ax = plt.subplots(figsize=(0.7 * world.n_cols + 0.6, 0.7 * world.n_rows + 0.6))
    if values is not None:
        values = check_array("values", values, min_size=0, finite=False)  # NaN: no estimate
        if values.shape != (world.n_states,):
            raise ValueError(
                f"values must have shape (S,) = ({world.n_states},), got {values.shape}")
    if policy is not None:
        policy = check_policy(policy, world.n_states, world.n_actions)

    # The board as one image (light tints of the cell colours) with grid lines on top:
    # far cheaper to draw than one patch per cell, which matters for widgets' many frames.
    board = np.ones((world.n_rows, world.n_cols, 3))
    tint = {kind: 0.35 + 0.65 * np.array(to_rgb(CELL_COLORS[kind]))
            for kind in ("forbidden", "target")}
    for r, c in world.forbidden:
        board[r, c] = tint["forbidden"]
    board[world.target] = tint["target"]
    ax.imshow(board, extent=(-0.5, world.n_cols - 0.5, world.n_rows - 0.5, -0.5),
              interpolation="nearest", zorder=0)
    ax.hlines(np.arange(world.n_rows + 1) - 0.5, -0.5, world.n_cols - 0.5, color="0.6",
              linewidth=0.8, zorder=1)
    ax.vlines(np.arange(world.n_cols + 1) - 0.5, -0.5, world.n_rows - 0.5, color="0.6",
              linewidth=0.8, zorder=1)

    has_arrows = policy is not None
    arrows, circles = [], []
    for s in range(world.n_states):
        r, c = divmod(s, world.n_cols)
        if values is not None:
            # with arrows the number moves to the cell's lower part
            y = r + (0.32 if has_arrows else 0.0)
            text = value_fmt.format(values[s])
            if text.startswith("-") and float(text) == 0:   # no "-0.0" for a tiny negative
                text = text[1:]
            ax.text(c, y, text, ha="center", va="center",
                    fontsize=fontsize * (0.85 if has_arrows else 1.0), color="0.1")
        if policy is not None:
            cy = r - (0.08 if values is not None else 0.0)
            scale = 0.3 if values is not None else 0.42
            for a, (dr, dc) in enumerate(ACTIONS):
                p = policy[s, a]
                if p <= 1e-12:
                    continue
                if (dr, dc) == (0, 0):
                    circles.append(Circle((c, cy), 0.07 + 0.08 * p))
                else:   # long enough to read even for small probabilities
                    length = scale * (0.35 + 0.65 * p)
                    arrows.append(FancyArrow(c, cy, dc * length, dr * length, width=0.025,
                                             head_width=0.12,
                                             head_length=min(0.1, 0.6 * length),
                                             length_includes_head=True))
    if arrows:
        ax.add_collection(PatchCollection(arrows, facecolor=CELL_COLORS["arrow"],
                                          edgecolor="none", zorder=4, gid="policy-arrows"),
                          autolim=False)
    if circles:
        ax.add_collection(PatchCollection(circles, facecolor="none", zorder=4,
                                          edgecolor=CELL_COLORS["arrow"], linewidth=1.6,
                                          gid="policy-stay"), autolim=False)
    if trajectory is not None and len(trajectory):
        cells = np.array([divmod(int(s), world.n_cols) for s in trajectory], dtype=float)
        # under the arrows, so a route drawn on a policy leaves the policy readable
        ax.plot(cells[:, 1], cells[:, 0], "-", color=CELL_COLORS["path"], linewidth=2.5,
                alpha=0.55, zorder=3, solid_capstyle="round")
        ax.plot(cells[0, 1], cells[0, 0], "o", color=CELL_COLORS["path"], markersize=7,
                zorder=3)
    if show_start and world.start is not None:
        ax.text(world.start[1], world.start[0], "S", ha="center", va="center",
                fontsize=fontsize + 2, fontweight="bold")
    ax.set_xlim(-0.5, world.n_cols - 0.5)
    ax.set_ylim(world.n_rows - 0.5, -0.5)
    ax.set_aspect("equal")
    ax.set_xticks(range(world.n_cols))
    ax.set_yticks(range(world.n_rows))
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    ax.tick_params(length=0)
    ax.grid(False)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title)
    return ax
