"""A vectorised gymnax env with episode statistics, normalisation, clipping and action rescaling.

gymnax 1.x already auto-resets inside `step` and returns `terminated` and `truncated` apart, with
the pre-reset observation in `info["final_observation"]`. This wrapper runs `num_envs` copies of
one session, keeps the raw episode returns that the DataFrames report (a ring of the last 100
finished episodes and a counter), and optionally normalises observations and rewards with
running statistics kept in its state, so everything stays a pure function of the state. In SLM Lab's
order: continuous actions come in [-1, 1] and are rescaled to the env's bounds (RescaleAction), then clipped
to them; observations are normalised then clipped to +-clip_obs; rewards are scaled then clipped.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

RECENT_EPISODES = 100  # total_reward is the mean return of the last <= 100 finished episodes
NORM_CLIP = 10.0  # SLM Lab's clip_obs / clip_reward when normalising and the spec gives none
NORM_EPS = 1e-8


@struct.dataclass
class RunningMeanStd:
    """Running mean and variance over a stream of batches (Chan et al. parallel update)."""

    mean: jax.Array
    var: jax.Array
    count: jax.Array

    @classmethod
    def create(cls, shape: tuple[int, ...]) -> RunningMeanStd:
        return cls(jnp.zeros(shape), jnp.ones(shape), jnp.asarray(1e-4))

    def update(self, batch: jax.Array) -> RunningMeanStd:
        """Fold in `batch` [N, *shape]."""
        batch_mean, batch_var, batch_count = batch.mean(0), batch.var(0), batch.shape[0]
        delta = batch_mean - self.mean
        total = self.count + batch_count
        mean = self.mean + delta * batch_count / total
        m2 = self.var * self.count + batch_var * batch_count + delta**2 * self.count * batch_count / total
        return RunningMeanStd(mean, m2 / total, total)


@struct.dataclass
class EpisodeStats:
    """Raw (un-normalised) returns of one session's envs: a ring of the last finished episodes' returns and
    the vector step each finished at. The ring holds RECENT_EPISODES, or more (`VecEnv.history`) when the
    DataFrame needs total_reward at frames inside an update (`mean_return_at`)."""

    episode_return: jax.Array  # [E] return so far of each env's running episode
    recent_returns: jax.Array  # [history] last finished episode returns, ring buffer, NaN until filled
    finish_steps: jax.Array  # [history] int32: the vector step (1-based) each of them finished at
    episodes: jax.Array  # [] int32, episodes finished so far over all envs
    steps: jax.Array  # [] int32, vector steps so far

    @classmethod
    def create(cls, num_envs: int, history: int) -> EpisodeStats:
        return cls(
            episode_return=jnp.zeros(num_envs),
            recent_returns=jnp.full(history, jnp.nan),
            finish_steps=jnp.zeros(history, jnp.int32),
            episodes=jnp.zeros((), jnp.int32),
            steps=jnp.zeros((), jnp.int32),
        )

    def record(self, reward: jax.Array, done: jax.Array) -> EpisodeStats:
        episode_return = self.episode_return + reward
        history = self.recent_returns.shape[0]
        # Finished episodes go into the ring in env order; unfinished ones scatter out of bounds (dropped).
        rank = jnp.cumsum(done) - 1
        slot = jnp.where(done, (self.episodes + rank) % history, history)
        steps = self.steps + 1
        return EpisodeStats(
            episode_return=jnp.where(done, 0.0, episode_return),
            recent_returns=self.recent_returns.at[slot].set(episode_return, mode="drop"),
            finish_steps=self.finish_steps.at[slot].set(steps, mode="drop"),
            episodes=self.episodes + done.sum(dtype=jnp.int32),
            steps=steps,
        )

    def mean_recent_return(self) -> jax.Array:
        """Mean of the last <= 100 finished returns; NaN before the first episode ends."""
        return self.mean_return_at(self.steps)

    def _numbers(self) -> tuple[jax.Array, jax.Array]:
        """The episode number each slot holds (the newest, episodes - 1, is in slot (episodes - 1) % history)
        and whether it holds one."""
        history = self.recent_returns.shape[0]
        number = self.episodes - 1 - (self.episodes - 1 - jnp.arange(history)) % history
        return number, number >= 0

    def episodes_at(self, step: jax.Array) -> jax.Array:
        """Episodes finished by vector step `step` (a step since which at most `history` episodes
        finished)."""
        _, held = self._numbers()
        return self.episodes - (held & (self.finish_steps > step)).sum()

    def mean_return_at(self, step: jax.Array) -> jax.Array:
        """Mean of the last <= 100 returns of the episodes finished by vector step `step` (NaN before the
        first), for a step since which at most history - 100 episodes finished."""
        if self.recent_returns.shape[0] == RECENT_EPISODES:
            return jnp.nanmean(self.recent_returns)  # the step is now: the ring holds just the last 100
        number, held = self._numbers()
        chosen = held & (self.finish_steps <= step) & (number >= self.episodes_at(step) - RECENT_EPISODES)
        total = jnp.where(chosen, self.recent_returns, 0.0).sum()
        return jnp.where(chosen.any(), total / jnp.maximum(chosen.sum(), 1), jnp.nan)


@struct.dataclass
class RewardNormState:
    """SB3-style reward scaling: divide by the std of the running discounted return."""

    discounted_return: jax.Array  # [E]
    stats: RunningMeanStd  # over discounted returns, scalar


@struct.dataclass
class VecEnvState:
    env_state: Any  # gymnax state, leaves [E, ...]
    stats: EpisodeStats
    obs_stats: RunningMeanStd | None  # present when env.normalize_obs
    reward_norm: RewardNormState | None  # present when env.normalize_reward


@struct.dataclass
class Step:
    """What one vector step returns, all with leading [E]."""

    obs: jax.Array  # next observation (reset obs where the episode ended), normalised if enabled
    reward: jax.Array  # reward used for learning (scaled if enabled)
    terminated: jax.Array  # bool: true terminal state, do not bootstrap
    truncated: jax.Array  # bool: time limit, bootstrap from final_obs
    final_obs: jax.Array  # pre-reset observation of the step, normalised like obs


def normalize_obs(obs: jax.Array, obs_stats: RunningMeanStd | None, clip: float | None = None) -> jax.Array:
    """Normalise observations with fixed statistics (none: as they are), then clip them to +-clip (None: no
    clip)."""
    if obs_stats is not None:
        obs = (obs - obs_stats.mean) / jnp.sqrt(obs_stats.var + NORM_EPS)
    return obs if clip is None else jnp.clip(obs, -clip, clip)


class VecEnv:
    """`num_envs` copies of a gymnax env for one session. Stateless: all state is in `VecEnvState`."""

    def __init__(
        self,
        env: Any,
        env_params: Any,
        num_envs: int,
        normalize_obs: bool = False,
        normalize_reward: bool = False,
        gamma: float = 0.99,
        obs_clip: float | None = None,
        reward_clip: tuple[float, float] | None = None,
        history: int = RECENT_EPISODES,
    ):
        self.env, self.env_params, self.num_envs = env, env_params, num_envs
        self.normalize_obs, self.normalize_reward, self.gamma = normalize_obs, normalize_reward, gamma
        self.obs_clip, self.reward_clip = obs_clip, reward_clip
        self.history = history  # finished episodes the stats keep (EpisodeStats)
        space = env.action_space(env_params)
        self.discrete = hasattr(space, "n")
        self.num_actions = int(space.n) if self.discrete else None
        self.action_dim = None if self.discrete else int(space.shape[0])
        self.action_low = (
            None if self.discrete else jnp.broadcast_to(jnp.asarray(space.low, jnp.float32), space.shape)
        )
        self.action_high = (
            None if self.discrete else jnp.broadcast_to(jnp.asarray(space.high, jnp.float32), space.shape)
        )
        self.obs_shape = tuple(env.observation_space(env_params).shape)

    @property
    def obs_storage_dtype(self) -> jnp.dtype:
        """How a replay memory stores observations: uint8 for MinAtar's binary frames (a quarter of float32's
        bytes, exact), float32 otherwise. Normalised observations are real-valued, so they stay float32."""
        if self.env.name.endswith("-MinAtar") and not self.normalize_obs:
            return jnp.dtype(jnp.uint8)
        return jnp.dtype(jnp.float32)

    def _identity(self) -> tuple:
        # gamma only matters to reward normalisation; without it, trials searching gamma share one program.
        params = tuple(np.asarray(leaf).tolist() for leaf in jax.tree.leaves(self.env_params))
        return (
            type(self.env),
            params,
            self.num_envs,
            self.normalize_obs,
            self.normalize_reward,
            self.gamma if self.normalize_reward else None,
            self.obs_clip,
            self.reward_clip,
            self.history,
        )

    def __eq__(self, other: object) -> bool:
        """Equal envs compile to the same program: the algorithms' Static settings compare with this."""
        return isinstance(other, VecEnv) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def spaces(self) -> dict:
        """Observation shape and action space as plain JSON, for the trial spec (export rebuilds from it)."""
        if self.discrete:
            action_space = {"type": "discrete", "n": self.num_actions}
        else:
            action_space = {
                "type": "continuous",
                "shape": [self.action_dim],
                "low": [float(x) for x in self.action_low],
                "high": [float(x) for x in self.action_high],
            }
        return {"observation_shape": list(self.obs_shape), "action_space": action_space}

    def _reset_one(self, key: jax.Array) -> tuple[jax.Array, Any]:
        obs, state = self.env.reset(key, self.env_params)
        return obs.astype(jnp.float32), state

    def reset(self, key: jax.Array) -> tuple[jax.Array, VecEnvState]:
        obs, env_state = jax.vmap(self._reset_one)(jax.random.split(key, self.num_envs))
        obs_stats = RunningMeanStd.create(self.obs_shape).update(obs) if self.normalize_obs else None
        reward_norm = (
            RewardNormState(jnp.zeros(self.num_envs), RunningMeanStd.create(()))
            if self.normalize_reward
            else None
        )
        stats = EpisodeStats.create(self.num_envs, self.history)
        return normalize_obs(obs, obs_stats, self.obs_clip), VecEnvState(
            env_state, stats, obs_stats, reward_norm
        )

    def to_env_action(self, action: jax.Array) -> jax.Array:
        """A policy's action as the env takes it: continuous ones from [-1, 1] to [low, high], clipped."""
        if self.discrete:
            return action
        scaled = self.action_low + (action + 1.0) * 0.5 * (self.action_high - self.action_low)
        return jnp.clip(scaled, self.action_low, self.action_high)

    def _step_one(self, key: jax.Array, env_state: Any, action: jax.Array):
        obs, env_state, reward, terminated, truncated, info = self.env.step(
            key, env_state, action, self.env_params
        )
        final_obs = info["final_observation"].astype(jnp.float32)
        return (
            obs.astype(jnp.float32),
            env_state,
            reward.astype(jnp.float32),
            terminated,
            truncated,
            final_obs,
        )

    def step(self, key: jax.Array, state: VecEnvState, action: jax.Array) -> tuple[VecEnvState, Step]:
        keys = jax.random.split(key, self.num_envs)
        obs, env_state, reward, terminated, truncated, final_obs = jax.vmap(self._step_one)(
            keys, state.env_state, self.to_env_action(action)
        )
        terminated, truncated = terminated.astype(bool), truncated.astype(bool) & ~terminated.astype(bool)
        done = terminated | truncated
        stats = state.stats.record(reward, done)

        obs_stats = state.obs_stats
        if obs_stats is not None:
            obs_stats = obs_stats.update(final_obs)
        learn_reward, reward_norm = reward, state.reward_norm
        if reward_norm is not None:
            discounted = reward_norm.discounted_return * self.gamma + reward
            return_stats = reward_norm.stats.update(discounted)
            learn_reward = reward / jnp.sqrt(return_stats.var + NORM_EPS)
            reward_norm = RewardNormState(jnp.where(done, 0.0, discounted), return_stats)
        if self.reward_clip is not None:
            learn_reward = jnp.clip(learn_reward, *self.reward_clip)

        step = Step(
            obs=normalize_obs(obs, obs_stats, self.obs_clip),
            reward=learn_reward,
            terminated=terminated,
            truncated=truncated,
            final_obs=normalize_obs(final_obs, obs_stats, self.obs_clip),
        )
        return VecEnvState(env_state, stats, obs_stats, reward_norm), step


