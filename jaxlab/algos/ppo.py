"""PPO: clipped surrogate, GAE, optional value clipping, entropy bonus, minibatch epochs (SLM Lab's PPO).

One update = collect `time_horizon` vector steps -> GAE -> `training_epoch` epochs of shuffled minibatches
of `minibatch_size` samples (a smaller last one when it does not divide the batch, as SLM Lab splits).
SLM Lab's rules: when time_horizon or minibatch_size is not a multiple of num_envs, both are rounded up to
one; advantages are standardised per minibatch; the value loss is val_loss_coef x loss_spec(V, target), or
with `clip_vloss` 0.5 val_loss_coef x mean(max((V - target)^2, (V_old + clip(V - V_old, +-eps) - target)^2)).
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
from jaxlab.algos.on_policy import Batch, Coefficients, OnPolicyState
from jaxlab.algos.policy_nets import NetHParams
from jaxlab.algos.schedules import Schedule
from jaxlab.envs import EnvDescription, VecEnv
from jaxlab.schema import choice, flag, integer, optional_schedule, real, schedule

LOG_RATIO_CLIP = 20.0  # SLM Lab clamps log(pi / pi_old) before exp

ALGORITHM_SCHEMA = {
    "name": choice("PPO", "PPO"),
    **policy_nets.POLICY_KEYS,
    "gamma": real(0.99, 0.0, 1.0),
    "lam": real(0.95, 0.0, 1.0),
    "clip_eps_spec": schedule(0.2),
    "entropy_coef_spec": optional_schedule(0.01),
    "val_loss_coef": real(1.0, 0.0),
    "clip_vloss": flag(False),
    "clip_val_loss": flag(False),  # the same as clip_vloss (SLM Lab's specs spell it both ways)
    "normalize_advantages": choice("standardize", "standardize"),
    "normalize_v_targets": flag(False),
    "time_horizon": integer(128, 1),
    "minibatch_size": integer(4, 1),
    "training_epoch": integer(4, 1),
    "training_frequency": integer(None, 1, nullable=True),  # SLM Lab sets it to time_horizon
}


@dataclass(frozen=True)
class Static:
    """Everything shape-changing or structural: one compiled program per distinct Static."""

    env: VecEnv
    policy_net: Any  # PolicyNet, or ActorCriticNet when shared
    critic_net: Any  # ValueNet, or None when shared
    time_horizon: int
    minibatch_size: int
    num_minibatches: int
    training_epoch: int
    clip_vloss: bool
    optims: tuple
    value_loss: Loss
    normalize_v_targets: bool

    @property
    def frames_per_update(self) -> int:
        return self.time_horizon * self.env.num_envs

    @property
    def grad_steps_per_update(self) -> int:
        return self.training_epoch * self.num_minibatches


@struct.dataclass
class HParams:
    """Float hyperparameters, arrays in the state so trials can be vmapped."""

    nets: NetHParams
    gamma: jax.Array
    lam: jax.Array
    clip_eps: Schedule
    entropy_coef: Schedule | None
    val_loss_coef: jax.Array


def batch_shape(algo: dict, num_envs: int) -> tuple[int, int]:
    """SLM Lab's (time_horizon, minibatch_size): both rounded up to multiples of num_envs unless both are,
    the minibatch at most the batch."""
    horizon, minibatch = algo["time_horizon"], algo["minibatch_size"]
    if horizon % num_envs or minibatch % num_envs:
        horizon, minibatch = (-(-x // num_envs) * num_envs for x in (horizon, minibatch))
    return horizon, min(minibatch, horizon * num_envs)


def check(spec: dict, env: EnvDescription) -> None:
    policy_nets.check_pdtype(spec, env)
    policy_nets.check_memory(spec, env)


def configure(spec: dict, env: VecEnv) -> tuple[Static, HParams]:
    """Split a validated spec into static settings and float hyperparameters."""
    algo, net = spec["agent"]["algorithm"], spec["agent"]["net"]
    policy_net, critic_net = policy_nets.make_nets(net, env)
    horizon, minibatch = batch_shape(algo, env.num_envs)
    num_minibatches = -(-horizon * env.num_envs // minibatch)
    optims, net_hp = policy_nets.net_settings(
        policy_nets.network_roles(net, True),
        net,
        num_minibatches * algo["training_epoch"],
        horizon * env.num_envs,
        spec["env"]["max_frame"],
    )
    static = Static(
        env=env,
        policy_net=policy_net,
        critic_net=critic_net,
        time_horizon=horizon,
        minibatch_size=minibatch,
        num_minibatches=num_minibatches,
        training_epoch=algo["training_epoch"],
        clip_vloss=algo["clip_vloss"] or algo["clip_val_loss"],
        optims=optims,
        value_loss=Loss.from_spec(net["loss_spec"]),
        normalize_v_targets=algo["normalize_v_targets"],
    )
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    hp = HParams(
        nets=net_hp,
        gamma=f32(algo["gamma"]),
        lam=f32(algo["lam"]),
        clip_eps=Schedule.from_spec(algo["clip_eps_spec"]),
        entropy_coef=schedules.optional(algo["entropy_coef_spec"]),
        val_loss_coef=f32(algo["val_loss_coef"]),
    )
    return static, hp


def loss(
    static: Static, params: dict, batch: Batch, hp: HParams, coefs: Coefficients
) -> tuple[jax.Array, jax.Array]:
    """PPO loss on a minibatch of flat samples [B, ...]; returns (scalar, mean entropy):
    -mean(min(r A, clip(r, 1 - eps, 1 + eps) A)) + value loss - entropy_coef H, r = pi(a|s) / pi_old(a|s),
    A standardised over the minibatch."""
    policy_out, value_pred = on_policy.policy_and_value(static, params, batch.obs)
    log_prob, entropy = on_policy.policy_terms(static, policy_out, batch)
    clip_eps = coefs.clip_eps
    adv = on_policy.standardize(batch.advantage, batch.mask)
    ratio = jnp.exp(jnp.clip(log_prob - batch.log_prob, -LOG_RATIO_CLIP, LOG_RATIO_CLIP))
    surrogate = jnp.minimum(ratio * adv, jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * adv)
    policy_loss = -on_policy.masked_mean(surrogate, batch.mask)
    if static.clip_vloss:
        clipped = batch.value + jnp.clip(value_pred - batch.value, -clip_eps, clip_eps)
        error = jnp.maximum((value_pred - batch.target) ** 2, (clipped - batch.target) ** 2)
        value_loss = 0.5 * hp.val_loss_coef * on_policy.masked_mean(error, batch.mask)
    else:
        value_loss = hp.val_loss_coef * on_policy.value_loss(static, value_pred, batch, coefs)
    return policy_loss + value_loss - coefs.entropy_coef * entropy, entropy


def minibatches(static: Static, samples: Batch, key: jax.Array) -> Batch:
    """The batch shuffled into [num_minibatches, minibatch_size, ...]; a last, smaller minibatch is padded
    with masked samples."""
    size = static.frames_per_update
    order = jax.random.permutation(key, size)
    padding = static.num_minibatches * static.minibatch_size - size
    order = jnp.concatenate([order, jnp.zeros(padding, order.dtype)])
    keep = jnp.concatenate([jnp.ones(size), jnp.zeros(padding)])
    shuffled = jax.tree.map(lambda x: x[order], samples).replace(mask=keep)
    return jax.tree.map(lambda x: x.reshape(static.num_minibatches, -1, *x.shape[1:]), shuffled)


def learn(static: Static, state: OnPolicyState, samples: Batch, coefs: Coefficients):
    """`training_epoch` epochs of shuffled minibatch steps; returns the state and the mean loss and
    entropy."""

    def minibatch_step(carry, minibatch):
        params, opt_state, stats, opt_step = carry
        stats, step_coefs = on_policy.with_return_stats(static, stats, minibatch, coefs)
        params, opt_state, total, entropy = on_policy.gradient_step(
            static, loss, params, opt_state, minibatch, state.hp, step_coefs, opt_step
        )
        return (params, opt_state, stats, opt_step + 1), (total, entropy)

    def epoch(carry, key):
        return jax.lax.scan(minibatch_step, carry, minibatches(static, samples, key))

    key, epoch_key = jax.random.split(state.key)
    start = (state.params, state.opt_state, state.return_stats, state.opt_step)
    (params, opt_state, stats, opt_step), (losses, entropies) = jax.lax.scan(
        epoch, start, jax.random.split(epoch_key, static.training_epoch)
    )
    state = state.replace(params=params, opt_state=opt_state, key=key, opt_step=opt_step, return_stats=stats)
    return state, losses.mean(), entropies.mean()


def update(static: Static, state: OnPolicyState) -> tuple[OnPolicyState, StepMetrics]:
    """One PPO iteration: collect, GAE, learn. Metrics are scalars for the session DataFrame."""
    state, rollout = on_policy.collect(static, state)
    adv, target = on_policy.gae_targets(static, state, rollout)
    # SLM Lab trains with the schedules as they stood one vector step before the batch filled.
    coefs = on_policy.coefficients(
        state.hp.entropy_coef, state.hp.clip_eps, state.frame - static.env.num_envs
    )
    state, mean_loss, mean_entropy = learn(static, state, on_policy.flat_batch(rollout, adv, target), coefs)
    metrics = StepMetrics(
        mean_loss, on_policy.lr_now(static, state), {"entropy": mean_entropy, "clip_eps": coefs.clip_eps}
    )
    return state, metrics


ALGORITHM = on_policy.algorithm(
    "PPO",
    policy_nets.agent_schema(ALGORITHM_SCHEMA),
    configure,
    update,
    check,
    ("entropy", "clip_eps"),
)
