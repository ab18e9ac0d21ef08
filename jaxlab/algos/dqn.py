"""DQN and DoubleDQN: Q-learning from a replay memory with a target network; epsilon-greedy or Boltzmann
exploration; uniform or prioritized replay; plain or dueling Q networks; Huber or MSE loss.

The replay cadence keys and the update skeleton are the off-policy plumbing (`off_policy.py`). Besides:
- `training_iter` x `training_batch_iter`: a training samples `training_iter` batches of
  `memory.batch_size`, and takes `training_batch_iter` gradient steps on each (targets recomputed per step).
- `explore_var_spec` (frames): epsilon (epsilon_greedy) or temperature (boltzmann) at the current frame;
  `act(explore=True)` outside training explores at its end value, as SLM Lab's enjoy mode does.
- `net.update_frequency` (frames): the target net follows the online net each time the frame counter
  crosses a multiple of it: a copy (`replace`), or target <- polyak_coef * online + (1 - polyak_coef) * target
  (SLM Lab's `polyak_update`: the coefficient is the online net's weight, as in SAC).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxlab.algos import off_policy, replay
from jaxlab.algos.base import Algorithm, StepMetrics
from jaxlab.algos.networks import DuelingQNet, QNet, body_schema, make_body
from jaxlab.algos.off_policy import Learned, ReplayHParams, ReplaySettings
from jaxlab.algos.optim import OptimSettings, apply_gradients
from jaxlab.algos.schedules import Schedule
from jaxlab.envs import EnvDescription, VecEnv, VecEnvState
from jaxlab.schema import SpecError, choice, integer, real, schedule


def _algorithm_schema(name: str) -> dict:
    return {
        "name": choice(name, name),
        "action_pdtype": choice("Argmax", "Argmax", "Categorical"),
        "action_policy": choice("epsilon_greedy", "epsilon_greedy", "boltzmann"),
        "explore_var_spec": {
            **schedule(1.0),
            "name": choice("linear_decay", "no_decay", "linear_decay", "rate_decay"),
            "end_val": real(0.1, 0.0),
            "end_step": integer(10_000),
        },
        "gamma": real(0.99, 0.0, 1.0),
        **off_policy.CADENCE_SCHEMA,
        "training_start_step": integer(32),
        "training_batch_iter": integer(1, 1),
    }


# The DQN family's net: a Q network (dueling or not), its loss, and how the target network follows it.
NET_SCHEMA = body_schema(
    type=choice("MLPNet", "MLPNet", "ConvNet", "DuelingMLPNet", "DuelingConvNet"),
    loss_spec={"name": choice("SmoothL1Loss", "SmoothL1Loss", "MSELoss")},
    update_type=choice("replace", "replace", "polyak"),
    update_frequency=integer(1000, 1),  # frames between target updates
    polyak_coef=real(0.005, 0.0, 1.0),  # weight of the online net at a polyak update (SLM Lab's)
)


@dataclass(frozen=True)
class Static:
    """Everything shape-changing or structural: one compiled program per distinct Static."""

    env: VecEnv
    q_net: Any  # QNet or DuelingQNet
    double: bool  # DoubleDQN: the online net picks the next action, the target net values it
    boltzmann: bool  # else epsilon-greedy
    replay: ReplaySettings
    training_batch_iter: int
    polyak: bool  # else replace
    update_frequency: int
    huber: bool  # SmoothL1Loss, else MSELoss
    optim: OptimSettings

    @property
    def frames_per_update(self) -> int:
        return self.replay.vector_steps * self.env.num_envs

    @property
    def grad_steps_per_update(self) -> int:
        return self.replay.training_iter * self.training_batch_iter


@struct.dataclass
class HParams:
    """Float hyperparameters, arrays in the state so trials can be vmapped."""

    lr: jax.Array
    gamma: jax.Array
    explore_var: Schedule  # epsilon or temperature, over frames
    polyak_coef: jax.Array
    max_grad_norm: jax.Array
    replay: ReplayHParams


@struct.dataclass
class DQNState:
    params: dict  # {"net": online Q net, "target_net": target Q net}
    opt_state: Any  # of params["net"] only
    memory: replay.Memory
    env_state: VecEnvState
    obs: jax.Array  # [E, *obs_shape] current observation
    key: jax.Array
    hp: HParams
    frame: jax.Array  # int32, env steps summed over envs
    opt_step: jax.Array  # int32, gradient steps


@struct.dataclass
class OnlineNet:
    """What a training changes: the online Q net and its optimiser state."""

    params: Any
    opt_state: Any


def check(spec: dict, env: EnvDescription) -> None:
    """Actions, exploration and training cadence that fit together."""
    algo = spec["agent"]["algorithm"]
    if not env.discrete:
        raise SpecError(
            f"agent.algorithm.name = {algo['name']} needs discrete actions, but {env.name} has continuous"
            " ones"
            " — use a discrete env or a continuous-action algorithm"
        )
    pdtype = {"epsilon_greedy": "Argmax", "boltzmann": "Categorical"}[algo["action_policy"]]
    if algo["action_pdtype"] != pdtype:
        raise SpecError(
            f"agent.algorithm.action_pdtype = {algo['action_pdtype']} does not go with action_policy ="
            f" {algo['action_policy']} — use action_pdtype: {pdtype}"
        )
    off_policy.check_replay(spec, env)


def configure(spec: dict, env: VecEnv) -> tuple[Static, HParams]:
    """Split a validated spec into static settings and float hyperparameters."""
    algo, net, memory = spec["agent"]["algorithm"], spec["agent"]["net"], spec["agent"]["memory"]
    q_net_class = DuelingQNet if net["type"].startswith("Dueling") else QNet
    settings = ReplaySettings.from_spec(spec, env)
    grad_steps = algo["training_iter"] * algo["training_batch_iter"]
    static = Static(
        env=env,
        q_net=q_net_class(make_body(net, env.obs_shape), env.num_actions),
        double=algo["name"] == "DoubleDQN",
        boltzmann=algo["action_policy"] == "boltzmann",
        replay=settings,
        training_batch_iter=algo["training_batch_iter"],
        polyak=net["update_type"] == "polyak",
        update_frequency=net["update_frequency"],
        huber=net["loss_spec"]["name"] == "SmoothL1Loss",
        optim=OptimSettings.from_spec(
            net, settings.trained_updates(env.num_envs, spec["env"]["max_frame"]) * grad_steps
        ),
    )
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    hp = HParams(
        lr=f32(net["optim_spec"]["lr"]),
        gamma=f32(algo["gamma"]),
        explore_var=Schedule.from_spec(algo["explore_var_spec"]),
        polyak_coef=f32(net["polyak_coef"]),
        max_grad_norm=f32(net["clip_grad_val"] or 0.0),
        replay=off_policy.replay_hparams(memory, spec["env"]["max_frame"]),
    )
    return static, hp


def init(static: Static, key: jax.Array, hp: HParams) -> DQNState:
    """One session's initial train state: online and target nets equal, an empty memory."""
    key, net_key, env_key = jax.random.split(key, 3)
    obs, env_state = static.env.reset(env_key)
    online = static.q_net.init(net_key, obs[0])
    return DQNState(
        params={"net": online, "target_net": online},
        opt_state=static.optim.make(hp.lr, hp.max_grad_norm).init(online),
        memory=off_policy.empty_memory(static, obs[0]),
        env_state=env_state,
        obs=obs,
        key=key,
        hp=hp,
        frame=jnp.zeros((), jnp.int32),
        opt_step=jnp.zeros((), jnp.int32),
    )


