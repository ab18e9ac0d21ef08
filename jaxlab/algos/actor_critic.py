"""On-policy plumbing shared by PPO, A2C and REINFORCE: the train state, the policy and value
networks (separate `net` + `critic_net`, or one shared `net`), rollout collection, GAE targets and
the optimiser. The algorithms differ in their returns and losses, which stay in their own files.

The functions read the fields of `OnPolicyStatic` from an algorithm's `Static`, and `lr`,
`max_grad_norm` (plus `gamma`, `lam` for `gae_targets`) from its `HParams`.
"""

from __future__ import annotations

from typing import Any, Protocol

import jax
import jax.numpy as jnp
from flax import struct

from jaxlab.algos import distributions
from jaxlab.algos.networks import ActorCriticNet, PolicyNet, ValueNet, make_body
from jaxlab.algos.optim import OptimSettings
from jaxlab.algos.returns import gae
from jaxlab.envs import VecEnv, VecEnvState


class OnPolicyStatic(Protocol):
    """The static fields the shared functions below use (each algorithm's frozen `Static` has them)."""

    env: VecEnv
    policy_net: Any  # PolicyNet, or ActorCriticNet when shared
    critic_net: Any  # ValueNet, or None when shared or policy-only (REINFORCE)
    time_horizon: int
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
    value: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    final_obs: jax.Array


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
    """(policy output, value [..]) for observations [.., *obs_shape]."""
    if shared(static):
        return static.policy_net.apply(params["net"], obs)
    return static.policy_net.apply(params["net"], obs), static.critic_net.apply(params["critic_net"], obs)


def policy(static: OnPolicyStatic, params: dict, obs: jax.Array):
    """The policy output alone (logits, or (mean, log_std)); skips the critic when it is separate."""
    if shared(static):
        return static.policy_net.apply(params["net"], obs)[0]
    return static.policy_net.apply(params["net"], obs)


def value(static: OnPolicyStatic, params: dict, obs: jax.Array) -> jax.Array:
    if shared(static):
        return static.policy_net.apply(params["net"], obs)[1]
    return static.critic_net.apply(params["critic_net"], obs)


def act(static: OnPolicyStatic, params: dict, obs: jax.Array, key: jax.Array, explore: bool) -> jax.Array:
    """Actions [E, ...] for observations [E, *obs_shape]: sampled when exploring, else the mode."""
    policy_out = policy(static, params, obs)
    if explore:
        return distributions.sample(key, policy_out, static.env.discrete)
    return distributions.mode(policy_out, static.env.discrete)


def nets(params: dict) -> dict:
    """Named networks for export: `net` (policy, or shared actor-critic) and `critic_net` when separate."""
    return dict(params)


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
