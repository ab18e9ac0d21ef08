"""Probe environments with known answers (after rejax's and Andy Jones's): each isolates one thing an RL
algorithm must get right. Observations are [sign, time]; two actions. The probe is chosen by
`ProbeParams.kind`,
a traced value, so one compiled program trains an algorithm on every probe at once (vmapped over kinds).

| kind | episode | reward | answer (gamma = 0.5) |
|---|---|---|---|
| CONSTANT | 1 step | 1 | V = 1 |
| OBSERVATION | 1 step, sign = +-1 at random | sign | V(sign) = sign |
| ACTION | 1 step | 1 for action 1, else 0 | pi(1) = 1, Q(., 1) = 1, Q(., 0) = 0 |
| OBSERVATION_ACTION | 1 step, sign = +-1 | 1 if action == (sign > 0) | pi picks the sign's action |
| TWO_STEP | 2 steps, time 0 then 1 | 1 at the end only | V(time 0) = 0.5, V(time 1) = 1 |
| TRUNCATION | never terminates, time limit 1 | 1 every step | V = 1 / (1 - gamma) = 2, only if truncation
bootstraps |
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

CONSTANT, OBSERVATION, ACTION, OBSERVATION_ACTION, TWO_STEP, TRUNCATION = range(6)
KINDS = {
    "constant": CONSTANT,
    "observation": OBSERVATION,
    "action": ACTION,
    "observation_action": OBSERVATION_ACTION,
    "two_step": TWO_STEP,
    "truncation": TRUNCATION,
}
GAMMA = 0.5
LONG = 100  # the time limit of the probes that end by themselves


@struct.dataclass
class ProbeState(environment.EnvState):
    sign: jax.Array
    time: jax.Array


@struct.dataclass
class ProbeParams(environment.EnvParams):
    kind: jax.Array = CONSTANT
    max_steps_in_episode: jax.Array = LONG


def params_of(kind: int | jax.Array) -> ProbeParams:
    return ProbeParams(kind=kind, max_steps_in_episode=jnp.where(kind == TRUNCATION, 1, LONG))


class Probe(environment.Environment[ProbeState, ProbeParams]):
    @property
    def name(self) -> str:
        return "Probe"

    @property
    def default_params(self) -> ProbeParams:
        return ProbeParams()

    def observation_space(self, params: ProbeParams) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (2,), jnp.float32)

    def action_space(self, params: ProbeParams) -> spaces.Discrete:
        return spaces.Discrete(2)

    def _obs(self, state: ProbeState, params: ProbeParams) -> jax.Array:
        """[sign, time]; time shows in TWO_STEP only (the truncated probe's next state is its first)."""
        time = jnp.where(params.kind == TWO_STEP, state.time, 0).astype(jnp.float32)
        return jnp.stack([state.sign, time])

    def reset_env(self, key: jax.Array, params: ProbeParams) -> tuple[jax.Array, ProbeState]:
        signed = (params.kind == OBSERVATION) | (params.kind == OBSERVATION_ACTION)
        sign = jnp.where(signed, jnp.where(jax.random.bernoulli(key), 1.0, -1.0), 1.0)
        state = ProbeState(sign=sign, time=jnp.zeros((), jnp.int32))
        return self._obs(state, params), state

    def step_env(self, key: jax.Array, state: ProbeState, action: jax.Array, params: ProbeParams):
        kind = params.kind
        matched = (action == 1) == (state.sign > 0)
        reward = jnp.select(
            [kind == OBSERVATION, kind == ACTION, kind == OBSERVATION_ACTION, kind == TWO_STEP],
            [
                state.sign,
                (action == 1).astype(jnp.float32),
                matched.astype(jnp.float32),
                (state.time == 1).astype(jnp.float32),
            ],
            1.0,
        )
        terminated = jnp.where(kind == TWO_STEP, state.time == 1, kind != TRUNCATION)
        state = state.replace(
            time=jnp.where(kind == TRUNCATION, state.time + 1, jnp.minimum(state.time + 1, 1))
        )
        return self._obs(state, params), state, reward, terminated, {}
