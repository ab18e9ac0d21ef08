"""REINFORCE (Williams, 1992): Monte-Carlo policy gradient, policy network only.

One update = collect `training_frequency` vector steps with the current policy -> discounted returns
inside that rollout -> one gradient step on -mean(log pi(a|s) * G) - entropy_coef * mean(H(pi(.|s))).

Returns, as SLM Lab computes them: REINFORCE has no critic to bootstrap from, so each return is the
discounted sum of rewards up to the end of its episode (terminated or truncated) or of the rollout,
whichever comes first. Episodes cut by the rollout's end are therefore under-counted near the cut;
a longer `training_frequency` makes that rarer. `center_return` subtracts the batch's mean return
(SLM Lab's baseline), which lowers the gradient's variance without biasing it.
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
    act,
    init,
    make_nets,
    nets,
)
from jaxlab.algos.optim import OptimSettings
from jaxlab.algos.returns import discounted_returns
from jaxlab.algos.schedules import Schedule
from jaxlab.envs import VecEnv

# The interface the engine calls; init, act and nets are the shared on-policy ones.
__all__ = ["EXTRA_COLUMNS", "act", "configure", "init", "nets", "update"]


@dataclass(frozen=True)
class Static:
    """Everything shape-changing or structural: one compiled program per distinct Static."""

    env: VecEnv
    policy_net: Any  # PolicyNet
    critic_net: None  # always None: REINFORCE learns no value function
    time_horizon: int  # vector steps per update (SLM Lab's training_frequency)
    center_return: bool
    optim: OptimSettings

    @property
    def frames_per_update(self) -> int:
        return self.time_horizon * self.env.num_envs


@struct.dataclass
class HParams:
    """Float hyperparameters, arrays in the state so trials can be vmapped."""

    lr: jax.Array
    gamma: jax.Array
    entropy_coef: Schedule
    max_grad_norm: jax.Array


@struct.dataclass
class Trajectory:
    """One update's experience, leaves [T, E, ...]."""

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    done: jax.Array  # terminated or truncated: the episode ended at this step


def configure(spec: dict, env: VecEnv, max_frame: int) -> tuple[Static, HParams]:
    """Split a validated spec into static settings and float hyperparameters."""
    algo, net = spec["agent"]["algorithm"], spec["agent"]["net"]
    policy_net, _ = make_nets(net, env, with_critic=False)
    num_updates = -(-max_frame // (algo["training_frequency"] * env.num_envs))
    static = Static(
        env=env,
        policy_net=policy_net,
        critic_net=None,
        time_horizon=algo["training_frequency"],
        center_return=algo["center_return"],
        optim=OptimSettings.from_spec(net, num_updates),
    )
    hp = HParams(
        lr=jnp.asarray(net["optim_spec"]["lr"], jnp.float32),
        gamma=jnp.asarray(algo["gamma"], jnp.float32),
        entropy_coef=Schedule.from_spec(algo["entropy_coef_spec"]),
        max_grad_norm=jnp.asarray(net["clip_grad_val"] or 0.0, jnp.float32),
    )
    return static, hp


def collect(static: Static, state: OnPolicyState) -> tuple[OnPolicyState, Trajectory]:
    """Run the policy for `time_horizon` vector steps."""
    discrete = static.env.discrete

    def env_step(state: OnPolicyState, _):
        key, action_key, step_key = jax.random.split(state.key, 3)
        policy_out = static.policy_net.apply(state.params["net"], state.obs)
        action = distributions.sample(action_key, policy_out, discrete)
        env_state, step = static.env.step(step_key, state.env_state, action)
        transition = Trajectory(state.obs, action, step.reward, step.terminated | step.truncated)
        return state.replace(key=key, env_state=env_state, obs=step.obs), transition

    state, trajectory = jax.lax.scan(env_step, state, None, static.time_horizon)
    return state.replace(frame=state.frame + static.frames_per_update), trajectory


def loss(
    static: Static,
    params: dict,
    obs: jax.Array,
    action: jax.Array,
    advantage: jax.Array,
    entropy_coef: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """Policy-gradient loss on flat samples [B, ...]; returns (scalar, mean entropy)."""
    discrete = static.env.discrete
    policy_out = static.policy_net.apply(params["net"], obs)
    log_prob = distributions.log_prob(policy_out, action, discrete)
    entropy = distributions.entropy(policy_out, discrete).mean()
    return -(log_prob * advantage).mean() - entropy_coef * entropy, entropy


def update(static: Static, state: OnPolicyState) -> tuple[OnPolicyState, dict]:
    """One REINFORCE iteration: collect, Monte-Carlo returns, one gradient step on the whole batch."""
    state, trajectory = collect(static, state)
    returns = discounted_returns(trajectory.reward, trajectory.done, state.hp.gamma)
    if static.center_return:
        returns = returns - returns.mean()
    flat = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), (trajectory.obs, trajectory.action, returns))
    entropy_coef = state.hp.entropy_coef(state.frame)
    (total, entropy), grads = jax.value_and_grad(loss, argnums=1, has_aux=True)(
        static, state.params, *flat, entropy_coef
    )
    tx = static.optim.make(state.hp.lr, state.hp.max_grad_norm)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    state = state.replace(
        params=optax.apply_updates(state.params, updates), opt_state=opt_state, opt_step=state.opt_step + 1
    )
    return state, {"loss": total, "lr": static.optim.lr(state.hp.lr, state.opt_step), "entropy": entropy}


# Algorithm-specific DataFrame columns, in docs/output.md order after the common ones.
EXTRA_COLUMNS = ("entropy",)
