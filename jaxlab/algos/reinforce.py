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
from flax import struct

from jaxlab.algos import on_policy
from jaxlab.algos.base import StepMetrics
from jaxlab.algos.networks import NET_SCHEMA
from jaxlab.algos.on_policy import Batch, Coefficients, OnPolicyState, Rollout
from jaxlab.algos.optim import OptimSettings
from jaxlab.algos.returns import discounted_returns
from jaxlab.algos.schedules import Schedule
from jaxlab.envs import EnvDescription, VecEnv
from jaxlab.schema import SpecError, choice, flag, integer, real, schedule

ALGORITHM_SCHEMA = {
    "name": choice("REINFORCE", "REINFORCE"),
    "gamma": real(0.99, 0.0, 1.0),
    "center_return": flag(True),  # subtract the batch's mean return (SLM Lab's baseline)
    "entropy_coef_spec": schedule(0.01),
    "training_frequency": integer(128, 1),  # vector steps per update (the on-policy batch is x num_envs)
}


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


def check(spec: dict, env: EnvDescription) -> None:
    if spec["agent"]["net"]["shared"]:
        raise SpecError(
            "agent.net.shared = true, but REINFORCE has no critic to share a body with — set shared: false"
        )


def configure(spec: dict, env: VecEnv) -> tuple[Static, HParams]:
    """Split a validated spec into static settings and float hyperparameters."""
    algo, net = spec["agent"]["algorithm"], spec["agent"]["net"]
    policy_net, _ = on_policy.make_nets(net, env, with_critic=False)
    num_updates = -(-spec["env"]["max_frame"] // (algo["training_frequency"] * env.num_envs))
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


def loss(
    static: Static, params: dict, batch: Batch, hp: HParams, coefs: Coefficients
) -> tuple[jax.Array, jax.Array]:
    """Policy-gradient loss on flat samples [B, ...] whose advantage is the (centred) return G; returns
    (-mean(log pi(a|s) G) - entropy_coef H, mean entropy H)."""
    log_prob, entropy = on_policy.policy_terms(
        static, on_policy.policy(static, params, batch.obs), batch.action
    )
    return -(log_prob * batch.advantage).mean() - coefs.entropy_coef * entropy, entropy


def episode_returns(static: Static, rollout: Rollout, gamma: jax.Array) -> jax.Array:
    """The discounted returns [T, E] each step's action is credited with, less the batch's mean when
    `center_return`."""
    returns = discounted_returns(rollout.reward, rollout.terminated | rollout.truncated, gamma)
    return returns - returns.mean() if static.center_return else returns


def update(static: Static, state: OnPolicyState) -> tuple[OnPolicyState, StepMetrics]:
    """One REINFORCE iteration: collect, Monte-Carlo returns, one gradient step on the whole batch."""
    state, rollout = on_policy.collect(static, state)
    returns = episode_returns(static, rollout, state.hp.gamma)
    coefs = Coefficients(entropy_coef=state.hp.entropy_coef(state.frame), clip_eps=jnp.zeros(()))
    return on_policy.whole_batch_update(
        static, loss, state, on_policy.flat_batch(rollout, returns, returns), coefs
    )


ALGORITHM = on_policy.algorithm(
    "REINFORCE", {"algorithm": ALGORITHM_SCHEMA, "net": NET_SCHEMA}, configure, update, check, ("entropy",)
)
