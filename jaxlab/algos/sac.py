"""SAC: soft actor-critic with twin Q networks, polyak-averaged target networks and a learned temperature.

Continuous actions: a tanh-squashed Gaussian policy scaled to the env's bounds, Q(s, a) critics
(Haarnoja et al. 2018). Discrete actions: a categorical policy whose expectations over actions are
taken exactly, and critics that output Q(s, .) for every action (Christodoulou 2019).

SLM Lab's keys, read for `num_envs` env copies stepped together (as algos/dqn.py reads them):
- `training_frequency` (frames): train once every max(1, training_frequency // num_envs) vector steps.
- `training_start_step` (frames): uniform random actions and no training before it.
- `training_iter`: gradient steps per training, each on a fresh batch of `memory.batch_size`.
- `memory`: Replay or PrioritizedReplay (priorities from |min_i Q_i(s, a) - y|; the critic loss is
  weighted by the importance-sampling weights, beta annealed linearly to 1 at `env.max_frame`).
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

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxlab.algos import distributions, replay
from jaxlab.algos.networks import PolicyNet, QNet, SquashedGaussianPolicyNet, StateActionQNet, make_body
from jaxlab.algos.optim import OptimSettings, make_optimizer
from jaxlab.algos.schedules import Schedule
from jaxlab.envs import VecEnv, VecEnvState

DISCRETE_TARGET_ENTROPY_RATIO = 0.6  # target entropy = 0.6 log|A| for discrete actions


@dataclass(frozen=True)
class Static:
    """Everything shape-changing or structural: one compiled program per distinct Static."""

    env: VecEnv
    actor: Any  # SquashedGaussianPolicyNet (continuous) or PolicyNet (discrete logits)
    critic: Any  # StateActionQNet (continuous) or QNet (discrete); twin copies are stacked on axis 0
    vector_steps: int  # vector steps collected per update (one training per update)
    training_start_step: int
    training_iter: int
    batch_size: int
    memory_size: int
    prioritized: bool
    obs_dtype: Any  # storage dtype of observations in the memory
    target_entropy: float
    actor_optim: OptimSettings  # also the temperature's (without clipping)
    critic_optim: OptimSettings

    @property
    def frames_per_update(self) -> int:
        return self.vector_steps * self.env.num_envs


@struct.dataclass
class HParams:
    """Float hyperparameters, arrays in the state so trials can be vmapped."""

    actor_lr: jax.Array
    critic_lr: jax.Array
    gamma: jax.Array
    polyak_coef: jax.Array  # weight of the online critic in each target update
    actor_max_grad_norm: jax.Array
    critic_max_grad_norm: jax.Array
    priority_alpha: jax.Array  # PER priority exponent
    priority_epsilon: jax.Array  # PER: added to |td|
    beta: Schedule  # PER importance-sampling exponent, over frames


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
class Learned:
    """What a training changes: kept apart from the memory's data so that, where the engine's vmap turns
    the `lax.cond` around training into a select, only these arrays are selected."""

    params: dict
    log_alpha: jax.Array
    actor_opt: Any
    critic_opt: Any
    alpha_opt: Any
    priority: jax.Array | None
    max_priority: jax.Array | None


def configure(spec: dict, env: VecEnv, max_frame: int) -> tuple[Static, HParams]:
    """Split a validated spec into static settings and float hyperparameters."""
    agent = spec["agent"]
    algo, net, critic_net, memory = agent["algorithm"], agent["net"], agent["critic_net"], agent["memory"]
    if env.discrete:
        actor = PolicyNet(make_body(net, env.obs_shape), num_actions=env.num_actions, action_dim=None)
        critic = QNet(make_body(critic_net, env.obs_shape), env.num_actions)
        target_entropy = DISCRETE_TARGET_ENTROPY_RATIO * float(np.log(env.num_actions))
    else:
        actor = SquashedGaussianPolicyNet(make_body(net, env.obs_shape), env.action_dim)
        critic = StateActionQNet(make_body(critic_net, (env.obs_shape[0] + env.action_dim,)))
        target_entropy = -float(env.action_dim)
    vector_steps = max(1, algo["training_frequency"] // env.num_envs)
    frames_per_update = vector_steps * env.num_envs
    num_updates = -(-max_frame // frames_per_update)
    untrained_updates = -(-algo["training_start_step"] // frames_per_update) - 1  # frame < start after them
    grad_steps = max(1, num_updates - max(untrained_updates, 0)) * algo["training_iter"]
    static = Static(
        env=env,
        actor=actor,
        critic=critic,
        vector_steps=vector_steps,
        training_start_step=algo["training_start_step"],
        training_iter=algo["training_iter"],
        batch_size=memory["batch_size"],
        memory_size=memory["max_size"],
        prioritized=memory["name"] == "PrioritizedReplay",
        obs_dtype=replay.obs_storage_dtype(env),
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
        priority_alpha=f32(memory["alpha"]),
        priority_epsilon=f32(memory["epsilon"]),
        beta=replay.beta_schedule(memory, max_frame),
    )
    return static, hp


def _actor_tx(static: Static, hp: HParams) -> optax.GradientTransformation:
    return static.actor_optim.make(hp.actor_lr, hp.actor_max_grad_norm)


def _critic_tx(static: Static, hp: HParams) -> optax.GradientTransformation:
    return static.critic_optim.make(hp.critic_lr, hp.critic_max_grad_norm)


def _alpha_tx(static: Static, hp: HParams) -> optax.GradientTransformation:
    settings = static.actor_optim
    return make_optimizer(settings.name, hp.actor_lr, settings.eps, None, settings.lr_decay_steps)


def _example_action(static: Static) -> jax.Array:
    if static.env.discrete:
        return jnp.zeros((), jnp.int32)
    return jnp.zeros(static.env.action_dim, jnp.float32)


def twin_q(static: Static, critic_params: Any, obs: jax.Array, action: jax.Array | None = None) -> jax.Array:
    """Both critics' values: [2, B] Q(s, a) for continuous actions, [2, B, A] Q(s, .) for discrete ones."""
    if static.env.discrete:
        return jax.vmap(lambda p: static.critic.apply(p, obs))(critic_params)
    return jax.vmap(lambda p: static.critic.apply(p, obs, action))(critic_params)


