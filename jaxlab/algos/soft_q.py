"""The losses of soft actor-critic (SAC): the twin critics' soft Bellman regression, the actor's and the
temperature's, for continuous actions (a tanh-squashed Gaussian) and discrete ones (exact expectations over
the actions). Pure functions of the networks in `static` (`actor`, `critic`, `env`); the plumbing that
calls them is `sac.py`'s."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxlab.algos import distributions, replay


def twin_q(static: Any, critic_params: Any, obs: jax.Array, action: jax.Array | None = None) -> jax.Array:
    """Both critics' values: [2, B] Q(s, a) for continuous actions, [2, B, A] Q(s, .) for discrete ones."""
    if static.env.discrete:
        return jax.vmap(lambda p: static.critic.apply(p, obs))(critic_params)
    return jax.vmap(lambda p: static.critic.apply(p, obs, action))(critic_params)


def critic_loss(
    static: Any,
    critic_params: Any,
    params: dict,
    alpha: jax.Array,
    batch: replay.Transition,
    weight: jax.Array,
    gamma: jax.Array,
    key: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """Summed (importance-weighted) MSE of both critics against the soft Bellman target; returns
    (loss, |min_i Q_i(s, a) - y| [B] for PER)."""
    env = static.env
    next_out = static.actor.apply(params["net"], batch.next_obs)
    if env.discrete:
        next_log_probs = jax.nn.log_softmax(next_out)
        next_q = twin_q(static, params["target_critic"], batch.next_obs).min(0)  # [B, A]
        next_value = (jnp.exp(next_log_probs) * (next_q - alpha * next_log_probs)).sum(-1)
        q_all = twin_q(static, critic_params, batch.obs)
        q_pred = jnp.take_along_axis(q_all, batch.action[None, :, None], axis=-1)[..., 0]  # [2, B]
    else:
        next_action, next_log_prob = distributions.squashed_gaussian_sample(
            key, *next_out, env.action_low, env.action_high
        )
        next_q = twin_q(static, params["target_critic"], batch.next_obs, next_action).min(0)  # [B]
        next_value = next_q - alpha * next_log_prob
        q_pred = twin_q(static, critic_params, batch.obs, batch.action)
    target = batch.reward + gamma * (1.0 - batch.terminated.astype(jnp.float32)) * next_value
    target = jax.lax.stop_gradient(target)
    loss = (weight * (q_pred - target) ** 2).mean(-1).sum()
    return loss, jnp.abs(q_pred.min(0) - target)


def actor_loss(
    static: Any, actor_params: Any, critic_params: Any, alpha: jax.Array, obs: jax.Array, key: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """E[alpha log pi(a|s) - min_i Q_i(s, a)] over a batch; returns (loss, E_a[log pi(a|s)] [B])."""
    env = static.env
    policy_out = static.actor.apply(actor_params, obs)
    if env.discrete:
        log_probs = jax.nn.log_softmax(policy_out)
        probs = jnp.exp(log_probs)
        q = twin_q(static, critic_params, obs).min(0)  # [B, A]
        log_prob = (probs * log_probs).sum(-1)  # = -H(pi(.|s))
        return (probs * (alpha * log_probs - q)).sum(-1).mean(), log_prob
    action, log_prob = distributions.squashed_gaussian_sample(
        key, *policy_out, env.action_low, env.action_high
    )
    q = twin_q(static, critic_params, obs, action).min(0)
    return (alpha * log_prob - q).mean(), log_prob


def alpha_loss(log_alpha: jax.Array, log_prob: jax.Array, target_entropy: float) -> jax.Array:
    """-log alpha (log pi + target_entropy): alpha rises while the entropy is below its target."""
    return -(log_alpha * jax.lax.stop_gradient(log_prob + target_entropy)).mean()
