"""PPO: clipped surrogate, GAE, optional value clipping, entropy bonus, minibatch epochs.

One update = collect `time_horizon` vector steps -> GAE -> `training_epoch` epochs of shuffled
minibatches. Discrete (categorical) and continuous (Gaussian, state-independent log-std) actions;
separate (`net` + `critic_net`) or shared (`net`) actor-critic. The state, networks, rollout and GAE are
the on-policy plumbing (`on_policy.py`).
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
from jaxlab.algos.on_policy import Batch, Coefficients, OnPolicyState
from jaxlab.algos.optim import OptimSettings
from jaxlab.algos.schedules import Schedule
from jaxlab.envs import EnvDescription, VecEnv
from jaxlab.schema import SpecError, choice, flag, integer, real, schedule

ALGORITHM_SCHEMA = {
    "name": choice("PPO", "PPO"),
    "gamma": real(0.99, 0.0, 1.0),
    "lam": real(0.95, 0.0, 1.0),
    "clip_eps_spec": schedule(0.2),
    "entropy_coef_spec": schedule(0.01),
    "val_loss_coef": real(0.5, 0.0),
    "clip_vloss": flag(False),
    "normalize_advantages": flag(True),
    "time_horizon": integer(128, 1),
    "minibatch_size": integer(128, 1),
    "training_epoch": integer(4, 1),
}


@dataclass(frozen=True)
class Static:
    """Everything shape-changing or structural: one compiled program per distinct Static."""

    env: VecEnv
    policy_net: Any  # PolicyNet, or ActorCriticNet when shared
    critic_net: Any  # ValueNet, or None when shared
    time_horizon: int
    num_minibatches: int
    training_epoch: int
    clip_vloss: bool
    normalize_advantages: bool
    optim: OptimSettings

    @property
    def frames_per_update(self) -> int:
        return self.time_horizon * self.env.num_envs

    @property
    def grad_steps_per_update(self) -> int:
        return self.training_epoch * self.num_minibatches


@struct.dataclass
class HParams:
    """Float hyperparameters, arrays in the state so trials can be vmapped."""

    lr: jax.Array
    gamma: jax.Array
    lam: jax.Array
    clip_eps: Schedule
    entropy_coef: Schedule
    val_loss_coef: jax.Array
    max_grad_norm: jax.Array


def check(spec: dict, env: EnvDescription) -> None:
    algo, num_envs = spec["agent"]["algorithm"], spec["env"]["num_envs"]
    batch = algo["time_horizon"] * num_envs
    if batch % algo["minibatch_size"]:
        raise SpecError(
            f"agent.algorithm.minibatch_size = {algo['minibatch_size']} must divide time_horizon x num_envs"
            f" = {batch} — pick a divisor of {batch}"
        )


def configure(spec: dict, env: VecEnv) -> tuple[Static, HParams]:
    """Split a validated spec into static settings and float hyperparameters."""
    algo, net = spec["agent"]["algorithm"], spec["agent"]["net"]
    policy_net, critic_net = on_policy.make_nets(net, env)
    batch = algo["time_horizon"] * env.num_envs
    num_minibatches = batch // algo["minibatch_size"]
    num_updates = -(-spec["env"]["max_frame"] // batch)
    static = Static(
        env=env,
        policy_net=policy_net,
        critic_net=critic_net,
        time_horizon=algo["time_horizon"],
        num_minibatches=num_minibatches,
        training_epoch=algo["training_epoch"],
        clip_vloss=algo["clip_vloss"],
        normalize_advantages=algo["normalize_advantages"],
        optim=OptimSettings.from_spec(net, num_updates * num_minibatches * algo["training_epoch"]),
    )
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    hp = HParams(
        lr=f32(net["optim_spec"]["lr"]),
        gamma=f32(algo["gamma"]),
        lam=f32(algo["lam"]),
        clip_eps=Schedule.from_spec(algo["clip_eps_spec"]),
        entropy_coef=Schedule.from_spec(algo["entropy_coef_spec"]),
        val_loss_coef=f32(algo["val_loss_coef"]),
        max_grad_norm=f32(net["clip_grad_val"] or 0.0),
    )
    return static, hp


def loss(
    static: Static, params: dict, batch: Batch, hp: HParams, coefs: Coefficients
) -> tuple[jax.Array, jax.Array]:
    """PPO loss on a minibatch of flat samples [B, ...]; returns (scalar, mean entropy):
    -mean(min(r A, clip(r, 1 - eps, 1 + eps) A)) + val_loss_coef * 0.5 mean((V - target)^2) - entropy_coef H,
    r = pi(a|s) / pi_old(a|s), A normalised per minibatch when `normalize_advantages`, and the value error the
    larger of the plain and the clipped one (V_old + clip(V - V_old, -eps, eps)) when `clip_vloss`."""
    policy_out, value_pred = on_policy.policy_and_value(static, params, batch.obs)
    log_prob, entropy = on_policy.policy_terms(static, policy_out, batch.action)
    clip_eps = coefs.clip_eps
    adv = batch.advantage
    if static.normalize_advantages:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    ratio = jnp.exp(log_prob - batch.log_prob)
    policy_loss = -jnp.minimum(ratio * adv, jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * adv).mean()

    value_loss = (value_pred - batch.target) ** 2
    if static.clip_vloss:
        clipped = batch.value + jnp.clip(value_pred - batch.value, -clip_eps, clip_eps)
        value_loss = jnp.maximum(value_loss, (clipped - batch.target) ** 2)
    value_loss = 0.5 * value_loss.mean()

    total = policy_loss + hp.val_loss_coef * value_loss - coefs.entropy_coef * entropy
    return total, entropy


def learn(static: Static, state: OnPolicyState, samples: Batch, coefs: Coefficients):
    """`training_epoch` epochs of shuffled minibatch steps; returns the state and the mean loss and
    entropy."""

    def minibatch_step(carry, minibatch):
        params, opt_state = carry
        params, opt_state, total, entropy = on_policy.gradient_step(
            static, loss, params, opt_state, minibatch, state.hp, coefs
        )
        return (params, opt_state), (total, entropy)

    def epoch(carry, key):
        order = jax.random.permutation(key, static.frames_per_update)
        minibatches = jax.tree.map(
            lambda x: x[order].reshape(static.num_minibatches, -1, *x.shape[1:]), samples
        )
        return jax.lax.scan(minibatch_step, carry, minibatches)

    key, epoch_key = jax.random.split(state.key)
    (params, opt_state), (losses, entropies) = jax.lax.scan(
        epoch, (state.params, state.opt_state), jax.random.split(epoch_key, static.training_epoch)
    )
    state = state.replace(
        params=params, opt_state=opt_state, key=key, opt_step=state.opt_step + static.grad_steps_per_update
    )
    return state, losses.mean(), entropies.mean()


def update(static: Static, state: OnPolicyState) -> tuple[OnPolicyState, StepMetrics]:
    """One PPO iteration: collect, GAE, learn. Metrics are scalars for the session DataFrame."""
    state, rollout = on_policy.collect(static, state)
    adv, target = on_policy.gae_targets(static, state, rollout)
    hp = state.hp
    coefs = Coefficients(entropy_coef=hp.entropy_coef(state.frame), clip_eps=hp.clip_eps(state.frame))
    state, mean_loss, mean_entropy = learn(static, state, on_policy.flat_batch(rollout, adv, target), coefs)
    lr = static.optim.lr(state.hp.lr, state.opt_step)
    return state, StepMetrics(mean_loss, lr, {"entropy": mean_entropy, "clip_eps": coefs.clip_eps})


ALGORITHM = on_policy.algorithm(
    "PPO",
    {"algorithm": ALGORITHM_SCHEMA, "net": NET_SCHEMA},
    configure,
    update,
    check,
    ("entropy", "clip_eps"),
)