def init(static: Static, key: jax.Array, hp: HParams) -> SACState:
    """One session's initial train state: target critics equal to the critics, alpha 1, an empty memory."""
    key, actor_key, critic_key, env_key = jax.random.split(key, 4)
    obs, env_state = static.env.reset(env_key)
    critic_inputs = (obs[0],) if static.env.discrete else (obs[0], _example_action(static))
    critic = jax.vmap(lambda k: static.critic.init(k, *critic_inputs))(jax.random.split(critic_key, 2))
    params = {"net": static.actor.init(actor_key, obs[0]), "critic": critic, "target_critic": critic}
    log_alpha = jnp.zeros((), jnp.float32)
    example = replay.Transition(
        obs=obs[0].astype(static.obs_dtype),
        action=_example_action(static),
        reward=jnp.zeros((), jnp.float32),
        next_obs=obs[0].astype(static.obs_dtype),
        terminated=jnp.zeros((), bool),
        truncated=jnp.zeros((), bool),
    )
    return SACState(
        params=params,
        log_alpha=log_alpha,
        actor_opt=_actor_tx(static, hp).init(params["net"]),
        critic_opt=_critic_tx(static, hp).init(critic),
        alpha_opt=_alpha_tx(static, hp).init(log_alpha),
        memory=replay.init(static.memory_size, example, static.prioritized),
        env_state=env_state,
        obs=obs,
        key=key,
        hp=hp,
        frame=jnp.zeros((), jnp.int32),
        opt_step=jnp.zeros((), jnp.int32),
    )


def act(static: Static, params: dict, obs: jax.Array, key: jax.Array, explore: bool) -> jax.Array:
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
    """Named networks for export, SLM Lab's: `net` (actor), `q1_net`, `q2_net`, `target_q1_net`, `target_q2_net`."""
    twin = lambda tree, i: jax.tree.map(lambda x: x[i], tree)  # noqa: E731
    return {
        "net": params["net"],
        "q1_net": twin(params["critic"], 0),
        "q2_net": twin(params["critic"], 1),
        "target_q1_net": twin(params["target_critic"], 0),
        "target_q2_net": twin(params["target_critic"], 1),
    }


