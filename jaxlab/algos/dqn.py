"""DQN and DoubleDQN: Q-learning from a replay memory with a target network; epsilon-greedy or Boltzmann
exploration; uniform or prioritized replay; plain or dueling Q networks; Huber or MSE loss.

The SLM Lab keys, read for `num_envs` env copies stepped together (SLM Lab counts them all in frames):
- `training_frequency` (frames): train once every max(1, training_frequency // num_envs) vector steps. An
  update collects those steps into the memory, then trains once; below num_envs it trains every vector
  step, as SLM Lab does (it trains at most once per vector step).
- `training_start_step` (frames): no training until the memory holds at least this many frames.
- `training_iter` x `training_batch_iter`: a training samples `training_iter` batches of
  `memory.batch_size`, and takes `training_batch_iter` gradient steps on each (targets recomputed per step).
- `explore_var_spec` (frames): epsilon (epsilon_greedy) or temperature (boltzmann) at the current frame.
- `net.update_frequency` (frames): the target net follows the online net each time the frame counter
  crosses a multiple of it: a copy (`replace`), or target <- polyak_coef * online + (1 - polyak_coef) * target
  (SLM Lab's `polyak_update`: the coefficient is the online net's weight, as in SAC).
- PrioritizedReplay: priorities (|td| + epsilon)^alpha from the last gradient step on each batch; the loss
  is weighted by the importance-sampling weights with beta annealed linearly from `memory.beta` to 1 at
  `env.max_frame` (SLM Lab leaves the weights out).
Terminated transitions do not bootstrap; truncated ones bootstrap from the pre-reset final observation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxlab.algos import replay
from jaxlab.algos.networks import DuelingQNet, QNet, make_body
from jaxlab.algos.optim import OptimSettings
from jaxlab.algos.schedules import Schedule
from jaxlab.envs import VecEnv, VecEnvState


@dataclass(frozen=True)
class Static:
    """Everything shape-changing or structural: one compiled program per distinct Static."""

    env: VecEnv
    q_net: Any  # QNet or DuelingQNet
    double: bool  # DoubleDQN: the online net picks the next action, the target net values it
    boltzmann: bool  # else epsilon-greedy
    vector_steps: int  # vector steps collected per update (one training per update)
    training_start_step: int
    training_iter: int
    training_batch_iter: int
    batch_size: int
    memory_size: int
    prioritized: bool
    obs_dtype: Any  # storage dtype of observations in the memory
    polyak: bool  # else replace
    update_frequency: int
    huber: bool  # SmoothL1Loss, else MSELoss
    optim: OptimSettings

    @property
    def frames_per_update(self) -> int:
        return self.vector_steps * self.env.num_envs

    @property
    def grad_steps_per_update(self) -> int:
        return self.training_iter * self.training_batch_iter


@struct.dataclass
class HParams:
    """Float hyperparameters, arrays in the state so trials can be vmapped."""

    lr: jax.Array
    gamma: jax.Array
    explore_var: Schedule  # epsilon or temperature, over frames
    polyak_coef: jax.Array
    max_grad_norm: jax.Array
    alpha: jax.Array  # PER priority exponent
    priority_epsilon: jax.Array  # PER: added to |td|
    beta: Schedule  # PER importance-sampling exponent, over frames


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


def configure(spec: dict, env: VecEnv, max_frame: int) -> tuple[Static, HParams]:
    """Split a validated spec into static settings and float hyperparameters."""
    algo, net, memory = spec["agent"]["algorithm"], spec["agent"]["net"], spec["agent"]["memory"]
    q_net_class = DuelingQNet if net["type"].startswith("Dueling") else QNet
    vector_steps = max(1, algo["training_frequency"] // env.num_envs)
    frames_per_update = vector_steps * env.num_envs
    num_updates = -(-max_frame // frames_per_update)
    untrained_updates = -(-algo["training_start_step"] // frames_per_update) - 1  # frame < start after them
    trained_updates = max(1, num_updates - max(untrained_updates, 0))
    grad_steps = algo["training_iter"] * algo["training_batch_iter"]
    static = Static(
        env=env,
        q_net=q_net_class(make_body(net, env.obs_shape), env.num_actions),
        double=algo["name"] == "DoubleDQN",
        boltzmann=algo["action_policy"] == "boltzmann",
        vector_steps=vector_steps,
        training_start_step=algo["training_start_step"],
        training_iter=algo["training_iter"],
        training_batch_iter=algo["training_batch_iter"],
        batch_size=memory["batch_size"],
        memory_size=memory["max_size"],
        prioritized=memory["name"] == "PrioritizedReplay",
        obs_dtype=replay.obs_storage_dtype(env),
        polyak=net["update_type"] == "polyak",
        update_frequency=net["update_frequency"],
        huber=net["loss_spec"]["name"] == "SmoothL1Loss",
        optim=OptimSettings.from_spec(net, trained_updates * grad_steps),
    )
    f32 = lambda x: jnp.asarray(x, jnp.float32)
    hp = HParams(
        lr=f32(net["optim_spec"]["lr"]),
        gamma=f32(algo["gamma"]),
        explore_var=Schedule.from_spec(algo["explore_var_spec"]),
        polyak_coef=f32(net["polyak_coef"]),
        max_grad_norm=f32(net["clip_grad_val"] or 0.0),
        alpha=f32(memory["alpha"]),
        priority_epsilon=f32(memory["epsilon"]),
        beta=replay.beta_schedule(memory, max_frame),
    )
    return static, hp


def init(static: Static, key: jax.Array, hp: HParams) -> DQNState:
    """One session's initial train state: online and target nets equal, an empty memory."""
    key, net_key, env_key = jax.random.split(key, 3)
    obs, env_state = static.env.reset(env_key)
    online = static.q_net.init(net_key, obs[0])
    example = replay.Transition(
        obs=obs[0].astype(static.obs_dtype),
        action=jnp.zeros((), jnp.int32),
        reward=jnp.zeros((), jnp.float32),
        next_obs=obs[0].astype(static.obs_dtype),
        terminated=jnp.zeros((), bool),
        truncated=jnp.zeros((), bool),
    )
    return DQNState(
        params={"net": online, "target_net": online},
        opt_state=static.optim.make(hp.lr, hp.max_grad_norm).init(online),
        memory=replay.init(static.memory_size, example, static.prioritized),
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


def act(static: Static, params: dict, obs: jax.Array, key: jax.Array, explore: bool) -> jax.Array:
    """Greedy actions [E] (argmax Q) for observations [E, *obs_shape]. Exploration depends on the frame
    (explore_var), which only the train state knows: collection calls `behaviour_action`."""
    if explore:
        raise ValueError("DQN explores with explore_var at the training frame: use behaviour_action")
    return jnp.argmax(static.q_net.apply(params["net"], obs), -1)


def nets(params: dict) -> dict:
    """Named networks for export: `net` (the online Q net, the policy) and `target_net`."""
    return dict(params)


def collect(static: Static, state: DQNState) -> tuple[DQNState, replay.Transition]:
    """`vector_steps` steps of the behaviour policy; transitions [T, E, ...]."""

    def env_step(state: DQNState, _):
        key, action_key, step_key = jax.random.split(state.key, 3)
        q_values = static.q_net.apply(state.params["net"], state.obs)
        action = behaviour_action(static, q_values, action_key, state.hp.explore_var(state.frame))
        env_state, step = static.env.step(step_key, state.env_state, action)
        transition = replay.Transition(
            obs=state.obs,
            action=action.astype(jnp.int32),
            reward=step.reward,
            next_obs=step.final_obs,  # the pre-reset observation, also where the episode just ended
            terminated=step.terminated,
            truncated=step.truncated,
        )
        state = state.replace(
            key=key, env_state=env_state, obs=step.obs, frame=state.frame + static.env.num_envs
        )
        return state, transition

    return jax.lax.scan(env_step, state, None, static.vector_steps)


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


@struct.dataclass
class Learned:
    """What a training changes: kept apart from the memory's data so that, where the engine's vmap turns
    the `lax.cond` around training into a select, only these small arrays are selected."""

    online: Any
    opt_state: Any
    priority: jax.Array | None
    max_priority: jax.Array | None
    loss: jax.Array


def train(static: Static, state: DQNState) -> Learned:
    """`training_iter` sampled batches x `training_batch_iter` gradient steps on each."""
    hp = state.hp
    tx = static.optim.make(hp.lr, hp.max_grad_norm)
    beta = hp.beta(state.frame)
    grad_fn = jax.value_and_grad(loss, argnums=1, has_aux=True)
    target_params = state.params["target_net"]

    def batch_step(carry: Learned, key: jax.Array):
        memory = state.memory.replace(priority=carry.priority, max_priority=carry.max_priority)
        batch, index, weight = replay.sample(memory, key, static.batch_size, beta)

        def grad_step(inner, _):
            online, opt_state = inner
            (value, abs_td), grads = grad_fn(static, online, target_params, batch, weight, hp.gamma)
            updates, opt_state = tx.update(grads, opt_state, online)
            return (optax.apply_updates(online, updates), opt_state), (value, abs_td)

        (online, opt_state), (losses, abs_tds) = jax.lax.scan(
            grad_step, (carry.online, carry.opt_state), None, static.training_batch_iter
        )
        if static.prioritized:
            memory = replay.update_priorities(memory, index, abs_tds[-1], hp.alpha, hp.priority_epsilon)
        learned = Learned(online, opt_state, memory.priority, memory.max_priority, carry.loss + losses.sum())
        return learned, None

    start = Learned(
        state.params["net"], state.opt_state, state.memory.priority, state.memory.max_priority, jnp.zeros(())
    )
    learned, _ = jax.lax.scan(batch_step, start, jax.random.split(state.key, static.training_iter))
    return learned.replace(loss=learned.loss / static.grad_steps_per_update)


def update_target(
    static: Static, params: dict, frame_before: jax.Array, frame: jax.Array, coef: jax.Array
) -> dict:
    """The target net after the frame counter moved from frame_before to frame: updated when it crossed a
    multiple of update_frequency."""
    crossed = frame // static.update_frequency > frame_before // static.update_frequency
    online, target = params["net"], params["target_net"]
    if static.polyak:
        moved = jax.tree.map(lambda t, o: coef * o + (1.0 - coef) * t, target, online)
    else:
        moved = online
    return {
        **params,
        "target_net": jax.tree.map(lambda new, old: jnp.where(crossed, new, old), moved, target),
    }


def update(static: Static, state: DQNState) -> tuple[DQNState, dict]:
    """One DQN iteration: collect into the memory, train once (from training_start_step), follow with the
    target net. Metrics are scalars for the session DataFrame; loss is NaN before training starts."""
    frame_before = state.frame
    state, transitions = collect(static, state)
    flat = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), transitions)
    state = state.replace(memory=replay.add(state.memory, flat))

    key, train_key = jax.random.split(state.key)
    ready = state.frame >= static.training_start_step
    skipped = Learned(
        state.params["net"],
        state.opt_state,
        state.memory.priority,
        state.memory.max_priority,
        jnp.asarray(jnp.nan),
    )
    learned = jax.lax.cond(ready, lambda s: train(static, s), lambda _: skipped, state.replace(key=train_key))
    params = update_target(
        static, {**state.params, "net": learned.online}, frame_before, state.frame, state.hp.polyak_coef
    )
    state = state.replace(
        params=params,
        opt_state=learned.opt_state,
        memory=state.memory.replace(priority=learned.priority, max_priority=learned.max_priority),
        key=key,
        opt_step=state.opt_step + jnp.where(ready, static.grad_steps_per_update, 0),
    )
    metrics = {
        "loss": learned.loss,
        "lr": static.optim.lr(state.hp.lr, state.opt_step),
        "explore_var": state.hp.explore_var(state.frame),
    }
    return state, metrics


# Algorithm-specific DataFrame columns, in docs/output.md order after the common ones.
EXTRA_COLUMNS = ("explore_var",)
