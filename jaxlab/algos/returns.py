"""Return and advantage estimators over rollouts of shape [T, E] (time, envs)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def gae(
    rewards: jax.Array,
    values: jax.Array,
    next_values: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    gamma: jax.Array,
    lam: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimation with terminated and truncated kept apart.

    All inputs are [T, E]. `next_values[t]` is V of the observation after step t: of the pre-reset
    final observation where the episode was truncated, of the next observation otherwise. Terminated
    steps do not bootstrap; both terminated and truncated steps cut the GAE trace.
    Returns (advantages, value targets), both [T, E].
    """
    not_terminated = 1.0 - terminated.astype(jnp.float32)
    not_done = 1.0 - (terminated | truncated).astype(jnp.float32)
    deltas = rewards + gamma * next_values * not_terminated - values

    def backward(advantage, step):
        delta, keep = step
        advantage = delta + gamma * lam * keep * advantage
        return advantage, advantage

    _, advantages = jax.lax.scan(backward, jnp.zeros_like(values[0]), (deltas, not_done), reverse=True)
    return advantages, advantages + values