def collect(static: Static, state: SACState) -> tuple[SACState, replay.Transition]:
    """`vector_steps` steps of the policy (uniform random actions before training_start_step);
    transitions [T, E, ...]."""
    env = static.env

    def env_step(state: SACState, _):
        key, action_key, random_key, step_key = jax.random.split(state.key, 4)
        policy_action = act(static, state.params, state.obs, action_key, explore=True)
        if env.discrete:
            random_action = jax.random.randint(random_key, (env.num_envs,), 0, env.num_actions)
        else:
            random_action = jax.random.uniform(
                random_key, (env.num_envs, env.action_dim), minval=env.action_low, maxval=env.action_high
            )
        action = jnp.where(state.frame < static.training_start_step, random_action, policy_action)
        env_state, step = env.step(step_key, state.env_state, action)
        transition = replay.Transition(
            obs=state.obs,
            action=action.astype(_example_action(static).dtype),
            reward=step.reward,
            next_obs=step.final_obs,  # the pre-reset observation, also where the episode just ended
            terminated=step.terminated,
            truncated=step.truncated,
        )
        state = state.replace(key=key, env_state=env_state, obs=step.obs, frame=state.frame + env.num_envs)
        return state, transition

    return jax.lax.scan(env_step, state, None, static.vector_steps)


