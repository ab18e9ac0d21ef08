"""SoftActorCritic (SAC): twin Q networks, target networks and a learned temperature, as SLM Lab's.

Continuous actions: a tanh-squashed Gaussian policy in [-1, 1] (the env rescales it to its bounds), Q(s, a)
critics (Haarnoja et al. 2018). Discrete actions: a categorical policy whose expectations over actions are
taken exactly, and critics that output Q(s, .) for every action (Christodoulou 2019), averaged as SLM Lab
does.

The replay cadence keys and the update skeleton are the off-policy plumbing (`off_policy.py`). Besides:
- `training_start_step` (frames, default max(1000, batch_size)): uniform random actions and no training
  before it; `training_iter` (default num_envs): gradient steps per training, each on a fresh batch.
- `memory`: Replay or PrioritizedReplay (priorities from |min_i Q_i(s, a) - y|), CER.
- the critics (`agent.critic_net`, agent.net's settings when absent) have an optimiser and gradient clip
  each and the net's `loss_spec`; the temperature uses the actor's optimiser (lr `alpha_lr` if given).
- `policy_delay`: the actor, the temperature and the targets step every policy_delay-th gradient step.
- targets: polyak (target <- polyak_coef * online + (1 - polyak_coef) * target) after each actor step, or
  copies when the frame count is within num_envs past a multiple of update_frequency.

One gradient step, in SLM Lab's order: both critics regress onto the soft Bellman target (`soft_q.py`), then
the actor, then log alpha on -alpha (log pi + target_entropy), clamped to [log_alpha_min, log_alpha_max], then
the targets. Target entropy (`auto`): -|A| for continuous actions; 0.6 log|A| for discrete ones.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxlab.algos import distributions, off_policy, replay, soft_q
from jaxlab.algos.base import Algorithm, StepMetrics
from jaxlab.algos.losses import Loss
from jaxlab.algos.networks import (
    NET_TYPES,
    PolicyNet,
    QNet,
    SquashedGaussianPolicyNet,
    StateActionQNet,
    body_schema,
    make_body,
)
from jaxlab.algos.off_policy import Learned, ReplayHParams, ReplaySettings
from jaxlab.algos.optim import OptimSettings, spec_lr
from jaxlab.envs import EnvDescription, VecEnv, VecEnvState
from jaxlab.schema import SpecError, anything, choice, integer, real

DISCRETE_TARGET_ENTROPY_RATIO = 0.6  # target entropy = 0.6 log|A| for discrete actions (SLM Lab's auto)
WARMUP_FRAMES = 1000  # SLM Lab's least training_start_step

ALGORITHM_SCHEMA = {
    "name": choice("SoftActorCritic", "SoftActorCritic"),
    "action_pdtype": choice("default", "default", "Normal", "Categorical"),
    "action_policy": choice("default", "default"),
    "gamma": real(0.99, 0.0, 1.0),
    **off_policy.CADENCE_SCHEMA,
    "policy_delay": integer(1, 1),
    "alpha_lr": real(None, 0.0, low_open=True, nullable=True),
    "target_entropy": anything("auto"),  # "auto" or a number
    "log_alpha_min": real(-5.0, -20.0, 20.0),
    "log_alpha_max": real(2.0, -20.0, 20.0),
}
# SAC's actor (`net`) and critics (`critic_net`: agent.net's settings when absent).
NET_SCHEMA = body_schema(
    type=choice("MLPNet", *NET_TYPES),
    update_type=choice("replace", "replace", "polyak"),
    update_frequency=integer(1, 1),  # frames between target copies
    polyak_coef=real(0.0, 0.0, 1.0),  # weight of the online critic at each target update (SLM Lab's)
)


@dataclass(frozen=True)
class Static:
    """Everything shape-changing or structural: one compiled program per distinct Static."""

    env: VecEnv
    actor: Any  # SquashedGaussianPolicyNet (continuous) or PolicyNet (discrete logits)
    critic: Any  # StateActionQNet (continuous) or QNet (discrete); twin copies are stacked on axis 0
    replay: ReplaySettings
    target_entropy: float
    policy_delay: int
    polyak: bool  # else replace every update_frequency frames
    update_frequency: int
    log_alpha_range: tuple[float, float]
    loss: Loss
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
    alpha_lr: jax.Array
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
    critic_opt: Any  # [2, ...]: one optimiser per critic
    alpha_opt: Any
    memory: replay.Memory
    env_state: VecEnvState
    obs: jax.Array  # [E, *obs_shape] current observation
    key: jax.Array
    hp: HParams
    frame: jax.Array  # int32, env steps summed over envs
    opt_step: jax.Array  # int32, gradient steps


def defaults(agent: dict) -> dict:
    """The critics use agent.net's settings unless agent.critic_net is given."""
    if "critic_net" in agent:
        return agent
    return {**agent, "critic_net": copy.deepcopy(agent.get("net"))}


