"""On-policy plumbing shared by PPO, ActorCritic (A2C) and REINFORCE: the train state, the policy and value
networks' outputs (built by `policy_nets.py`), rollout collection, GAE targets, advantage standardisation, the
value loss (`loss_spec`, `normalize_v_targets`), the one loss signature and each network's gradient step. The
algorithms differ in their targets and losses, which stay in their own files.

Every on-policy loss is `loss(static, params, batch, hp, coefs) -> (scalar, mean entropy)` over a flat
`Batch` of samples [B, ...] (`mask` 0 on padding); `Coefficients` are the schedules' values at the update.

Each network has its own optimiser, gradient clip and lr schedule, as SLM Lab steps them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import jax
import jax.numpy as jnp
from flax import struct

from jaxlab.algos import distributions
from jaxlab.algos.base import Algorithm, StepMetrics
from jaxlab.algos.losses import Loss
from jaxlab.algos.networks import ActorCriticNet
from jaxlab.algos.optim import apply_gradients
from jaxlab.algos.returns import gae
from jaxlab.envs import VecEnv, VecEnvState

RETURN_CLIP = 10.0  # normalize_v_targets clips the scaled values and targets to +-10, as SLM Lab does


class OnPolicyStatic(Protocol):
    """The static fields the shared functions below use (each algorithm's frozen `Static` has them)."""

    env: VecEnv
    policy_net: Any  # PolicyNet, or ActorCriticNet when shared
    critic_net: Any  # ValueNet, or None when shared or policy-only (REINFORCE)
    time_horizon: int  # vector steps per update
    optims: tuple  # ((network name, OptimSettings), ...)
    value_loss: Loss | None
    normalize_v_targets: bool

    @property
    def frames_per_update(self) -> int: ...


@struct.dataclass
class ReturnStats:
    """SLM Lab's ReturnNormalizer: running mean and variance of the value targets (Chan's merge of each
    batch); values and targets are divided by max(std, 1) and clipped to +-RETURN_CLIP in the value loss."""

    mean: jax.Array
    m2: jax.Array
    count: jax.Array

    @classmethod
    def create(cls) -> ReturnStats:
        zero = jnp.zeros((), jnp.float32)
        return cls(zero, zero, zero)

    def update(self, values: jax.Array, mask: jax.Array) -> ReturnStats:
        count = mask.sum()
        batch_mean = (values * mask).sum() / count
        batch_var = (mask * (values - batch_mean) ** 2).sum() / count
        delta, total = batch_mean - self.mean, self.count + count
        m2 = self.m2 + batch_var * count + delta**2 * self.count * count / total
        return ReturnStats(self.mean + delta * count / total, m2, total)

    def scale(self) -> jax.Array:
        var = jnp.where(self.count > 1, self.m2 / jnp.maximum(self.count, 1.0), 1.0)
        return jnp.maximum(jnp.sqrt(var + 1e-8), 1.0)


@struct.dataclass
class OnPolicyState:
    params: dict  # {"net": ..., "critic_net": ...}, or {"net": ...} when shared or policy-only
    opt_state: dict  # by network name
    env_state: VecEnvState
    obs: jax.Array  # [E, *obs_shape] current observation
    key: jax.Array
    hp: Any  # the algorithm's HParams (with `nets`: NetHParams)
    frame: jax.Array  # int32, env steps summed over envs
    opt_step: jax.Array  # int32, gradient steps
    return_stats: ReturnStats | None  # normalize_v_targets


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
    mask: jax.Array  # 1 for a sample, 0 for padding (PPO's last, smaller minibatch)


@struct.dataclass
class Coefficients:
    """The schedules' values at an update's frame, and normalize_v_targets' scale."""

    entropy_coef: jax.Array
    clip_eps: jax.Array  # PPO's clip range; 0 for the others
    value_scale: jax.Array  # 1 without normalize_v_targets


LossFn = Callable[[Any, dict, Batch, Any, Coefficients], tuple[jax.Array, jax.Array]]


def init(static: OnPolicyStatic, key: jax.Array, hp: Any) -> OnPolicyState:
    """One session's initial train state."""
    key, policy_key, critic_key, env_key = jax.random.split(key, 4)
    obs, env_state = static.env.reset(env_key)
    params = {"net": static.policy_net.init(policy_key, obs[0])}
    if static.critic_net is not None:
        params["critic_net"] = static.critic_net.init(critic_key, obs[0])
    opt_state = {
        name: settings.make(hp.nets.lr[name], hp.nets.max_grad_norm[name]).init(params[name])
        for name, settings in static.optims
    }
    return OnPolicyState(
        params=params,
        opt_state=opt_state,
        env_state=env_state,
        obs=obs,
        key=key,
        hp=hp,
        frame=jnp.zeros((), jnp.int32),
        opt_step=jnp.zeros((), jnp.int32),
        return_stats=ReturnStats.create() if static.normalize_v_targets else None,
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
    mask = jnp.ones_like(rollout.reward)
    batch = Batch(rollout.obs, rollout.action, rollout.log_prob, rollout.value, advantage, target, mask)
    return jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), batch)


