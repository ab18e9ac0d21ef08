"""A2C: synchronous advantage actor-critic with GAE or n-step returns.

One update = collect `training_frequency` vector steps -> advantages -> ONE gradient step on the whole
batch (SLM Lab's ActorCritic with an OnPolicyBatchReplay memory). Advantages are GAE when `lam` is
set, else n-step returns (`num_step_returns`) minus V(s); both bootstrap from V(final_obs) at
truncation and not at termination. Loss, as SLM Lab's:
    -mean(log pi(a|s) * A) + val_loss_coef * mean((V(s) - target)^2) - entropy_coef * mean(H).
Discrete (categorical) and continuous (Gaussian, state-independent log-std) actions; separate
(`net` + `critic_net`) or shared (`net`) actor-critic, one optimiser over all parameters.
The state, networks, rollout and GAE are the on-policy plumbing PPO uses (`actor_critic.py`).
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
    next_values,
    policy_and_value,
)
from jaxlab.algos.optim import OptimSettings
from jaxlab.algos.returns import nstep_returns
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
    time_horizon: int  # vector steps per update (SLM Lab's training_frequency)
    num_step_returns: int | None  # None: GAE with lam
    optim: OptimSettings

    @property
    def frames_per_update(self) -> int:
        return self.time_horizon * self.env.num_envs


@struct.dataclass
class HParams:
    """Float hyperparameters, arrays in the state so trials can be vmapped."""

    lr: jax.Array
    gamma: jax.Array
    lam: jax.Array  # 0 and unused with n-step returns
    entropy_coef: Schedule
    val_loss_coef: jax.Array
    max_grad_norm: jax.Array


def configure(spec: dict, env: VecEnv, max_frame: int) -> tuple[Static, HParams]:
    """Split a validated spec into static settings and float hyperparameters."""
    algo, net = spec["agent"]["algorithm"], spec["agent"]["net"]
    policy_net, critic_net = make_nets(net, env)
    num_updates = -(-max_frame // (algo["training_frequency"] * env.num_envs))
    use_gae = algo["lam"] is not None
    static = Static(
        env=env,
        policy_net=policy_net,
        critic_net=critic_net,
        time_horizon=algo["training_frequency"],
        num_step_returns=None if use_gae else algo["num_step_returns"],
        optim=OptimSettings.from_spec(net, num_updates),
    )
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    hp = HParams(
        lr=f32(net["optim_spec"]["lr"]),
        gamma=f32(algo["gamma"]),
        lam=f32(algo["lam"] if use_gae else 0.0),
        entropy_coef=Schedule.from_spec(algo["entropy_coef_spec"]),
        val_loss_coef=f32(algo["val_loss_coef"]),
        max_grad_norm=f32(net["clip_grad_val"] or 0.0),
    )
    return static, hp


def targets(static: Static, state: OnPolicyState, rollout: Rollout) -> tuple[jax.Array, jax.Array]:
    """Advantages and value targets [T, E]: GAE, or n-step returns and their excess over V(s)."""
    if static.num_step_returns is None:
        return gae_targets(static, state, rollout)
    returns = nstep_returns(
        rollout.reward,
        next_values(static, state, rollout),
        rollout.terminated,
        rollout.truncated,
        state.hp.gamma,
        static.num_step_returns,
    )
    return returns - rollout.value, returns


def loss(
    static: Static, params: dict, batch: dict, hp: HParams, entropy_coef: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """A2C loss on flat samples [B, ...]; returns (scalar, mean entropy)."""
    discrete = static.env.discrete
    policy_out, value_pred = policy_and_value(static, params, batch["obs"])
    log_prob = distributions.log_prob(policy_out, batch["action"], discrete)
    entropy = distributions.entropy(policy_out, discrete).mean()
    policy_loss = -(log_prob * batch["advantage"]).mean()
    value_loss = ((value_pred - batch["target"]) ** 2).mean()
    return policy_loss + hp.val_loss_coef * value_loss - entropy_coef * entropy, entropy


def update(static: Static, state: OnPolicyState) -> tuple[OnPolicyState, dict]:
    """One A2C iteration: collect, advantages, one gradient step on the whole batch."""
    state, rollout = collect(static, state)
    adv, target = targets(static, state, rollout)
    batch = {"obs": rollout.obs, "action": rollout.action, "advantage": adv, "target": target}
    batch = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), batch)
    hp = state.hp
    entropy_coef = hp.entropy_coef(state.frame)
    (total, entropy), grads = jax.value_and_grad(loss, argnums=1, has_aux=True)(
        static, state.params, batch, hp, entropy_coef
    )
    tx = static.optim.make(hp.lr, hp.max_grad_norm)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    state = state.replace(
        params=optax.apply_updates(state.params, updates), opt_state=opt_state, opt_step=state.opt_step + 1
    )
    return state, {"loss": total, "lr": static.optim.lr(state.hp.lr, state.opt_step), "entropy": entropy}


# Algorithm-specific DataFrame columns, in docs/output.md order after the common ones.
EXTRA_COLUMNS = ("entropy",)
