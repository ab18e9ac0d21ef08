"""PPO: clipped surrogate, GAE, optional value clipping, entropy bonus, minibatch epochs.

One update = collect `time_horizon` vector steps -> GAE -> `training_epoch` epochs of shuffled
minibatches. Discrete (categorical) and continuous (Gaussian, state-independent log-std) actions;
separate (`net` + `critic_net`) or shared (`net`) actor-critic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxlab.algos import distributions
from jaxlab.algos.actor_critic import (
    OnPolicyState,
    Rollout,
    act,
    collect,
    gae_targets,
    init,
    make_nets,
    nets,
    policy_and_value,
)
from jaxlab.algos.optim import OptimSettings
from jaxlab.algos.schedules import Schedule
from jaxlab.envs import VecEnv

# The interface the engine calls; init, act and nets are the shared actor-critic ones.
__all__ = ["EXTRA_COLUMNS", "act", "configure", "init", "nets", "update"]


@dataclass(frozen=True)
class Static:
    """Everything shape-changing or structural: one compiled program per distinct Static."""

    env: VecEnv
    policy_net: Any  # PolicyNet, or ActorCriticNet when shared
    critic_net: Any  # ValueNet, or None when shared
    time_horizon: int
    num_minibatches: int
    training_epoch: int
    clip_vloss: bool
    normalize_advantages: bool
    optim: OptimSettings

    @property
    def frames_per_update(self) -> int:
        return self.time_horizon * self.env.num_envs

    @property
    def grad_steps_per_update(self) -> int:
        return self.training_epoch * self.num_minibatches


@struct.dataclass
class HParams:
    """Float hyperparameters, arrays in the state so trials can be vmapped."""

    lr: jax.Array
    gamma: jax.Array
    lam: jax.Array
    clip_eps: Schedule
    entropy_coef: Schedule
    val_loss_coef: jax.Array
    max_grad_norm: jax.Array


def configure(spec: dict, env: VecEnv, max_frame: int) -> tuple[Static, HParams]:
    """Split a validated spec into static settings and float hyperparameters."""
    algo, net = spec["agent"]["algorithm"], spec["agent"]["net"]
    policy_net, critic_net = make_nets(net, env)
    batch = algo["time_horizon"] * env.num_envs
    num_minibatches = batch // algo["minibatch_size"]
    num_updates = -(-max_frame // batch)
    static = Static(
        env=env,
        policy_net=policy_net,
        critic_net=critic_net,
        time_horizon=algo["time_horizon"],
        num_minibatches=num_minibatches,
        training_epoch=algo["training_epoch"],
        clip_vloss=algo["clip_vloss"],
        normalize_advantages=algo["normalize_advantages"],
        optim=OptimSettings.from_spec(net, num_updates * num_minibatches * algo["training_epoch"]),
    )
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    hp = HParams(
        lr=f32(net["optim_spec"]["lr"]),
        gamma=f32(algo["gamma"]),
        lam=f32(algo["lam"]),
        clip_eps=Schedule.from_spec(algo["clip_eps_spec"]),
        entropy_coef=Schedule.from_spec(algo["entropy_coef_spec"]),
        val_loss_coef=f32(algo["val_loss_coef"]),
        max_grad_norm=f32(net["clip_grad_val"] or 0.0),
    )
    return static, hp


def loss(
    static: Static, params: dict, batch: dict, hp: HParams, clip_eps: jax.Array, entropy_coef: jax.Array
) -> tuple[jax.Array, dict]:
    """PPO loss on a minibatch of flat samples [B, ...]; returns (scalar, metrics)."""
    discrete = static.env.discrete
    policy_out, value_pred = policy_and_value(static, params, batch["obs"])
    log_prob = distributions.log_prob(policy_out, batch["action"], discrete)
    entropy = distributions.entropy(policy_out, discrete).mean()

    adv = batch["advantage"]
    if static.normalize_advantages:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    ratio = jnp.exp(log_prob - batch["log_prob"])
    policy_loss = -jnp.minimum(ratio * adv, jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * adv).mean()

    value_loss = (value_pred - batch["target"]) ** 2
    if static.clip_vloss:
        clipped = batch["value"] + jnp.clip(value_pred - batch["value"], -clip_eps, clip_eps)
        value_loss = jnp.maximum(value_loss, (clipped - batch["target"]) ** 2)
    value_loss = 0.5 * value_loss.mean()

    total = policy_loss + hp.val_loss_coef * value_loss - entropy_coef * entropy
    return total, {"entropy": entropy}


def learn(static: Static, state: OnPolicyState, rollout: Rollout, adv: jax.Array, target: jax.Array):
    """`training_epoch` epochs of shuffled minibatch steps; returns the state and mean loss/entropy."""
    hp = state.hp
    clip_eps, entropy_coef = hp.clip_eps(state.frame), hp.entropy_coef(state.frame)
    tx = static.optim.make(hp.lr, hp.max_grad_norm)
    samples = {
        "obs": rollout.obs,
        "action": rollout.action,
        "log_prob": rollout.log_prob,
        "value": rollout.value,
        "advantage": adv,
        "target": target,
    }
    samples = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), samples)
    grad_fn = jax.value_and_grad(loss, argnums=1, has_aux=True)

    def minibatch_step(carry, minibatch):
        params, opt_state = carry
        (total, aux), grads = grad_fn(static, params, minibatch, hp, clip_eps, entropy_coef)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), (total, aux["entropy"])

    def epoch(carry, key):
        order = jax.random.permutation(key, static.frames_per_update)
        minibatches = jax.tree.map(
            lambda x: x[order].reshape(static.num_minibatches, -1, *x.shape[1:]), samples
        )
        return jax.lax.scan(minibatch_step, carry, minibatches)

    key, epoch_key = jax.random.split(state.key)
    (params, opt_state), (losses, entropies) = jax.lax.scan(
        epoch, (state.params, state.opt_state), jax.random.split(epoch_key, static.training_epoch)
    )
    state = state.replace(
        params=params, opt_state=opt_state, key=key, opt_step=state.opt_step + static.grad_steps_per_update
    )
    return state, losses.mean(), entropies.mean(), clip_eps


def update(static: Static, state: OnPolicyState) -> tuple[OnPolicyState, dict]:
    """One PPO iteration: collect, GAE, learn. Metrics are scalars for the session DataFrame."""
    state, rollout = collect(static, state)
    adv, target = gae_targets(static, state, rollout)
    state, mean_loss, mean_entropy, clip_eps = learn(static, state, rollout, adv, target)
    metrics = {
        "loss": mean_loss,
        "lr": static.optim.lr(state.hp.lr, state.opt_step),
        "entropy": mean_entropy,
        "clip_eps": clip_eps,
    }
    return state, metrics


# Algorithm-specific DataFrame columns, in docs/output.md order after the common ones.
EXTRA_COLUMNS = ("entropy", "clip_eps")
