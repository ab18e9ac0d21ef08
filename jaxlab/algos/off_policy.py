"""Off-policy plumbing shared by DQN and SAC: SLM Lab's replay cadence keys read for vectorised envs, the
memory of one session, collection into it, and the update skeleton (collect, add, train once the memory
holds `training_start_step` frames, write the priorities back); polyak averaging. The algorithms supply
their action choice and their training, which stay in their own files.

SLM Lab's keys, read for `num_envs` env copies stepped together (SLM Lab counts them all in frames):
- `training_frequency` (frames): train once every max(1, training_frequency // num_envs) vector steps. An
  update collects those steps into the memory, then trains once; below num_envs it trains every vector
  step, as SLM Lab does (it trains at most once per vector step).
- `training_start_step` (frames): no training until the memory holds more than this many frames (the
  algorithm's default when null: DQN's batch_size, SAC's max(1000, batch_size)).
- `training_iter`: sampled batches (DQN) or gradient steps (SAC) per training (SAC's default: num_envs).
- PrioritizedReplay and CER: `replay.py`.
Terminated transitions do not bootstrap; truncated ones bootstrap from the pre-reset final observation
(SLM Lab's vector envs store a transition from the final to the reset observation instead; jaxlab keeps
none).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import jax
import jax.numpy as jnp
from flax import struct

from jaxlab.algos import replay
from jaxlab.envs import EnvDescription, VecEnv
from jaxlab.schema import SpecError, integer

# The agent.algorithm keys of SLM Lab's replay cadence; null: the algorithm's default.
CADENCE_SCHEMA = {
    "training_frequency": integer(1, 1),
    "training_iter": integer(None, 1, nullable=True),
    "training_start_step": integer(None, 0, nullable=True),
}


@dataclass(frozen=True)
class ReplaySettings:
    """The static part of collection and replay: how many vector steps an update collects, when training
    starts, how much it trains on, and the memory's shape."""

    vector_steps: int  # vector steps collected per update (one training per update)
    training_start_step: int  # frames
    training_iter: int
    batch_size: int
    memory_size: int
    prioritized: bool
    use_cer: bool
    weighted: bool  # PER with importance-sampling weights (memory.beta set)
    max_frame: int  # where beta reaches 1
    obs_dtype: Any  # storage dtype of observations in the memory

    @classmethod
    def from_spec(cls, spec: dict, env: VecEnv, start_default: int, iter_default: int) -> ReplaySettings:
        """From a validated spec; `start_default` and `iter_default` fill a null training_start_step and
        training_iter."""
        algo, memory = spec["agent"]["algorithm"], spec["agent"]["memory"]
        prioritized = memory["name"] == "PrioritizedReplay"
        start = algo["training_start_step"]
        return cls(
            vector_steps=max(1, algo["training_frequency"] // env.num_envs),
            training_start_step=start_default if start is None else start,
            training_iter=algo["training_iter"] or iter_default,
            batch_size=memory["batch_size"],
            memory_size=memory["max_size"],
            prioritized=prioritized,
            use_cer=memory["use_cer"],
            weighted=prioritized and memory["beta"] is not None,
            max_frame=spec["env"]["max_frame"],
            obs_dtype=env.obs_storage_dtype,
        )

    def beta(self, hp: ReplayHParams, frame: jax.Array) -> jax.Array | None:
        """The IS-weight exponent at `frame`, or None for unweighted sampling."""
        return replay.annealed_beta(hp.beta, frame, self.max_frame) if self.weighted else None


@struct.dataclass
class ReplayHParams:
    """Prioritized replay's float hyperparameters (unused with uniform replay)."""

    priority_alpha: jax.Array  # priority exponent
    priority_epsilon: jax.Array  # added to |td|
    beta: jax.Array  # importance-sampling exponent at frame 0 (with weights)


def replay_hparams(memory_spec: dict) -> ReplayHParams:
    return ReplayHParams(
        priority_alpha=jnp.asarray(memory_spec["alpha"], jnp.float32),
        priority_epsilon=jnp.asarray(memory_spec["epsilon"], jnp.float32),
        beta=jnp.asarray(memory_spec["beta"] or 0.0, jnp.float32),
    )


class OffPolicyStatic(Protocol):
    env: VecEnv
    replay: ReplaySettings


@struct.dataclass
class Learned:
    """What a training changes: the algorithm's trainable part, the priorities, and its metrics. Kept apart
    from the memory's data so that, where the engine's vmap turns the `lax.cond` around training into a
    select, only these small arrays are selected."""

    trainable: Any
    priority: jax.Array | None
    replayed: jax.Array  # CER's count of replayed transitions
    metrics: dict


def check_replay(spec: dict, env: EnvDescription) -> None:
    """A training cadence and memory sizes that fit together."""
    algo, memory, num_envs = spec["agent"]["algorithm"], spec["agent"]["memory"], spec["env"]["num_envs"]
    frequency = algo["training_frequency"]
    if frequency > num_envs and frequency % num_envs:
        raise SpecError(
            f"agent.algorithm.training_frequency = {frequency} frames is not a whole number of vector"
            " steps of"
            f" env.num_envs = {num_envs} — use a multiple of {num_envs} (or at most {num_envs}: train"
            " every step)"
        )
    if memory["batch_size"] > memory["max_size"]:
        raise SpecError(
            f"agent.memory.batch_size = {memory['batch_size']} is larger than agent.memory.max_size ="
            f" {memory['max_size']} — lower batch_size or raise max_size"
        )
    frames_per_update = max(frequency, num_envs)
    if memory["max_size"] < frames_per_update:
        raise SpecError(
            f"agent.memory.max_size = {memory['max_size']} cannot hold the {frames_per_update} frames"
            " collected"
            " between trainings (max(training_frequency, env.num_envs)) — raise max_size"
        )


def example_action(env: VecEnv) -> jax.Array:
    """One action as the memory stores it: [] int32, or [D] float32."""
    return jnp.zeros((), jnp.int32) if env.discrete else jnp.zeros(env.action_dim, jnp.float32)


def empty_memory(static: OffPolicyStatic, obs: jax.Array) -> replay.Memory:
    """An empty memory shaped like the transitions of this env (`obs` [*obs_shape]: one observation)."""
    example = replay.Transition(
        obs=obs.astype(static.replay.obs_dtype),
        action=example_action(static.env),
        reward=jnp.zeros((), jnp.float32),
        next_obs=obs.astype(static.replay.obs_dtype),
        terminated=jnp.zeros((), bool),
        truncated=jnp.zeros((), bool),
    )
    return replay.init(static.replay.memory_size, example, static.replay.prioritized)


def collect(
    static: OffPolicyStatic, state: Any, choose_action: Callable[..., jax.Array], action_keys: int = 1
) -> tuple[Any, replay.Transition]:
    """`vector_steps` steps of `choose_action(state, *keys)` (with `action_keys` fresh keys per step);
    transitions [T, E, ...]. The state has `key`, `env_state`, `obs` and `frame`."""
    env, action_dtype = static.env, example_action(static.env).dtype

    def env_step(state, _):
        key, *keys, step_key = jax.random.split(state.key, 2 + action_keys)
        action = choose_action(state, *keys)
        env_state, step = env.step(step_key, state.env_state, action)
        transition = replay.Transition(
            obs=state.obs,
            action=action.astype(action_dtype),
            reward=step.reward,
            next_obs=step.final_obs,  # the pre-reset observation, also where the episode just ended
            terminated=step.terminated,
            truncated=step.truncated,
        )
        state = state.replace(key=key, env_state=env_state, obs=step.obs, frame=state.frame + env.num_envs)
        return state, transition

    return jax.lax.scan(env_step, state, None, static.replay.vector_steps)


def update(
    static: OffPolicyStatic,
    state: Any,
    choose_action: Callable[..., jax.Array],
    action_keys: int,
    train: Callable[[Any], Learned],
    skipped: Callable[[Any], Learned],
    grad_steps: int,
) -> tuple[Any, Learned, jax.Array]:
    """Collect into the memory, then `train` (from training_start_step; `skipped` before: the trainable part
    unchanged, NaN metrics), and write the priorities back. Returns the state (memory, key and opt_step
    updated; the algorithm writes its trainable part), what the training changed, and the frame before."""
    frame_before = state.frame
    state, transitions = collect(static, state, choose_action, action_keys)
    flat = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), transitions)
    hp = state.hp.replay
    state = state.replace(
        memory=replay.add(state.memory, flat, replay.new_priority(hp.priority_alpha, hp.priority_epsilon))
    )

    key, train_key = jax.random.split(state.key)
    ready = state.frame > static.replay.training_start_step
    learned = jax.lax.cond(ready, train, skipped, state.replace(key=train_key))
    state = state.replace(
        memory=memory_at(state, learned),
        key=key,
        opt_step=state.opt_step + jnp.where(ready, grad_steps, 0),
    )
    return state, learned, frame_before


