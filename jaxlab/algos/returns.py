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


def nstep_returns(
    rewards: jax.Array,
    next_values: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    gamma: jax.Array,
    num_steps: int,
) -> jax.Array:
    """n-step returns [T, E]: G_t = r_t + ... + gamma^(k-1) r_(t+k-1) + gamma^k V(s_(t+k)), k = min(n, steps
    left in the rollout, steps left in the episode).

    Same inputs as `gae`. Terminated steps end the sum with no bootstrap; truncated steps end it
    with V(final_obs) (their `next_values`); the rollout's end bootstraps from V of the next
    observation. Built as n applications of the one-step backup G <- r + gamma * G(next), each
    vectorised over time, so there is no loop over the T steps.
    """
    not_terminated = 1.0 - terminated.astype(jnp.float32)
    one_step = rewards + gamma * not_terminated * next_values

    def backup(_, returns):
        # G of the next step; at the rollout's end and at truncation, the bootstrap value itself.
        following = jnp.concatenate([returns[1:], next_values[-1:]], axis=0)
        following = jnp.where(truncated, next_values, following)
        return rewards + gamma * not_terminated * following

    return jax.lax.fori_loop(1, min(num_steps, rewards.shape[0]), backup, one_step)


def discounted_returns(rewards: jax.Array, done: jax.Array, gamma: jax.Array) -> jax.Array:
    """Monte-Carlo returns [T, E] inside a rollout: the discounted sum of rewards up to `done` or the
    rollout's end, with no bootstrap value."""
    not_done = 1.0 - done.astype(jnp.float32)

    def backward(future, step):
        reward, keep = step
        future = reward + gamma * keep * future
        return future, future

    _, returns = jax.lax.scan(backward, jnp.zeros_like(rewards[0]), (rewards, not_done), reverse=True)
    return returns