# Env steps per iteration of the eval loop, for envs with vector observations: 4 made the CartPole
# demo's eval ~2.5x faster (the loop's own cost is most of a small env's step); 8 and 16 were no
# faster and compiled 2-4x slower. Image envs (MinAtar) take 1: their step is a large program, which
# unrolling multiplied in compile time (a MinAtar eval compiled in 130 s instead of ~8 s).
EVAL_STEPS_PER_ITERATION = 4


def first_episode_returns(
    env: VecEnv,
    key: jax.Array,
    policy,
    obs_stats: RunningMeanStd | None = None,
    obs_clip: float | None = None,
) -> jax.Array:
    """Raw return of the first episode of each of `env.num_envs` copies under `policy(obs, key) -> action`.

    Copies that finish early keep stepping (auto-reset) but their later rewards are not counted; the
    loop ends when all have finished, or at the env's time limit. `obs_stats` normalises what the
    policy sees (frozen statistics from training) and `obs_clip` clips it, as in training; the env itself
    must not normalise. Continuous actions are the policy's, in [-1, 1].
    """
    reset_key, loop_key = jax.random.split(key)
    obs, state = env.reset(reset_key)
    max_steps = int(env.env_params.max_steps_in_episode)

    def running(carry):
        t, _, _, _, finished, _ = carry
        return (t < max_steps) & ~finished.all()

    def step(carry):
        t, obs, state, returns, finished, key = carry
        key, action_key, step_key = jax.random.split(key, 3)
        action = policy(normalize_obs(obs, obs_stats, obs_clip), action_key)
        state, out = env.step(step_key, state, action)
        returns = returns + jnp.where(finished, 0.0, out.reward)
        return t + 1, out.obs, state, returns, finished | out.terminated | out.truncated, key

    def steps(carry):
        # Steps past the end of every episode add nothing: their rewards are masked.
        for _ in range(EVAL_STEPS_PER_ITERATION if len(env.obs_shape) == 1 else 1):
            carry = step(carry)
        return carry

    zeros = jnp.zeros(env.num_envs)
    carry = (jnp.int32(0), obs, state, zeros, zeros.astype(bool), loop_key)
    return jax.lax.while_loop(running, steps, carry)[3]