def learned_start(state: Any, trainable: Any, metrics: dict) -> Learned:
    """The start of a training: `trainable` and the memory's priorities and CER count as they are."""
    return Learned(trainable, state.memory.priority, state.memory.replayed, metrics)


def untrained(state: Any, trainable: Any, metric_names: tuple[str, ...]) -> Learned:
    """What a training that did not happen leaves: `trainable` as it is, NaN metrics."""
    return learned_start(state, trainable, {name: jnp.asarray(jnp.nan) for name in metric_names})


def memory_at(state: Any, learned: Learned) -> replay.Memory:
    """The state's memory with the priorities and CER count a training has reached so far."""
    return state.memory.replace(priority=learned.priority, replayed=learned.replayed)


def draw(static: OffPolicyStatic, state: Any, learned: Learned, key: jax.Array):
    """One batch from the memory as the training has left it: (batch, index, weight, memory, learned with
    CER's count moved on)."""
    memory = memory_at(state, learned)
    batch, index, weight, memory = replay.sample(
        memory,
        key,
        static.replay.batch_size,
        static.replay.beta(state.hp.replay, state.frame),
        static.replay.use_cer,
    )
    return batch, index, weight, memory, learned.replace(replayed=memory.replayed)


def write_priorities(
    static: OffPolicyStatic,
    learned: Learned,
    memory: replay.Memory,
    index: jax.Array,
    abs_td: jax.Array,
    hp: ReplayHParams,
) -> Learned:
    """PER: the sampled slots' new priorities from |td| [B]; uniform replay: unchanged."""
    if not static.replay.prioritized:
        return learned
    memory = replay.update_priorities(memory, index, abs_td, hp.priority_alpha, hp.priority_epsilon)
    return learned.replace(priority=memory.priority)


def polyak(target: Any, online: Any, coef: jax.Array) -> Any:
    """target <- coef * online + (1 - coef) * target (SLM Lab's polyak_update: coef is the online net's
    weight)."""
    return jax.tree.map(lambda t, o: coef * o + (1.0 - coef) * t, target, online)


def follow(
    target: Any,
    online: Any,
    frame_before: jax.Array,
    static: OffPolicyStatic,
    polyak_update: bool,
    update_frequency: int,
    coef: jax.Array,
) -> Any:
    """The target net after an update's vector steps, SLM Lab's `update_target_net` at each of them: polyak
    every vector step; a copy (`replace`) at a step whose frame count is within num_envs past a multiple of
    update_frequency."""
    num_envs, steps = static.env.num_envs, static.replay.vector_steps
    if polyak_update:
        keep = (1.0 - coef) ** steps  # `steps` polyak steps towards the same online net
        return polyak(target, online, 1.0 - keep)
    frames = frame_before + num_envs * jnp.arange(1, steps + 1)
    copy = jnp.any(frames % update_frequency < num_envs)
    return jax.tree.map(lambda t, o: jnp.where(copy, o, t), target, online)
