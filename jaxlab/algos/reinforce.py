"""REINFORCE (Williams, 1992; SLM Lab's Reinforce): Monte-Carlo policy gradient, policy network only.

One update = collect `training_frequency` vector steps with the current policy -> discounted returns inside
that rollout (less their mean with `center_return`) -> one gradient step on
    -policy_loss_coef mean(log pi(a|s) standardise(G)) - entropy_coef mean(H(pi(.|s))),
the returns standardised over the batch as SLM Lab does.

REINFORCE has no critic to bootstrap from, so each return is, as SLM Lab computes it, the discounted sum of
rewards up to its episode's termination or the rollout's end: at a time limit (truncation) the sum runs on
into the next episode, standing in for the value the cut episode would have had (stopping there would
credit the last steps of every long episode with almost nothing). Returns near the rollout's end are
under-counted; a longer `training_frequency` makes that rarer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxlab.algos import on_policy, policy_nets, schedules
from jaxlab.algos.base import StepMetrics
from jaxlab.algos.on_policy import Batch, Coefficients, OnPolicyState, Rollout
from jaxlab.algos.policy_nets import NetHParams
from jaxlab.algos.returns import discounted_returns
from jaxlab.algos.schedules import Schedule
from jaxlab.envs import EnvDescription, VecEnv
from jaxlab.schema import choice, flag, integer, optional_schedule, real

ALGORITHM_SCHEMA = {
    "name": choice("Reinforce", "Reinforce"),
    **policy_nets.POLICY_KEYS,
    "gamma": real(0.99, 0.0, 1.0),
    "center_return": flag(False),  # subtract the batch's mean return (SLM Lab's baseline)
    "entropy_coef_spec": optional_schedule(0.01),
    "policy_loss_coef": real(1.0, 0.0),
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
    optims: tuple
    value_loss: None = None
    normalize_v_targets: bool = False

    @property
    def frames_per_update(self) -> int:
        return self.time_horizon * self.env.num_envs


@struct.dataclass
class HParams:
    """Float hyperparameters, arrays in the state so trials can be vmapped."""

    nets: NetHParams
    gamma: jax.Array
    entropy_coef: Schedule | None
    policy_loss_coef: jax.Array


def check(spec: dict, env: EnvDescription) -> None:
    policy_nets.check_pdtype(spec, env)
    policy_nets.check_memory(spec, env)


def configure(spec: dict, env: VecEnv) -> tuple[Static, HParams]:
    """Split a validated spec into static settings and float hyperparameters."""
    algo, net = spec["agent"]["algorithm"], spec["agent"]["net"]
    policy_net, _ = policy_nets.make_nets(net, env, with_critic=False)
    optims, net_hp = policy_nets.net_settings(
        policy_nets.network_roles(net, False),
        net,
        1,
        algo["training_frequency"] * env.num_envs,
        spec["env"]["max_frame"],
    )
    static = Static(
        env=env,
        policy_net=policy_net,
        critic_net=None,
        time_horizon=algo["training_frequency"],
        center_return=algo["center_return"],
        optims=optims,
    )
    hp = HParams(
        nets=net_hp,
        gamma=jnp.asarray(algo["gamma"], jnp.float32),
        entropy_coef=schedules.optional(algo["entropy_coef_spec"]),
        policy_loss_coef=jnp.asarray(algo["policy_loss_coef"], jnp.float32),
    )
    return static, hp


def loss(
    static: Static, params: dict, batch: Batch, hp: HParams, coefs: Coefficients
) -> tuple[jax.Array, jax.Array]:
    """Policy-gradient loss on flat samples [B, ...] whose advantage is the (centred) return G; returns
    (-policy_loss_coef mean(log pi(a|s) standardise(G)) - entropy_coef H, mean entropy H)."""
    log_prob, entropy = on_policy.policy_terms(static, on_policy.policy(static, params, batch.obs), batch)
    adv = on_policy.standardize(batch.advantage, batch.mask)
    policy_loss = -hp.policy_loss_coef * on_policy.masked_mean(log_prob * adv, batch.mask)
    return policy_loss - coefs.entropy_coef * entropy, entropy


def episode_returns(static: Static, rollout: Rollout, gamma: jax.Array) -> jax.Array:
    """The discounted returns [T, E] each step's action is credited with, less the batch's mean when
    `center_return`."""
    returns = discounted_returns(rollout.reward, rollout.terminated, gamma)
    return returns - returns.mean() if static.center_return else returns


def update(static: Static, state: OnPolicyState) -> tuple[OnPolicyState, StepMetrics]:
    """One REINFORCE iteration: collect, Monte-Carlo returns, one gradient step on the whole batch."""
    state, rollout = on_policy.collect(static, state)
    returns = episode_returns(static, rollout, state.hp.gamma)
    coefs = on_policy.coefficients(state.hp.entropy_coef, None, state.frame - static.env.num_envs)
    return on_policy.whole_batch_update(
        static, loss, state, on_policy.flat_batch(rollout, returns, returns), coefs
    )


ALGORITHM = on_policy.algorithm(
    "Reinforce",
    policy_nets.agent_schema(ALGORITHM_SCHEMA),
    configure,
    update,
    check,
    ("entropy",),
)
