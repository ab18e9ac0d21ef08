"""A2C: synchronous advantage actor-critic with GAE or n-step returns.

One update = collect `training_frequency` vector steps -> advantages -> ONE gradient step on the whole
batch (SLM Lab's ActorCritic with an OnPolicyBatchReplay memory). Advantages are GAE when `lam` is
set, else n-step returns (`num_step_returns`) minus V(s); both bootstrap from V(final_obs) at
truncation and not at termination. Loss, as SLM Lab's:
    -mean(log pi(a|s) * A) + val_loss_coef * mean((V(s) - target)^2) - entropy_coef * mean(H).
Discrete (categorical) and continuous (Gaussian, state-independent log-std) actions; separate
(`net` + `critic_net`) or shared (`net`) actor-critic, one optimiser over all parameters.
The state, networks, rollout and GAE are the on-policy plumbing (`on_policy.py`).
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
from jaxlab.algos.returns import nstep_returns
from jaxlab.algos.schedules import Schedule
from jaxlab.envs import EnvDescription, VecEnv
from jaxlab.schema import SpecError, choice, integer, real, schedule

ALGORITHM_SCHEMA = {
    "name": choice("A2C", "A2C"),
    "gamma": real(0.99, 0.0, 1.0),
    "lam": real(0.95, 0.0, 1.0, nullable=True),  # GAE when set; null: n-step returns
    "num_step_returns": integer(None, 1, nullable=True),
    "entropy_coef_spec": schedule(0.01),
    "val_loss_coef": real(0.5, 0.0),
    "training_frequency": integer(32, 1),  # vector steps per update (the on-policy batch is x num_envs)
}


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


def check(spec: dict, env: EnvDescription) -> None:
    algo = spec["agent"]["algorithm"]
    if (algo["lam"] is None) == (algo["num_step_returns"] is None):
        raise SpecError(
            "agent.algorithm: A2C needs exactly one of lam (GAE) and num_step_returns (n-step returns)"
            " — set the other to null"
        )


def configure(spec: dict, env: VecEnv) -> tuple[Static, HParams]:
    """Split a validated spec into static settings and float hyperparameters."""
    algo, net = spec["agent"]["algorithm"], spec["agent"]["net"]
    policy_net, critic_net = on_policy.make_nets(net, env)
    num_updates = -(-spec["env"]["max_frame"] // (algo["training_frequency"] * env.num_envs))
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
        return on_policy.gae_targets(static, state, rollout)
    returns = nstep_returns(
        rollout.reward,
        on_policy.next_values(static, state, rollout),
        rollout.terminated,
        rollout.truncated,
        state.hp.gamma,
        static.num_step_returns,
    )
    return returns - rollout.value, returns


def loss(
    static: Static, params: dict, batch: Batch, hp: HParams, coefs: Coefficients
) -> tuple[jax.Array, jax.Array]:
    """A2C loss on flat samples [B, ...]; returns (scalar, mean entropy)."""
    policy_out, value_pred = on_policy.policy_and_value(static, params, batch.obs)
    log_prob, entropy = on_policy.policy_terms(static, policy_out, batch.action)
    policy_loss = -(log_prob * batch.advantage).mean()
    value_loss = ((value_pred - batch.target) ** 2).mean()
    return policy_loss + hp.val_loss_coef * value_loss - coefs.entropy_coef * entropy, entropy


def update(static: Static, state: OnPolicyState) -> tuple[OnPolicyState, StepMetrics]:
    """One A2C iteration: collect, advantages, one gradient step on the whole batch."""
    state, rollout = on_policy.collect(static, state)
    adv, target = targets(static, state, rollout)
    coefs = Coefficients(entropy_coef=state.hp.entropy_coef(state.frame), clip_eps=jnp.zeros(()))
    return on_policy.whole_batch_update(
        static, loss, state, on_policy.flat_batch(rollout, adv, target), coefs
    )


ALGORITHM = on_policy.algorithm(
    "A2C", {"algorithm": ALGORITHM_SCHEMA, "net": NET_SCHEMA}, configure, update, check, ("entropy",)
)
