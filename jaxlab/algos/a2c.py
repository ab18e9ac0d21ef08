"""ActorCritic (A2C): synchronous advantage actor-critic with GAE or n-step returns (SLM Lab's ActorCritic).

One update = collect `training_frequency` vector steps -> advantages -> ONE gradient step on the whole
batch (an OnPolicyBatchReplay memory). Advantages are GAE when `lam` is set, else n-step returns
(`num_step_returns`, which is then also the batch's length, as SLM Lab sets it) minus V(s), else (both null)
the rollout's discounted returns minus V(s); GAE and n-step returns bootstrap from V(final_obs) at
truncation and not at termination. Loss, as SLM Lab's:
    -policy_loss_coef mean(log pi(a|s) standardise(A)) + val_loss_coef loss_spec(V(s), target) - entropy_coef
    H.
Discrete (categorical) and continuous (Gaussian) actions; separate (`net` + `critic_net`, each with its own
optimiser) or shared (`net`) actor-critic. The state, networks, rollout and GAE are `on_policy.py`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxlab.algos import on_policy, policy_nets, schedules
from jaxlab.algos.base import StepMetrics
from jaxlab.algos.losses import Loss
from jaxlab.algos.on_policy import Batch, Coefficients, OnPolicyState, Rollout
from jaxlab.algos.policy_nets import NetHParams
from jaxlab.algos.returns import discounted_returns, nstep_returns
from jaxlab.algos.schedules import Schedule
from jaxlab.envs import EnvDescription, VecEnv
from jaxlab.schema import choice, flag, integer, optional_schedule, real

ALGORITHM_SCHEMA = {
    "name": choice("ActorCritic", "ActorCritic"),
    **policy_nets.POLICY_KEYS,
    "gamma": real(0.99, 0.0, 1.0),
    "lam": real(None, 0.0, 1.0, nullable=True),  # GAE when set
    "num_step_returns": integer(None, 1, nullable=True),  # n-step returns when lam is null
    "entropy_coef_spec": optional_schedule(0.01),
    "policy_loss_coef": real(1.0, 0.0),
    "val_loss_coef": real(1.0, 0.0),
    "normalize_v_targets": flag(False),
    "training_frequency": integer(32, 1),  # vector steps per update (the on-policy batch is x num_envs)
}


@dataclass(frozen=True)
class Static:
    """Everything shape-changing or structural: one compiled program per distinct Static."""

    env: VecEnv
    policy_net: Any  # PolicyNet, or ActorCriticNet when shared
    critic_net: Any  # ValueNet, or None when shared
    time_horizon: int  # vector steps per update (SLM Lab's training_frequency)
    returns: str  # "gae", "nstep" or "monte_carlo"
    num_step_returns: int | None
    optims: tuple
    value_loss: Loss
    normalize_v_targets: bool

    @property
    def frames_per_update(self) -> int:
        return self.time_horizon * self.env.num_envs


@struct.dataclass
class HParams:
    """Float hyperparameters, arrays in the state so trials can be vmapped."""

    nets: NetHParams
    gamma: jax.Array
    lam: jax.Array  # 0 and unused without GAE
    entropy_coef: Schedule | None
    policy_loss_coef: jax.Array
    val_loss_coef: jax.Array


def check(spec: dict, env: EnvDescription) -> None:
    policy_nets.check_pdtype(spec, env)
    policy_nets.check_memory(spec, env)


def configure(spec: dict, env: VecEnv) -> tuple[Static, HParams]:
    """Split a validated spec into static settings and float hyperparameters."""
    algo, net = spec["agent"]["algorithm"], spec["agent"]["net"]
    policy_net, critic_net = policy_nets.make_nets(net, env)
    returns = "gae" if algo["lam"] is not None else "nstep" if algo["num_step_returns"] else "monte_carlo"
    horizon = algo["num_step_returns"] if returns == "nstep" else algo["training_frequency"]
    optims, net_hp = policy_nets.net_settings(
        policy_nets.network_roles(net, True), net, 1, horizon * env.num_envs, spec["env"]["max_frame"]
    )
    static = Static(
        env=env,
        policy_net=policy_net,
        critic_net=critic_net,
        time_horizon=horizon,
        returns=returns,
        num_step_returns=algo["num_step_returns"] if returns == "nstep" else None,
        optims=optims,
        value_loss=Loss.from_spec(net["loss_spec"]),
        normalize_v_targets=algo["normalize_v_targets"],
    )
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    hp = HParams(
        nets=net_hp,
        gamma=f32(algo["gamma"]),
        lam=f32(algo["lam"] or 0.0),
        entropy_coef=schedules.optional(algo["entropy_coef_spec"]),
        policy_loss_coef=f32(algo["policy_loss_coef"]),
        val_loss_coef=f32(algo["val_loss_coef"]),
    )
    return static, hp


def targets(static: Static, state: OnPolicyState, rollout: Rollout) -> tuple[jax.Array, jax.Array]:
    """Advantages and value targets [T, E]: GAE, or n-step / Monte-Carlo returns and their excess over
    V(s)."""
    if static.returns == "gae":
        return on_policy.gae_targets(static, state, rollout)
    if static.returns == "nstep":
        returns = nstep_returns(
            rollout.reward,
            on_policy.next_values(static, state, rollout),
            rollout.terminated,
            rollout.truncated,
            state.hp.gamma,
            static.num_step_returns,
        )
    else:
        returns = discounted_returns(rollout.reward, rollout.terminated | rollout.truncated, state.hp.gamma)
    return returns - rollout.value, returns


def loss(
    static: Static, params: dict, batch: Batch, hp: HParams, coefs: Coefficients
) -> tuple[jax.Array, jax.Array]:
    """A2C loss on flat samples [B, ...]; returns (scalar, mean entropy)."""
    policy_out, value_pred = on_policy.policy_and_value(static, params, batch.obs)
    log_prob, entropy = on_policy.policy_terms(static, policy_out, batch)
    adv = on_policy.standardize(batch.advantage, batch.mask)
    policy_loss = -hp.policy_loss_coef * on_policy.masked_mean(log_prob * adv, batch.mask)
    value_loss = hp.val_loss_coef * on_policy.value_loss(static, value_pred, batch, coefs)
    return policy_loss + value_loss - coefs.entropy_coef * entropy, entropy


def update(static: Static, state: OnPolicyState) -> tuple[OnPolicyState, StepMetrics]:
    """One A2C iteration: collect, advantages, one gradient step on the whole batch."""
    state, rollout = on_policy.collect(static, state)
    adv, target = targets(static, state, rollout)
    coefs = on_policy.coefficients(state.hp.entropy_coef, None, state.frame - static.env.num_envs)
    return on_policy.whole_batch_update(
        static, loss, state, on_policy.flat_batch(rollout, adv, target), coefs
    )


ALGORITHM = on_policy.algorithm(
    "ActorCritic",
    policy_nets.agent_schema(ALGORITHM_SCHEMA),
    configure,
    update,
    check,
    ("entropy",),
)
