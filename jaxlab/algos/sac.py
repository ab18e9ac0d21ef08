"""SAC: soft actor-critic with twin Q networks, polyak-averaged target networks and a learned temperature.

Continuous actions: a tanh-squashed Gaussian policy scaled to the env's bounds, Q(s, a) critics
(Haarnoja et al. 2018). Discrete actions: a categorical policy whose expectations over actions are
taken exactly, and critics that output Q(s, .) for every action (Christodoulou 2019).

The replay cadence keys and the update skeleton are the off-policy plumbing (`off_policy.py`). Besides:
- `training_start_step` (frames): uniform random actions and no training before it.
- `training_iter`: gradient steps per training, each on a fresh batch of `memory.batch_size`.
- `memory`: Replay or PrioritizedReplay (priorities from |min_i Q_i(s, a) - y|; the critic loss is
  weighted by the importance-sampling weights).
- `critic_net.polyak_coef`: after every gradient step target <- polyak_coef * online + (1 - polyak_coef)
  * target, as SLM Lab's `polyak_update` (0.005 in its SAC specs: the weight of the online net).
- `agent.critic_net` (SLM Lab v5): the critics' architecture and optimiser; `agent.net`'s when absent.
  The temperature uses the actor's (`net`) optimiser settings, as SLM Lab does.

One gradient step, in SLM Lab's order: both critics regress (MSE each, summed) onto
    y = r + gamma (1 - terminated) (min_i Q'_i(s', a') - alpha log pi(a'|s')),  a' ~ pi(.|s'),
(expectations over a' for discrete actions; truncated steps bootstrap from the pre-reset s'); then the
actor minimises E[alpha log pi(a|s) - min_i Q_i(s, a)] with the updated critics (reparameterised a);
then log alpha minimises -log alpha (log pi(a|s) + target_entropy); then the targets move.
Target entropy: -|A| for continuous actions (the SAC paper's); 0.6 log|A| for discrete ones (SLM Lab's
`auto`; the 0.98 log|A| of Christodoulou's paper sits near the uniform policy's entropy and lets alpha
grow without bound). log pi of a continuous action includes the tanh and bound-scaling Jacobians: it is
the log-density of the action the env receives.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxlab.algos import distributions, off_policy, replay, soft_q
from jaxlab.algos.base import Algorithm, StepMetrics
from jaxlab.algos.networks import (
    PolicyNet,
    QNet,
    SquashedGaussianPolicyNet,
    StateActionQNet,
    body_schema,
    make_body,
)
from jaxlab.algos.off_policy import Learned, ReplayHParams, ReplaySettings
from jaxlab.algos.optim import OptimSettings, apply_gradients, make_optimizer
from jaxlab.envs import EnvDescription, VecEnv, VecEnvState
from jaxlab.schema import choice, integer, real

DISCRETE_TARGET_ENTROPY_RATIO = 0.6  # target entropy = 0.6 log|A| for discrete actions

ALGORITHM_SCHEMA = {
    "name": choice("SAC", "SAC"),
    "gamma": real(0.99, 0.0, 1.0),
    **off_policy.CADENCE_SCHEMA,
    "training_start_step": integer(256),  # frames of uniform random actions before the first training
}
# SAC's actor (`net`) and critics (`critic_net`: agent.net's settings when absent, as in SLM Lab v5). No
# shared body, no state-independent log-std; the target critics follow by polyak averaging every step.
NET_SCHEMA = body_schema(
    update_type=choice("polyak", "polyak"),
    polyak_coef=real(0.005, 0.0, 1.0),  # weight of the online critic at each target update (SLM Lab's)
)


@dataclass(frozen=True)
class Static:
    """Everything shape-changing or structural: one compiled program per distinct Static."""

    env: VecEnv
    actor: Any  # SquashedGaussianPolicyNet (continuous) or PolicyNet (discrete logits)
    critic: Any  # StateActionQNet (continuous) or QNet (discrete); twin copies are stacked on axis 0
    replay: ReplaySettings
    target_entropy: float
    actor_optim: OptimSettings  # also the temperature's (without clipping)
    critic_optim: OptimSettings

    @property
    def frames_per_update(self) -> int:
        return self.replay.vector_steps * self.env.num_envs


@struct.dataclass
class HParams:
    """Float hyperparameters, arrays in the state so trials can be vmapped."""

    actor_lr: jax.Array
    critic_lr: jax.Array
    gamma: jax.Array
    polyak_coef: jax.Array  # weight of the online critic in each target update
    actor_max_grad_norm: jax.Array
    critic_max_grad_norm: jax.Array
    replay: ReplayHParams


@struct.dataclass
class SACState:
    params: dict  # {"net": actor, "critic": twin critics [2, ...], "target_critic": their targets [2, ...]}
    log_alpha: jax.Array  # [] log temperature
    actor_opt: Any
    critic_opt: Any
    alpha_opt: Any
    memory: replay.Memory
    env_state: VecEnvState
    obs: jax.Array  # [E, *obs_shape] current observation
    key: jax.Array
    hp: HParams
    frame: jax.Array  # int32, env steps summed over envs
    opt_step: jax.Array  # int32, gradient steps


@struct.dataclass
class Trainable:
    """What a training changes, besides the priorities."""

    params: dict
    log_alpha: jax.Array
    actor_opt: Any
    critic_opt: Any
    alpha_opt: Any


def defaults(agent: dict) -> dict:
    """SLM Lab v5: the critics use agent.net's settings unless agent.critic_net is given."""
    if "critic_net" in agent:
        return agent
    return {**agent, "critic_net": copy.deepcopy(agent.get("net"))}


