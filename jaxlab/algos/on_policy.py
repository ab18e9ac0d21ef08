"""On-policy plumbing shared by PPO, A2C and REINFORCE: the train state, the policy and value networks
(separate `net` + `critic_net`, one shared `net`, or a policy alone), rollout collection, GAE targets, the
one loss signature and the gradient step. The algorithms differ in their targets and losses, which stay in
their own files.

Every on-policy loss is `loss(static, params, batch, hp, coefs) -> (scalar, mean entropy)` over a flat
`Batch` of samples [B, ...]; `Coefficients` are the schedules' values at the update's frame.

The functions read the fields of `OnPolicyStatic` from an algorithm's `Static`, and `lr`, `max_grad_norm`
(plus `gamma`, `lam` for `gae_targets`) from its `HParams`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import jax
import jax.numpy as jnp
from flax import struct

from jaxlab.algos import distributions
from jaxlab.algos.base import Algorithm, StepMetrics
from jaxlab.algos.networks import ActorCriticNet, PolicyNet, ValueNet, make_body
from jaxlab.algos.optim import OptimSettings, apply_gradients
from jaxlab.algos.returns import gae
from jaxlab.envs import VecEnv, VecEnvState


class OnPolicyStatic(Protocol):
    """The static fields the shared functions below use (each algorithm's frozen `Static` has them)."""

    env: VecEnv
    policy_net: Any  # PolicyNet, or ActorCriticNet when shared
    critic_net: Any  # ValueNet, or None when shared or policy-only (REINFORCE)
    time_horizon: int  # vector steps per update
    optim: OptimSettings

    @property
    def frames_per_update(self) -> int: ...


@struct.dataclass
class OnPolicyState:
    params: dict  # {"net": ..., "critic_net": ...}, or {"net": ...} when shared or policy-only
    opt_state: Any
    env_state: VecEnvState
    obs: jax.Array  # [E, *obs_shape] current observation
    key: jax.Array
    hp: Any  # the algorithm's HParams
    frame: jax.Array  # int32, env steps summed over envs
    opt_step: jax.Array  # int32, gradient steps


@struct.dataclass
class Rollout:
    """One update's experience, leaves [T, E, ...]."""

    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array  # zeros without a critic
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    final_obs: jax.Array


@struct.dataclass
class Batch:
    """Flat samples [B, ...] for a loss: B = T x E of a rollout, or a minibatch of them."""

    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array  # of the action when it was taken
    value: jax.Array  # V(s) when the action was taken
    advantage: jax.Array
    target: jax.Array  # the value target (unused without a critic)


@struct.dataclass
class Coefficients:
    """The schedules' values at an update's frame."""

    entropy_coef: jax.Array
    clip_eps: jax.Array  # PPO's clip range; 0 for the others


LossFn = Callable[[Any, dict, Batch, Any, Coefficients], tuple[jax.Array, jax.Array]]


def make_nets(net_spec: dict, env: VecEnv, with_critic: bool = True) -> tuple[Any, Any]:
    """(policy_net, critic_net) from `agent.net`: an ActorCriticNet and None when `shared`, a PolicyNet
    and a ValueNet otherwise, a PolicyNet and None without a critic."""
    body = make_body(net_spec, env.obs_shape)
    heads = {
        "num_actions": env.num_actions,
        "action_dim": env.action_dim,
        "log_std_init": net_spec["log_std_init"],
    }
    if not with_critic:
        return PolicyNet(body, **heads), None
    if net_spec["shared"]:
        return ActorCriticNet(body, **heads), None
    return PolicyNet(body, **heads), ValueNet(body)


def init(static: OnPolicyStatic, key: jax.Array, hp: Any) -> OnPolicyState:
    """One session's initial train state."""
    key, policy_key, critic_key, env_key = jax.random.split(key, 4)
    obs, env_state = static.env.reset(env_key)
    params = {"net": static.policy_net.init(policy_key, obs[0])}
    if static.critic_net is not None:
        params["critic_net"] = static.critic_net.init(critic_key, obs[0])
    return OnPolicyState(
        params=params,
        opt_state=static.optim.make(hp.lr, hp.max_grad_norm).init(params),
        env_state=env_state,
        obs=obs,
        key=key,
        hp=hp,
        frame=jnp.zeros((), jnp.int32),
        opt_step=jnp.zeros((), jnp.int32),
    )


def shared(static: OnPolicyStatic) -> bool:
    """Whether policy and value are heads of one network (`net.shared`)."""
    return isinstance(static.policy_net, ActorCriticNet)


def policy_and_value(static: OnPolicyStatic, params: dict, obs: jax.Array):
    """(policy output, value [..]) for observations [.., *obs_shape]; the value is 0 without a critic."""
    if shared(static):
        return static.policy_net.apply(params["net"], obs)
    policy_out = static.policy_net.apply(params["net"], obs)
    if static.critic_net is None:
        return policy_out, jnp.zeros(obs.shape[: obs.ndim - len(static.env.obs_shape)])
    return policy_out, static.critic_net.apply(params["critic_net"], obs)


def policy(static: OnPolicyStatic, params: dict, obs: jax.Array):
    """The policy output alone (logits, or (mean, log_std)); skips the critic when it is separate."""
    if shared(static):
        return static.policy_net.apply(params["net"], obs)[0]
    return static.policy_net.apply(params["net"], obs)


def value(static: OnPolicyStatic, params: dict, obs: jax.Array) -> jax.Array:
    if shared(static):
        return static.policy_net.apply(params["net"], obs)[1]
    return static.critic_net.apply(params["critic_net"], obs)


def act(
    static: OnPolicyStatic, hp: Any, params: dict, obs: jax.Array, key: jax.Array, explore: bool
) -> jax.Array:
    """Actions [E, ...] for observations [E, *obs_shape]: sampled when exploring, else the mode."""
    policy_out = policy(static, params, obs)
    if explore:
        return distributions.sample(key, policy_out, static.env.discrete)
    return distributions.mode(policy_out, static.env.discrete)


def nets(params: dict) -> dict:
    """Named networks for export: `net` (policy, or shared actor-critic) and `critic_net` when separate."""
    return dict(params)


def networks(static: OnPolicyStatic) -> dict:
    """The Flax modules behind `nets`."""
    return {
        "net": static.policy_net,
        **({"critic_net": static.critic_net} if static.critic_net is not None else {}),
    }


def collect(static: OnPolicyStatic, state: OnPolicyState) -> tuple[OnPolicyState, Rollout]:
    """Run the policy for `time_horizon` vector steps, recording log-probs and values."""
    discrete = static.env.discrete

    def env_step(state: OnPolicyState, _):
        key, action_key, step_key = jax.random.split(state.key, 3)
        policy_out, value_now = policy_and_value(static, state.params, state.obs)
        action = distributions.sample(action_key, policy_out, discrete)
        env_state, step = static.env.step(step_key, state.env_state, action)
        transition = Rollout(
            obs=state.obs,
            action=action,
            log_prob=distributions.log_prob(policy_out, action, discrete),
            value=value_now,
            reward=step.reward,
            terminated=step.terminated,
            truncated=step.truncated,
            final_obs=step.final_obs,
        )
        return state.replace(key=key, env_state=env_state, obs=step.obs), transition

    state, rollout = jax.lax.scan(env_step, state, None, static.time_horizon)
    return state.replace(frame=state.frame + static.frames_per_update), rollout


def next_values(static: OnPolicyStatic, state: OnPolicyState, rollout: Rollout) -> jax.Array:
    """V of the observation after each step [T, E]: of the pre-reset final observation where the
    episode was truncated, of the next observation otherwise (`state.obs` after the last step)."""
    last_value = value(static, state.params, state.obs)
    following = jnp.concatenate([rollout.value[1:], last_value[None]], axis=0)
    final_values = value(static, state.params, rollout.final_obs)
    return jnp.where(rollout.truncated, final_values, following)


def gae_targets(
    static: OnPolicyStatic, state: OnPolicyState, rollout: Rollout
) -> tuple[jax.Array, jax.Array]:
    """GAE advantages and value targets [T, E]; truncated steps bootstrap from V(final_obs)."""
    return gae(
        rollout.reward,
        rollout.value,
        next_values(static, state, rollout),
        rollout.terminated,
        rollout.truncated,
        state.hp.gamma,
        state.hp.lam,
    )


def flat_batch(rollout: Rollout, advantage: jax.Array, target: jax.Array) -> Batch:
    """A rollout's samples [T, E, ...] with their advantages and targets [T, E], flattened to [T * E, ...]."""
    batch = Batch(rollout.obs, rollout.action, rollout.log_prob, rollout.value, advantage, target)
    return jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), batch)


