"""Environments: gymnax ids behind one vectorised wrapper; what spec validation asks of an env
(`describe`)."""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass

from jaxlab.envs.wrappers import (
    NORM_CLIP,
    RECENT_EPISODES,
    EpisodeStats,
    RunningMeanStd,
    Step,
    VecEnv,
    VecEnvState,
    first_episode_returns,
    normalize_obs,
)
from jaxlab.schema import REQUIRED, Field, SpecError, anything, flag, integer, real

# The ids whose gymnasium env is the same env (enjoy replays a policy there, and draws it).
GYMNASIUM_TWINS = ("CartPole-v1", "Acrobot-v1", "Pendulum-v1", "MountainCar-v0", "MountainCarContinuous-v0")

# Ids a spec may name. gymnax registers more (bsuite, misc); these are the ones jaxlab is tested on.
ENV_IDS = (
    "CartPole-v1",
    "Acrobot-v1",
    "Pendulum-v1",
    "MountainCar-v0",
    "MountainCarContinuous-v0",
    "Asterix-MinAtar",
    "Breakout-MinAtar",
    "Freeway-MinAtar",
    "Seaquest-MinAtar",
    "SpaceInvaders-MinAtar",
)


SUGGEST_CUTOFF = 0.8  # how alike an id must be to be offered as "did you mean" (a typo, not another env)


# `env`: the env section of a spec (SLM Lab's keys).
ENV_SCHEMA = {
    "name": Field(REQUIRED, "str"),
    "num_envs": integer(4, 1),
    "max_frame": integer(REQUIRED, 1),
    "max_t": integer(None, 1, nullable=True),  # the episode's time limit; null: the env's own
    "normalize_obs": flag(False),
    "normalize_reward": flag(False),
    "clip_obs": real(None, 0.0, low_open=True, nullable=True),  # null: 10 when normalize_obs, else none
    "clip_reward": anything(),  # a bound c (+-c) or [low, high]; null: 10 when normalize_reward, else none
}


def reward_clip(env_spec: dict) -> tuple[float, float] | None:
    """The reward clip of an env section, as SLM Lab's ClipReward reads clip_reward."""
    value = env_spec.get("clip_reward")
    if value is None:
        return (-NORM_CLIP, NORM_CLIP) if env_spec["normalize_reward"] else None
    numbers = (
        value if isinstance(value, list) else [-value, value] if isinstance(value, (int, float)) else None
    )
    if (
        isinstance(value, bool)
        or numbers is None
        or len(numbers) != 2
        or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in numbers)
        or numbers[0] >= numbers[1]
    ):
        raise SpecError(f"env.clip_reward must be a bound c > 0 or [low, high], got {value!r}")
    return float(numbers[0]), float(numbers[1])


def obs_clip(env_spec: dict) -> float | None:
    """The observation clip of an env section (SLM Lab's ClipObservation)."""
    if env_spec.get("clip_obs") is not None:
        return float(env_spec["clip_obs"])
    return NORM_CLIP if env_spec["normalize_obs"] else None


def env_name_problem(name: str) -> str | None:
    """One line saying why `name` is not an env jaxlab can make, with a suggestion; None if it is."""
    if name in ENV_IDS:
        return None
    close = difflib.get_close_matches(name, ENV_IDS, n=1, cutoff=SUGGEST_CUTOFF)
    if close:
        return f"env.name = {name!r} is not a known environment — did you mean {close[0]}?"
    return f"env.name = {name!r} is not an environment jaxlab runs — it runs gymnax's: {', '.join(ENV_IDS)}"


@dataclass(frozen=True)
class EnvDescription:
    """What spec validation needs to know of an env id: its spaces."""

    name: str
    obs_shape: tuple[int, ...]  # MinAtar: [10, 10, channels]
    num_actions: int | None  # discrete actions
    action_dim: int | None  # continuous actions

    @property
    def discrete(self) -> bool:
        return self.num_actions is not None


@functools.cache
def describe(name: str) -> EnvDescription:
    """The spaces of a known env id (see `env_name_problem`), without building a vectorised env."""
    import gymnax

    env, env_params = gymnax.make(name)
    space = env.action_space(env_params)
    discrete = hasattr(space, "n")
    return EnvDescription(
        name,
        tuple(env.observation_space(env_params).shape),
        int(space.n) if discrete else None,
        None if discrete else int(space.shape[0]),
    )


def make(
    env_spec: dict,
    gamma: float = 0.99,
    num_envs: int | None = None,
    normalize: bool = True,
    history: int = RECENT_EPISODES,
) -> VecEnv:
    """Build the vectorised env of one session from the spec's `env` section.

    `gamma` sets the discount of the running return used by reward normalisation. Evaluation and
    the random baseline build other copies: `num_envs` overrides the spec's, and `normalize=False`
    keeps raw observations and rewards. `history`: the finished episodes its statistics keep.
    """
    import gymnax

    if problem := env_name_problem(env_spec["name"]):
        raise ValueError(problem)
    env, env_params = gymnax.make(env_spec["name"])
    if env_spec.get("max_t") is not None:
        env_params = env_params.replace(max_steps_in_episode=env_spec["max_t"])
    return VecEnv(
        env,
        env_params,
        num_envs=num_envs or env_spec["num_envs"],
        normalize_obs=normalize and env_spec["normalize_obs"],
        normalize_reward=normalize and env_spec["normalize_reward"],
        gamma=gamma,
        obs_clip=obs_clip(env_spec) if normalize else None,
        reward_clip=reward_clip(env_spec) if normalize else None,
        history=history,
    )


RANDOM_BASELINE_EPISODES = 100


def uniform_actions(env: VecEnv, key, count: int):
    """`count` uniform random actions: over the actions (discrete), in [-1, 1] (continuous: the env rescales
    them to its bounds)."""
    import jax

    if env.discrete:
        return jax.random.randint(key, (count,), 0, env.num_actions)
    return jax.random.uniform(key, (count, env.action_dim), minval=-1.0, maxval=1.0)


def random_baseline(env_spec: dict, seed: int = 0) -> float:
    """Mean raw return of a uniform random policy over 100 episodes (R_rand of the metrics)."""
    import jax

    env = make(env_spec, num_envs=RANDOM_BASELINE_EPISODES, normalize=False)
    uniform = lambda _obs, key: uniform_actions(env, key, env.num_envs)  # noqa: E731
    returns = jax.jit(lambda key: first_episode_returns(env, key, uniform))(jax.random.PRNGKey(seed))
    return float(returns.mean())


__all__ = [
    "ENV_IDS",
    "ENV_SCHEMA",
    "GYMNASIUM_TWINS",
    "RECENT_EPISODES",
    "EnvDescription",
    "EpisodeStats",
    "RunningMeanStd",
    "Step",
    "VecEnv",
    "VecEnvState",
    "describe",
    "env_name_problem",
    "first_episode_returns",
    "make",
    "normalize_obs",
    "obs_clip",
    "random_baseline",
    "reward_clip",
    "uniform_actions",
]