def check(spec: dict, env: EnvDescription) -> None:
    off_policy.check_replay(spec, env)


def configure(spec: dict, env: VecEnv) -> tuple[Static, HParams]:
    """Split a validated spec into static settings and float hyperparameters."""
    agent = spec["agent"]
    algo, net, critic_net, memory = agent["algorithm"], agent["net"], agent["critic_net"], agent["memory"]
    if env.discrete:
        actor = PolicyNet(make_body(net, env.obs_shape), num_actions=env.num_actions, action_dim=None)
        critic = QNet(make_body(critic_net, env.obs_shape), env.num_actions)
        target_entropy = DISCRETE_TARGET_ENTROPY_RATIO * float(np.log(env.num_actions))
    else:
        actor = SquashedGaussianPolicyNet(make_body(net, env.obs_shape), env.action_dim)
        critic = StateActionQNet(make_body(critic_net, (env.obs_shape[0] + env.action_dim,)), env.action_dim)
        target_entropy = -float(env.action_dim)
    settings = ReplaySettings.from_spec(spec, env)
    max_frame = spec["env"]["max_frame"]
    grad_steps = settings.trained_updates(env.num_envs, max_frame) * algo["training_iter"]
    static = Static(
        env=env,
        actor=actor,
        critic=critic,
        replay=settings,
        target_entropy=target_entropy,
        actor_optim=OptimSettings.from_spec(net, grad_steps),
        critic_optim=OptimSettings.from_spec(critic_net, grad_steps),
    )
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    hp = HParams(
        actor_lr=f32(net["optim_spec"]["lr"]),
        critic_lr=f32(critic_net["optim_spec"]["lr"]),
        gamma=f32(algo["gamma"]),
        polyak_coef=f32(critic_net["polyak_coef"]),
        actor_max_grad_norm=f32(net["clip_grad_val"] or 0.0),
        critic_max_grad_norm=f32(critic_net["clip_grad_val"] or 0.0),
        replay=off_policy.replay_hparams(memory, max_frame),
    )
    return static, hp


def _actor_tx(static: Static, hp: HParams) -> optax.GradientTransformation:
    return static.actor_optim.make(hp.actor_lr, hp.actor_max_grad_norm)


def _critic_tx(static: Static, hp: HParams) -> optax.GradientTransformation:
    return static.critic_optim.make(hp.critic_lr, hp.critic_max_grad_norm)