def behaviour_action(
    static: Static, q_values: jax.Array, key: jax.Array, explore_var: jax.Array
) -> jax.Array:
    """Exploring actions [E] from Q values [E, A]: epsilon-greedy (explore_var = epsilon, a uniform action
    with that probability, per env) or Boltzmann (explore_var = temperature, softmax(Q / temperature))."""
    if static.boltzmann:
        # A zero temperature is the greedy policy; the floor keeps the division finite.
        return jax.random.categorical(key, q_values / jnp.maximum(explore_var, 1e-8))
    coin_key, uniform_key = jax.random.split(key)
    random_action = jax.random.randint(uniform_key, q_values.shape[:-1], 0, q_values.shape[-1])
    explore = jax.random.uniform(coin_key, q_values.shape[:-1]) < explore_var
    return jnp.where(explore, random_action, jnp.argmax(q_values, -1))


def act(
    static: Static, hp: HParams, params: dict, obs: jax.Array, key: jax.Array, explore: bool
) -> jax.Array:
    """Actions [E] for observations [E, *obs_shape]: greedy (argmax Q), or exploring at the end value of
    explore_var (collection explores at the training frame's value: `behaviour_action`)."""
    q_values = static.q_net.apply(params["net"], obs)
    if explore:
        return behaviour_action(static, q_values, key, hp.explore_var.end_val)
    return jnp.argmax(q_values, -1)


def nets(params: dict) -> dict:
    """Named networks for export: `net` (the online Q net, the policy) and `target_net`."""
    return dict(params)


def networks(static: Static) -> dict:
    return {"net": static.q_net, "target_net": static.q_net}


def q_target(
    reward: jax.Array,
    terminated: jax.Array,
    gamma: jax.Array,
    next_q_target: jax.Array,
    next_q_online: jax.Array | None,
) -> jax.Array:
    """Bootstrapped targets [B]: r + gamma * (1 - terminated) * Q_target(s', a'), with Q values [B, A] at s'.
    DQN: a' = argmax Q_target(s') (pass next_q_online=None). DoubleDQN: a' = argmax Q_online(s')."""
    if next_q_online is None:
        next_value = next_q_target.max(-1)
    else:
        best = jnp.argmax(next_q_online, -1)
        next_value = jnp.take_along_axis(next_q_target, best[..., None], axis=-1)[..., 0]
    return reward + gamma * (1.0 - terminated.astype(jnp.float32)) * next_value