def gradient_step(
    static: OnPolicyStatic,
    loss: LossFn,
    params: dict,
    opt_state: Any,
    batch: Batch,
    hp: Any,
    coefs: Coefficients,
) -> tuple[dict, Any, jax.Array, jax.Array]:
    """One optimiser step on `loss` over `batch`: (params, opt_state, loss value, mean entropy)."""
    (total, entropy), grads = jax.value_and_grad(loss, argnums=1, has_aux=True)(
        static, params, batch, hp, coefs
    )
    params, opt_state = apply_gradients(static.optim.make(hp.lr, hp.max_grad_norm), grads, opt_state, params)
    return params, opt_state, total, entropy


def whole_batch_update(
    static: OnPolicyStatic, loss: LossFn, state: OnPolicyState, batch: Batch, coefs: Coefficients
) -> tuple[OnPolicyState, StepMetrics]:
    """One gradient step on the whole batch (A2C, REINFORCE: SLM Lab's OnPolicyBatchReplay)."""
    params, opt_state, total, entropy = gradient_step(
        static, loss, state.params, state.opt_state, batch, state.hp, coefs
    )
    state = state.replace(params=params, opt_state=opt_state, opt_step=state.opt_step + 1)
    return state, StepMetrics(total, static.optim.lr(state.hp.lr, state.opt_step), {"entropy": entropy})


def algorithm(name: str, schema: dict, configure, update, check, columns: tuple[str, ...]) -> Algorithm:
    """The record of an on-policy algorithm: its own schema, configure, update, check and columns, on this
    module's init, act and networks."""
    return Algorithm(
        name=name,
        schema=schema,
        configure=configure,
        init=init,
        update=update,
        act=act,
        nets=nets,
        networks=networks,
        check=check,
        columns=columns,
    )


def policy_terms(static: OnPolicyStatic, policy_out: Any, action: jax.Array) -> tuple[jax.Array, jax.Array]:
    """log pi(a|s) [B] of the batch's actions and the mean policy entropy, for a loss."""
    discrete = static.env.discrete
    return distributions.log_prob(policy_out, action, discrete), distributions.entropy(
        policy_out, discrete
    ).mean()
