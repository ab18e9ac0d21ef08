"""Soft actor-critic's (SAC's) losses and gradient step, as SLM Lab's SoftActorCritic computes them: the twin
critics' soft Bellman regression, the actor's and the temperature's, for continuous actions (a tanh-squashed
Gaussian in [-1, 1], which the env rescales to its bounds) and discrete ones (exact expectations over the
actions, the twin critics averaged); each network's optimiser. Pure functions of the networks and settings in
`static` (`sac.Static`); the plumbing that calls them is `sac.py`'s."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxlab.algos import distributions, off_policy, replay
from jaxlab.algos.off_policy import Learned
from jaxlab.algos.optim import apply_gradients


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
) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    """The two critics' (importance-weighted) `loss_spec` against the soft Bellman target, summed (each
    critic's gradient is its own); returns (loss, (|min_i Q_i(s, a) - y| [B] for PER, Q_i(s, .) [2, B, A]
    before
    this step for the discrete actor)). Discrete V(s') = sum_a pi(a|s') ((Q'_1 + Q'_2) / 2 - alpha log pi),
    continuous V(s') = min_i Q'_i(s', a') - alpha log pi(a'|s'), a' ~ pi(.|s')."""
    env = static.env
    next_out = static.actor.apply(params["net"], batch.next_obs)
    if env.discrete:
        next_log_probs = jax.nn.log_softmax(next_out)
        next_q = twin_q(static, params["target_critic"], batch.next_obs).mean(0)  # [B, A]
        next_value = (jnp.exp(next_log_probs) * (next_q - alpha * next_log_probs)).sum(-1)
        q_all = twin_q(static, critic_params, batch.obs)
        q_pred = jnp.take_along_axis(q_all, batch.action[None, :, None], axis=-1)[..., 0]  # [2, B]
    else:
        next_action, next_log_prob = distributions.squashed_gaussian_sample(key, *next_out)
        next_q = twin_q(static, params["target_critic"], batch.next_obs, next_action).min(0)  # [B]
        next_value = next_q - alpha * next_log_prob
        q_pred = twin_q(static, critic_params, batch.obs, batch.action)
        q_all = q_pred
    target = batch.reward + gamma * (1.0 - batch.terminated.astype(jnp.float32)) * next_value
    target = jax.lax.stop_gradient(target)
    loss = (weight * static.loss.elementwise(q_pred, target)).mean(-1).sum()
    return loss, (jnp.abs(q_pred.min(0) - target), jax.lax.stop_gradient(q_all))


def actor_loss(
    static: Any,
    actor_params: Any,
    critic_params: Any,
    q_before: jax.Array,
    alpha: jax.Array,
    obs: jax.Array,
    key: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """The actor's loss over a batch; returns (loss, E_a[log pi(a|s)] [B]). Continuous:
    E[alpha log pi(a|s) - min_i Q_i(s, a)] with the updated critics (a reparameterised); discrete:
    sum_a pi(a|s) (alpha log pi(a|s) - (Q_1 + Q_2) / 2) with the critics' values before their step
    (`q_before` [2, B, A]), as SLM Lab does."""
    env = static.env
    policy_out = static.actor.apply(actor_params, obs)
    if env.discrete:
        log_probs = jax.nn.log_softmax(policy_out)
        probs = jnp.exp(log_probs)
        log_prob = (probs * log_probs).sum(-1)  # = -H(pi(.|s))
        return (probs * (alpha * log_probs - q_before.mean(0))).sum(-1).mean(), log_prob
    action, log_prob = distributions.squashed_gaussian_sample(key, *policy_out)
    q = twin_q(static, critic_params, obs, action).min(0)
    return (alpha * log_prob - q).mean(), log_prob


def alpha_loss(log_alpha: jax.Array, log_prob: jax.Array, target_entropy: float) -> jax.Array:
    """-alpha (log pi + target_entropy), alpha = exp(log_alpha) (SLM Lab's, as CleanRL's): alpha rises while
    the entropy is below its target."""
    return -(jnp.exp(log_alpha) * jax.lax.stop_gradient(log_prob + target_entropy)).mean()


@struct.dataclass
class Trainable:
    """What a training changes, besides the memory."""

    params: dict
    log_alpha: jax.Array
    actor_opt: Any
    critic_opt: Any
    alpha_opt: Any


def actor_tx(static: Any, hp: Any, step: jax.Array | int = 0) -> optax.GradientTransformation:
    return static.actor_optim.make(hp.actor_lr, hp.actor_max_grad_norm, step)


def critic_tx(static: Any, hp: Any, step: jax.Array | int = 0) -> optax.GradientTransformation:
    return static.critic_optim.make(hp.critic_lr, hp.critic_max_grad_norm, step)


def alpha_tx(static: Any, hp: Any, step: jax.Array | int = 0) -> optax.GradientTransformation:
    return static.actor_optim.make(hp.alpha_lr, None, step)


def _select(flag: jax.Array, new: Any, old: Any) -> Any:
    return jax.tree.map(lambda n, o: jnp.where(flag, n, o), new, old)


def gradient_step(static: Any, state: Any, learned: Learned, xs) -> tuple[Learned, dict]:
    """One step on a fresh batch: critics, then (every policy_delay-th step) actor, temperature, targets."""
    key, step = xs
    hp = state.hp
    batch_key, target_key, actor_key = jax.random.split(key, 3)
    batch, index, weight, memory, learned = off_policy.draw(static, state, learned, batch_key)
    trainable = learned.trainable
    params, alpha = trainable.params, jnp.exp(trainable.log_alpha)

    (q_loss, (abs_td, q_before)), grads = jax.value_and_grad(critic_loss, argnums=1, has_aux=True)(
        static, params["critic"], params, alpha, batch, weight, hp.gamma, target_key
    )
    critic, critic_opt = jax.vmap(lambda g, o, p: apply_gradients(critic_tx(static, hp, step), g, o, p))(
        grads, trainable.critic_opt, params["critic"]
    )

    (pi_loss, log_prob), grads = jax.value_and_grad(actor_loss, argnums=1, has_aux=True)(
        static, params["net"], critic, q_before, alpha, batch.obs, actor_key
    )
    actor, actor_opt = apply_gradients(actor_tx(static, hp, step), grads, trainable.actor_opt, params["net"])

    temperature_loss, grad = jax.value_and_grad(alpha_loss)(
        trainable.log_alpha, log_prob, static.target_entropy
    )
    log_alpha, alpha_opt = apply_gradients(
        alpha_tx(static, hp, step), grad, trainable.alpha_opt, trainable.log_alpha
    )
    log_alpha = jnp.clip(log_alpha, *static.log_alpha_range)

    if static.polyak:
        target = off_policy.polyak(params["target_critic"], critic, hp.polyak_coef)
    else:
        copy_now = state.frame % static.update_frequency < static.env.num_envs
        target = _select(copy_now, critic, params["target_critic"])
    policy_step = step % static.policy_delay == 0
    actor, actor_opt, log_alpha, alpha_opt, target = _select(
        policy_step,
        (actor, actor_opt, log_alpha, alpha_opt, target),
        (
            params["net"],
            trainable.actor_opt,
            trainable.log_alpha,
            trainable.alpha_opt,
            params["target_critic"],
        ),
    )
    learned = learned.replace(
        trainable=Trainable(
            params={"net": actor, "critic": critic, "target_critic": target},
            log_alpha=log_alpha,
            actor_opt=actor_opt,
            critic_opt=critic_opt,
            alpha_opt=alpha_opt,
        )
    )
    learned = off_policy.write_priorities(static, learned, memory, index, abs_td, hp.replay)
    return learned, {"loss": q_loss + pi_loss + temperature_loss, "entropy": -log_prob.mean()}
