"""SLM Lab's Random agent: uniform random actions, no network and no training (its specs have `net: {}`). A
baseline that writes the same folder as any algorithm: DataFrame rows, metrics, graphs; no model files.

Discrete actions are uniform over the actions; continuous ones uniform in [-1, 1], which the env rescales to
its bounds (as the random-policy baseline of every run). `loss` is NaN and `opt_step` stays 0: there are no
gradient steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import struct

from jaxlab.algos.base import Algorithm, StepMetrics
from jaxlab.envs import VecEnv, VecEnvState, uniform_actions
from jaxlab.schema import Field, choice, real

SCHEMA = {
    "algorithm": {
        "name": choice("Random", "Random"),
        "gamma": real(0.99, 0.0, 1.0),
    },  # env.normalize_reward's
    "net": {},  # SLM Lab's Random specs give an empty net
    "memory": {"name": Field(None, "str", nullable=True)},  # accepted, unused: nothing is replayed
}
VECTOR_STEPS = 16  # per update: the unit that log_frequency is rounded to (x num_envs frames)


@dataclass(frozen=True)
class Static:
    env: VecEnv

    @property
    def frames_per_update(self) -> int:
        return VECTOR_STEPS * self.env.num_envs


@struct.dataclass
class HParams:
    """None: the Random agent has no hyperparameters (search trials of it differ in nothing)."""


@struct.dataclass
class RandomState:
    params: dict  # empty
    env_state: VecEnvState
    obs: jax.Array
    key: jax.Array
    hp: HParams
    frame: jax.Array
    opt_step: jax.Array


def configure(spec: dict, env: VecEnv) -> tuple[Static, HParams]:
    return Static(env), HParams()


def init(static: Static, key: jax.Array, hp: HParams) -> RandomState:
    key, env_key = jax.random.split(key)
    obs, env_state = static.env.reset(env_key)
    zero = jnp.zeros((), jnp.int32)
    return RandomState({}, env_state, obs, key, hp, zero, zero)


def act(
    static: Static, hp: HParams, params: dict, obs: jax.Array, key: jax.Array, explore: bool
) -> jax.Array:
    """Random actions for observations [E, ...], in eval as in training."""
    return uniform_actions(static.env, key, obs.shape[0])


def update(static: Static, state: RandomState) -> tuple[RandomState, StepMetrics]:
    def env_step(state: RandomState, _):
        key, action_key, step_key = jax.random.split(state.key, 3)
        action = uniform_actions(static.env, action_key, static.env.num_envs)
        env_state, step = static.env.step(step_key, state.env_state, action)
        return state.replace(key=key, env_state=env_state, obs=step.obs), None

    state, _ = jax.lax.scan(env_step, state, None, VECTOR_STEPS)
    state = state.replace(frame=state.frame + static.frames_per_update)
    return state, StepMetrics(jnp.asarray(jnp.nan), jnp.asarray(jnp.nan), {})


ALGORITHM = Algorithm(
    name="Random",
    schema=SCHEMA,
    configure=configure,
    init=init,
    update=update,
    act=act,
    nets=dict,
    networks=lambda static: {},
    check=lambda spec, env: None,
    columns=(),
)