def critic_loss(
    static: Static,
    critic_params: Any,
    params: dict,
    alpha: jax.Array,
    batch: replay.Transition,
    weight: jax.Array,
    gamma: jax.Array,
    key: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """Summed (importance-weighted) MSE of both critics against the soft Bellman target; returns
    (loss, |min_i Q_i(s, a) - y| [B] for PER)."""
    env = static.env
    next_out = static.actor.apply(params["net"], batch.next_obs)
    if env.discrete:
        next_log_probs = jax.nn.log_softmax(next_out)
        next_q = twin_q(static, params["target_critic"], batch.next_obs).min(0)  # [B, A]
        next_value = (jnp.exp(next_log_probs) * (next_q - alpha * next_log_probs)).sum(-1)
        q_all = twin_q(static, critic_params, batch.obs)
        q_pred = jnp.take_along_axis(q_all, batch.action[None, :, None], axis=-1)[..., 0]  # [2, B]
    else:
        next_action, next_log_prob = distributions.squashed_gaussian_sample(
            key, *next_out, env.action_low, env.action_high
        )
        next_q = twin_q(static, params["target_critic"], batch.next_obs, next_action).min(0)  # [B]
        next_value = next_q - alpha * next_log_prob
        q_pred = twin_q(static, critic_params, batch.obs, batch.action)
    target = batch.reward + gamma * (1.0 - batch.terminated.astype(jnp.float32)) * next_value
    target = jax.lax.stop_gradient(target)
    loss = (weight * (q_pred - target) ** 2).mean(-1).sum()
    return loss, jnp.abs(q_pred.min(0) - target)


def actor_loss(
    static: Static, actor_params: Any, critic_params: Any, alpha: jax.Array, obs: jax.Array, key: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """E[alpha log pi(a|s) - min_i Q_i(s, a)] over a batch; returns (loss, E_a[log pi(a|s)] [B])."""
    env = static.env
    policy_out = static.actor.apply(actor_params, obs)
    if env.discrete:
        log_probs = jax.nn.log_softmax(policy_out)
        probs = jnp.exp(log_probs)
        q = twin_q(static, critic_params, obs).min(0)  # [B, A]
        log_prob = (probs * log_probs).sum(-1)  # = -H(pi(.|s))
        return (probs * (alpha * log_probs - q)).sum(-1).mean(), log_prob
    action, log_prob = distributions.squashed_gaussian_sample(
        key, *policy_out, env.action_low, env.action_high
    )
    q = twin_q(static, critic_params, obs, action).min(0)
    return (alpha * log_prob - q).mean(), log_prob


def alpha_loss(log_alpha: jax.Array, log_prob: jax.Array, target_entropy: float) -> jax.Array:
    """-log alpha (log pi + target_entropy): alpha rises while the entropy is below its target."""
    return -(log_alpha * jax.lax.stop_gradient(log_prob + target_entropy)).mean()


def gradient_step(static: Static, state: SACState, learned: Learned, key: jax.Array) -> tuple[Learned, dict]:
    """One step on a fresh batch: critics, then actor, then temperature, then targets."""
    hp = state.hp
    batch_key, target_key, actor_key = jax.random.split(key, 3)
    memory = state.memory.replace(priority=learned.priority, max_priority=learned.max_priority)
    batch, index, weight = replay.sample(memory, batch_key, static.batch_size, hp.beta(state.frame))
    params, alpha = learned.params, jnp.exp(learned.log_alpha)

    (q_loss, abs_td), grads = jax.value_and_grad(critic_loss, argnums=1, has_aux=True)(
        static, params["critic"], params, alpha, batch, weight, hp.gamma, target_key
    )
    updates, critic_opt = _critic_tx(static, hp).update(grads, learned.critic_opt, params["critic"])
    critic = optax.apply_updates(params["critic"], updates)

    (pi_loss, log_prob), grads = jax.value_and_grad(actor_loss, argnums=1, has_aux=True)(
        static, params["net"], critic, alpha, batch.obs, actor_key
    )
    updates, actor_opt = _actor_tx(static, hp).update(grads, learned.actor_opt, params["net"])
    actor = optax.apply_updates(params["net"], updates)

    temperature_loss, grad = jax.value_and_grad(alpha_loss)(
        learned.log_alpha, log_prob, static.target_entropy
    )
    updates, alpha_opt = _alpha_tx(static, hp).update(grad, learned.alpha_opt, learned.log_alpha)
    log_alpha = optax.apply_updates(learned.log_alpha, updates)

    coef = hp.polyak_coef
    target = jax.tree.map(lambda t, o: coef * o + (1.0 - coef) * t, params["target_critic"], critic)
    if static.prioritized:
        memory = replay.update_priorities(memory, index, abs_td, hp.priority_alpha, hp.priority_epsilon)
    learned = Learned(
        params={"net": actor, "critic": critic, "target_critic": target},
        log_alpha=log_alpha,
        actor_opt=actor_opt,
        critic_opt=critic_opt,
        alpha_opt=alpha_opt,
        priority=memory.priority,
        max_priority=memory.max_priority,
    )
    return learned, {"loss": q_loss + pi_loss + temperature_loss, "entropy": -log_prob.mean()}


def _learned(state: SACState) -> Learned:
    """The trainable part of the state as it is now."""
    memory = state.memory
    return Learned(
        state.params,
        state.log_alpha,
        state.actor_opt,
        state.critic_opt,
        state.alpha_opt,
        memory.priority,
        memory.max_priority,
    )


def train(static: Static, state: SACState) -> tuple[Learned, dict]:
    """`training_iter` gradient steps; metrics are their means."""
    learned, metrics = jax.lax.scan(
        lambda learned, key: gradient_step(static, state, learned, key),
        _learned(state),
        jax.random.split(state.key, static.training_iter),
    )
    return learned, jax.tree.map(jnp.mean, metrics)


def update(static: Static, state: SACState) -> tuple[SACState, dict]:
    """One SAC iteration: collect into the memory, then train (from training_start_step). Metrics are
    scalars for the session DataFrame; loss and entropy are NaN before training starts."""
    state, transitions = collect(static, state)
    flat = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), transitions)
    state = state.replace(memory=replay.add(state.memory, flat))

    key, train_key = jax.random.split(state.key)
    ready = state.frame >= static.training_start_step
    skipped = (_learned(state), {"loss": jnp.asarray(jnp.nan), "entropy": jnp.asarray(jnp.nan)})
    learned, metrics = jax.lax.cond(
        ready, lambda s: train(static, s), lambda _: skipped, state.replace(key=train_key)
    )
    state = state.replace(
        params=learned.params,
        log_alpha=learned.log_alpha,
        actor_opt=learned.actor_opt,
        critic_opt=learned.critic_opt,
        alpha_opt=learned.alpha_opt,
        memory=state.memory.replace(priority=learned.priority, max_priority=learned.max_priority),
        key=key,
        opt_step=state.opt_step + jnp.where(ready, static.training_iter, 0),
    )
    metrics = {
        "loss": metrics["loss"],
        "lr": static.actor_optim.lr(state.hp.actor_lr, state.opt_step),
        "entropy": metrics["entropy"],
        "alpha": jnp.exp(state.log_alpha),
    }
    return state, metrics


# Algorithm-specific DataFrame columns, in docs/output.md order after the common ones.
EXTRA_COLUMNS = ("entropy", "alpha")