def check(spec: dict, env: EnvDescription) -> None:
    algo = spec["agent"]["algorithm"]
    want = "Categorical" if env.discrete else "Normal"
    if algo["action_pdtype"] not in ("default", want):
        raise SpecError(
            f"agent.algorithm.action_pdtype = {algo['action_pdtype']} does not fit {env.name}'s actions — use"
            f" default or {want}"
        )
    target = algo["target_entropy"]
    if target != "auto" and (isinstance(target, bool) or not isinstance(target, (int, float))):
        raise SpecError(f"agent.algorithm.target_entropy must be auto or a number, got {target!r}")
    off_policy.check_replay(spec, env)


def configure(spec: dict, env: VecEnv) -> tuple[Static, HParams]:
    """Split a validated spec into static settings and float hyperparameters."""
    agent = spec["agent"]
    algo, net, critic_net, memory = agent["algorithm"], agent["net"], agent["critic_net"], agent["memory"]
    if env.discrete:
        actor = PolicyNet(make_body(net, env.obs_shape), num_actions=env.num_actions, action_dim=None)
        critic = QNet(make_body(critic_net, env.obs_shape, "agent.critic_net"), env.num_actions)
        auto_entropy = DISCRETE_TARGET_ENTROPY_RATIO * float(np.log(env.num_actions))
    else:
        actor = SquashedGaussianPolicyNet(make_body(net, env.obs_shape), env.action_dim)
        critic_obs = (env.obs_shape[0] + env.action_dim,)
        critic = StateActionQNet(make_body(critic_net, critic_obs, "agent.critic_net"), env.action_dim)
        auto_entropy = -float(env.action_dim)
    settings = ReplaySettings.from_spec(
        spec, env, start_default=max(WARMUP_FRAMES, memory["batch_size"]), iter_default=env.num_envs
    )
    frames_per_training = algo["training_frequency"] * env.num_envs
    max_frame = spec["env"]["max_frame"]
    target = algo["target_entropy"]
    static = Static(
        env=env,
        actor=actor,
        critic=critic,
        replay=settings,
        target_entropy=auto_entropy if target == "auto" else float(target),
        policy_delay=algo["policy_delay"],
        polyak=critic_net["update_type"] == "polyak",
        update_frequency=critic_net["update_frequency"],
        log_alpha_range=(algo["log_alpha_min"], algo["log_alpha_max"]),
        loss=Loss.from_spec(net["loss_spec"]),
        actor_optim=OptimSettings.from_spec(
            net, net["optim_spec"], settings.training_iter, frames_per_training, max_frame
        ),
        critic_optim=OptimSettings.from_spec(
            critic_net, critic_net["optim_spec"], settings.training_iter, frames_per_training, max_frame
        ),
    )
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    actor_lr = spec_lr(net["optim_spec"], "agent.net.optim_spec")
    hp = HParams(
        actor_lr=f32(actor_lr),
        critic_lr=f32(spec_lr(critic_net["optim_spec"], "agent.critic_net.optim_spec")),
        alpha_lr=f32(algo["alpha_lr"] or actor_lr),
        gamma=f32(algo["gamma"]),
        polyak_coef=f32(critic_net["polyak_coef"]),
        actor_max_grad_norm=f32(net["clip_grad_val"] or 0.0),
        critic_max_grad_norm=f32(critic_net["clip_grad_val"] or 0.0),
        replay=off_policy.replay_hparams(memory),
    )
    return static, hp


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
        actor_opt=soft_q.actor_tx(static, hp).init(params["net"]),
        critic_opt=jax.vmap(soft_q.critic_tx(static, hp).init)(critic),
        alpha_opt=soft_q.alpha_tx(static, hp).init(log_alpha),
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
    logits, or tanh(mean) in [-1, 1]."""
    policy_out = static.actor.apply(params["net"], obs)
    if static.env.discrete:
        return jax.random.categorical(key, policy_out) if explore else jnp.argmax(policy_out, -1)
    mean, log_std = policy_out
    if explore:
        return distributions.squashed_gaussian_sample(key, mean, log_std)[0]
    return jnp.tanh(mean)


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
            random_key, (env.num_envs, env.action_dim), minval=-1.0, maxval=1.0
        )
    return jnp.where(state.frame < static.replay.training_start_step, random_action, policy_action)


def _trainable(state: SACState) -> soft_q.Trainable:
    """The trainable part of the state as it is now."""
    return soft_q.Trainable(state.params, state.log_alpha, state.actor_opt, state.critic_opt, state.alpha_opt)


def train(static: Static, state: SACState) -> Learned:
    """`training_iter` gradient steps; the metrics are the last step's, as SLM Lab logs them."""
    steps = state.opt_step + jnp.arange(static.replay.training_iter)
    learned, metrics = jax.lax.scan(
        lambda learned, xs: soft_q.gradient_step(static, state, learned, xs),
        off_policy.learned_start(state, _trainable(state), {}),
        (jax.random.split(state.key, static.replay.training_iter), steps),
    )
    return learned.replace(metrics=jax.tree.map(lambda m: m[-1], metrics))


def update(static: Static, state: SACState) -> tuple[SACState, StepMetrics]:
    """One SAC iteration: collect into the memory, then train (once the memory holds training_start_step
    frames). Metrics are scalars for the session DataFrame; loss and entropy are NaN before training."""
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
    name="SoftActorCritic",
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