def _alpha_tx(static: Static, hp: HParams) -> optax.GradientTransformation:
    settings = static.actor_optim
    return make_optimizer(settings.name, hp.actor_lr, settings.eps, None, settings.lr_decay_steps)


def init(static: Static, key: jax.Array, hp: HParams) -> SACState:
    """One session's initial train state: target critics equal to the critics, alpha 1, an empty memory."""
    key, actor_key, critic_key, env_key = jax.random.split(key, 4)
    obs, env_state = static.env.reset(env_key)
    critic_inputs = (obs[0],) if static.env.discrete else (obs[0], off_policy.example_action(static.env))
    critic = jax.vmap(lambda k: static.critic.init(k, *critic_inputs))(jax.random.split(critic_key, 2))
    params = {"net": static.actor.init(actor_key, obs[0]), "critic": critic, "target_critic": critic}
    log_alpha = jnp.zeros((), jnp.float32)
    return SACState(
        params=params,
        log_alpha=log_alpha,
        actor_opt=_actor_tx(static, hp).init(params["net"]),
        critic_opt=_critic_tx(static, hp).init(critic),
        alpha_opt=_alpha_tx(static, hp).init(log_alpha),
        memory=off_policy.empty_memory(static, obs[0]),
        env_state=env_state,
        obs=obs,
        key=key,
        hp=hp,
        frame=jnp.zeros((), jnp.int32),
        opt_step=jnp.zeros((), jnp.int32),
    )


def act(
    static: Static, hp: HParams, params: dict, obs: jax.Array, key: jax.Array, explore: bool
) -> jax.Array:
    """Actions [E, ...] for observations [E, *obs_shape]: sampled when exploring; else the argmax of the
    logits, or the squashed mean low + (tanh(mean) + 1) (high - low) / 2."""
    env = static.env
    policy_out = static.actor.apply(params["net"], obs)
    if env.discrete:
        return jax.random.categorical(key, policy_out) if explore else jnp.argmax(policy_out, -1)
    mean, log_std = policy_out
    if explore:
        return distributions.squashed_gaussian_sample(key, mean, log_std, env.action_low, env.action_high)[0]
    return distributions.squash(mean, env.action_low, env.action_high)


def nets(params: dict) -> dict:
    """Named networks for export, SLM Lab's: `net` (actor), `q1_net`, `q2_net`, `target_q1_net`,
    `target_q2_net`."""
    twin = lambda tree, i: jax.tree.map(lambda x: x[i], tree)  # noqa: E731
    return {
        "net": params["net"],
        "q1_net": twin(params["critic"], 0),
        "q2_net": twin(params["critic"], 1),
        "target_q1_net": twin(params["target_critic"], 0),
        "target_q2_net": twin(params["target_critic"], 1),
    }


def networks(static: Static) -> dict:
    """The Flax modules behind `nets`."""
    critics = {name: static.critic for name in ("q1_net", "q2_net", "target_q1_net", "target_q2_net")}
    return {"net": static.actor, **critics}


def choose_action(static: Static, state: SACState, action_key: jax.Array, random_key: jax.Array) -> jax.Array:
    """The policy's sampled action, or a uniform random one before training_start_step."""
    env = static.env
    policy_action = act(static, state.hp, state.params, state.obs, action_key, explore=True)
    if env.discrete:
        random_action = jax.random.randint(random_key, (env.num_envs,), 0, env.num_actions)
    else:
        random_action = jax.random.uniform(
            random_key, (env.num_envs, env.action_dim), minval=env.action_low, maxval=env.action_high
        )
    return jnp.where(state.frame < static.replay.training_start_step, random_action, policy_action)