def loss(
    static: Static,
    params: Any,
    target_params: Any,
    batch: replay.Transition,
    weight: jax.Array,
    gamma: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """Weighted mean Huber (SmoothL1) or squared TD error over a batch [B]; returns (loss, |td| [B])."""
    q_values = static.q_net.apply(params, batch.obs)
    q_taken = jnp.take_along_axis(q_values, batch.action[:, None], axis=-1)[:, 0]
    next_q_target = static.q_net.apply(target_params, batch.next_obs)
    next_q_online = static.q_net.apply(params, batch.next_obs) if static.double else None
    target = jax.lax.stop_gradient(
        q_target(batch.reward, batch.terminated, gamma, next_q_target, next_q_online)
    )
    td = target - q_taken
    per_sample = optax.huber_loss(q_taken, target, delta=1.0) if static.huber else td**2
    return (weight * per_sample).mean(), jnp.abs(td)


def train(static: Static, state: DQNState) -> Learned:
    """`training_iter` sampled batches x `training_batch_iter` gradient steps on each."""
    hp = state.hp
    tx = static.optim.make(hp.lr, hp.max_grad_norm)
    beta = hp.replay.beta(state.frame)
    grad_fn = jax.value_and_grad(loss, argnums=1, has_aux=True)
    target_params = state.params["target_net"]

    def batch_step(carry: Learned, key: jax.Array):
        memory = off_policy.memory_at(state, carry)
        batch, index, weight = replay.sample(memory, key, static.replay.batch_size, beta)

        def grad_step(online: OnlineNet, _):
            (value, abs_td), grads = grad_fn(static, online.params, target_params, batch, weight, hp.gamma)
            params, opt_state = apply_gradients(tx, grads, online.opt_state, online.params)
            return OnlineNet(params, opt_state), (value, abs_td)

        online, (losses, abs_tds) = jax.lax.scan(grad_step, carry.trainable, None, static.training_batch_iter)
        learned = carry.replace(trainable=online, metrics={"loss": carry.metrics["loss"] + losses.sum()})
        return off_policy.write_priorities(static, learned, memory, index, abs_tds[-1], hp.replay), None

    start = Learned(
        OnlineNet(state.params["net"], state.opt_state),
        state.memory.priority,
        state.memory.max_priority,
        {"loss": jnp.zeros(())},
    )
    learned, _ = jax.lax.scan(batch_step, start, jax.random.split(state.key, static.replay.training_iter))
    return learned.replace(metrics={"loss": learned.metrics["loss"] / static.grad_steps_per_update})


def update_target(
    static: Static, params: dict, frame_before: jax.Array, frame: jax.Array, coef: jax.Array
) -> dict:
    """The target net after the frame counter moved from frame_before to frame: updated when it crossed a
    multiple of update_frequency."""
    crossed = frame // static.update_frequency > frame_before // static.update_frequency
    online, target = params["net"], params["target_net"]
    moved = off_policy.polyak(target, online, coef) if static.polyak else online
    return {
        **params,
        "target_net": jax.tree.map(lambda new, old: jnp.where(crossed, new, old), moved, target),
    }


def update(static: Static, state: DQNState) -> tuple[DQNState, StepMetrics]:
    """One DQN iteration: collect into the memory, train once (from training_start_step), follow with the
    target net. Metrics are scalars for the session DataFrame; loss is NaN before training starts."""

    def choose_action(state: DQNState, key: jax.Array) -> jax.Array:
        q_values = static.q_net.apply(state.params["net"], state.obs)
        return behaviour_action(static, q_values, key, state.hp.explore_var(state.frame))

    def skipped(state: DQNState) -> Learned:
        return off_policy.untrained(state, OnlineNet(state.params["net"], state.opt_state), ("loss",))

    state, learned, frame_before = off_policy.update(
        static, state, choose_action, 1, lambda s: train(static, s), skipped, static.grad_steps_per_update
    )
    online = learned.trainable
    params = update_target(
        static, {**state.params, "net": online.params}, frame_before, state.frame, state.hp.polyak_coef
    )
    state = state.replace(params=params, opt_state=online.opt_state)
    lr = static.optim.lr(state.hp.lr, state.opt_step)
    return state, StepMetrics(learned.metrics["loss"], lr, {"explore_var": state.hp.explore_var(state.frame)})


def _algorithm(name: str) -> Algorithm:
    return Algorithm(
        name=name,
        schema={"algorithm": _algorithm_schema(name), "net": NET_SCHEMA, "memory": replay.MEMORY_SCHEMA},
        configure=configure,
        init=init,
        update=update,
        act=act,
        nets=nets,
        networks=networks,
        check=check,
        columns=("explore_var",),
    )


DQN, DOUBLE_DQN = _algorithm("DQN"), _algorithm("DoubleDQN")