def masked_mean(x: jax.Array, mask: jax.Array) -> jax.Array:
    return (x * mask).sum() / mask.sum()


def standardize(x: jax.Array, mask: jax.Array) -> jax.Array:
    """(x - mean) / (std + 1e-8) over the masked samples, with PyTorch's std (N - 1), as SLM Lab does;
    a single sample stays as it is."""
    count = mask.sum()
    mean = masked_mean(x, mask)
    std = jnp.sqrt((mask * (x - mean) ** 2).sum() / jnp.maximum(count - 1.0, 1.0))
    return jnp.where(count > 1, (x - mean) / (std + 1e-8), x)


def value_loss(static: OnPolicyStatic, value_pred: jax.Array, batch: Batch, coefs: Coefficients) -> jax.Array:
    """The net's `loss_spec` between V(s) and the target, both scaled when `normalize_v_targets`."""
    pred, target = value_pred, batch.target
    if static.normalize_v_targets:
        pred = jnp.clip(pred / coefs.value_scale, -RETURN_CLIP, RETURN_CLIP)
        target = jnp.clip(target / coefs.value_scale, -RETURN_CLIP, RETURN_CLIP)
    return masked_mean(static.value_loss.elementwise(pred, target), batch.mask)


def with_return_stats(
    static: OnPolicyStatic, stats: ReturnStats | None, batch: Batch, coefs: Coefficients
) -> tuple[ReturnStats | None, Coefficients]:
    """normalize_v_targets: fold the batch's targets into the running statistics, and the scale they give."""
    if stats is None:
        return None, coefs
    stats = stats.update(batch.target, batch.mask)
    return stats, coefs.replace(value_scale=stats.scale())


def gradient_step(
    static: OnPolicyStatic,
    loss: LossFn,
    params: dict,
    opt_state: dict,
    batch: Batch,
    hp: Any,
    coefs: Coefficients,
    opt_step: jax.Array,
) -> tuple[dict, dict, jax.Array, jax.Array]:
    """One step of each network's optimiser on the gradient of `loss` over `batch` (the policy terms reach
    only the policy net, the value terms only the critic): (params, opt_state, loss value, mean entropy)."""
    (total, entropy), grads = jax.value_and_grad(loss, argnums=1, has_aux=True)(
        static, params, batch, hp, coefs
    )
    params, opt_state = dict(params), dict(opt_state)
    for name, settings in static.optims:
        tx = settings.make(hp.nets.lr[name], hp.nets.max_grad_norm[name], opt_step)
        params[name], opt_state[name] = apply_gradients(tx, grads[name], opt_state[name], params[name])
    return params, opt_state, total, entropy


def lr_now(static: OnPolicyStatic, state: OnPolicyState) -> jax.Array:
    """The policy net's lr at the state's gradient step (the DataFrame's lr column)."""
    name, settings = static.optims[0]
    return settings.lr(state.hp.nets.lr[name], state.opt_step)


def whole_batch_update(
    static: OnPolicyStatic, loss: LossFn, state: OnPolicyState, batch: Batch, coefs: Coefficients
) -> tuple[OnPolicyState, StepMetrics]:
    """One gradient step on the whole batch (A2C, REINFORCE: SLM Lab's OnPolicyBatchReplay)."""
    return_stats, coefs = with_return_stats(static, state.return_stats, batch, coefs)
    params, opt_state, total, entropy = gradient_step(
        static, loss, state.params, state.opt_state, batch, state.hp, coefs, state.opt_step
    )
    state = state.replace(
        params=params, opt_state=opt_state, opt_step=state.opt_step + 1, return_stats=return_stats
    )
    return state, StepMetrics(total, lr_now(static, state), {"entropy": entropy})


def coefficients(entropy_coef: Any, clip_eps: Any, frame: jax.Array) -> Coefficients:
    """The schedules at `frame` (a schedule of None: 0, no entropy bonus)."""
    value_at = lambda schedule: jnp.zeros(()) if schedule is None else schedule(frame)  # noqa: E731
    return Coefficients(value_at(entropy_coef), value_at(clip_eps), jnp.ones(()))


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


def policy_terms(static: OnPolicyStatic, policy_out: Any, batch: Batch) -> tuple[jax.Array, jax.Array]:
    """log pi(a|s) [B] of the batch's actions and the (masked) mean policy entropy, for a loss."""
    discrete = static.env.discrete
    entropy = distributions.entropy(policy_out, discrete)
    return distributions.log_prob(policy_out, batch.action, discrete), masked_mean(entropy, batch.mask)