def gradient_step(static: Static, state: SACState, learned: Learned, key: jax.Array) -> tuple[Learned, dict]:
    """One step on a fresh batch: critics, then actor, then temperature, then targets."""
    hp = state.hp
    batch_key, target_key, actor_key = jax.random.split(key, 3)
    memory = off_policy.memory_at(state, learned)
    batch, index, weight = replay.sample(
        memory, batch_key, static.replay.batch_size, hp.replay.beta(state.frame)
    )
    trainable = learned.trainable
    params, alpha = trainable.params, jnp.exp(trainable.log_alpha)

    (q_loss, abs_td), grads = jax.value_and_grad(soft_q.critic_loss, argnums=1, has_aux=True)(
        static, params["critic"], params, alpha, batch, weight, hp.gamma, target_key
    )
    critic, critic_opt = apply_gradients(
        _critic_tx(static, hp), grads, trainable.critic_opt, params["critic"]
    )

    (pi_loss, log_prob), grads = jax.value_and_grad(soft_q.actor_loss, argnums=1, has_aux=True)(
        static, params["net"], critic, alpha, batch.obs, actor_key
    )
    actor, actor_opt = apply_gradients(_actor_tx(static, hp), grads, trainable.actor_opt, params["net"])

    temperature_loss, grad = jax.value_and_grad(soft_q.alpha_loss)(
        trainable.log_alpha, log_prob, static.target_entropy
    )
    log_alpha, alpha_opt = apply_gradients(
        _alpha_tx(static, hp), grad, trainable.alpha_opt, trainable.log_alpha
    )

    target = off_policy.polyak(params["target_critic"], critic, hp.polyak_coef)
    learned = learned.replace(
        trainable=Trainable(
            params={"net": actor, "critic": critic, "target_critic": target},
            log_alpha=log_alpha,
            actor_opt=actor_opt,
            critic_opt=critic_opt,
            alpha_opt=alpha_opt,
        )
    )
    learned = off_policy.write_priorities(static, learned, memory, index, abs_td, hp.replay)
    return learned, {"loss": q_loss + pi_loss + temperature_loss, "entropy": -log_prob.mean()}


def _trainable(state: SACState) -> Trainable:
    """The trainable part of the state as it is now."""
    return Trainable(state.params, state.log_alpha, state.actor_opt, state.critic_opt, state.alpha_opt)


def train(static: Static, state: SACState) -> Learned:
    """`training_iter` gradient steps; the metrics are their means."""
    start = Learned(_trainable(state), state.memory.priority, state.memory.max_priority, {})
    learned, metrics = jax.lax.scan(
        lambda learned, key: gradient_step(static, state, learned, key),
        start,
        jax.random.split(state.key, static.replay.training_iter),
    )
    return learned.replace(metrics=jax.tree.map(jnp.mean, metrics))


def update(static: Static, state: SACState) -> tuple[SACState, StepMetrics]:
    """One SAC iteration: collect into the memory, then train (from training_start_step). Metrics are
    scalars for the session DataFrame; loss and entropy are NaN before training starts."""
    state, learned, _ = off_policy.update(
        static,
        state,
        lambda s, *keys: choose_action(static, s, *keys),
        2,
        lambda s: train(static, s),
        lambda s: off_policy.untrained(s, _trainable(s), ("loss", "entropy")),
        static.replay.training_iter,
    )
    trainable = learned.trainable
    state = state.replace(
        params=trainable.params,
        log_alpha=trainable.log_alpha,
        actor_opt=trainable.actor_opt,
        critic_opt=trainable.critic_opt,
        alpha_opt=trainable.alpha_opt,
    )
    lr = static.actor_optim.lr(state.hp.actor_lr, state.opt_step)
    columns = {"entropy": learned.metrics["entropy"], "alpha": jnp.exp(state.log_alpha)}
    return state, StepMetrics(learned.metrics["loss"], lr, columns)


ALGORITHM = Algorithm(
    name="SAC",
    schema={
        "algorithm": ALGORITHM_SCHEMA,
        "net": NET_SCHEMA,
        "memory": replay.MEMORY_SCHEMA,
        "critic_net": NET_SCHEMA,
    },
    configure=configure,
    init=init,
    update=update,
    act=act,
    nets=nets,
    networks=networks,
    check=check,
    defaults=defaults,
    columns=("entropy", "alpha"),
)
