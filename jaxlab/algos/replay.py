"""Replay memory on the device, inside one session's train state: a ring buffer of transitions with
uniform or prioritized (PER) sampling and SLM Lab's combined experience replay (CER). Pure functions over a
`Memory` pytree, so it vmaps over sessions.

    memory = replay.init(max_size, example, prioritized)      # example: one Transition, no leading axis
    memory = replay.add(memory, transitions, new_priority)    # transitions: leaves [K, ...], K <= max_size
    batch, index, weight, memory = replay.sample(memory, key, batch_size, beta, use_cer)
    memory = replay.update_priorities(memory, index, abs_td, alpha, epsilon)   # PER only

Observations are stored in the example's dtype (`VecEnv.obs_storage_dtype`: uint8 for MinAtar's 0/1 frames)
and come back from `sample` as float32.

Prioritized replay (Schaul et al. 2016), proportional variant, as SLM Lab's PrioritizedReplay: slot i has
priority p_i = (|td_i| + epsilon)^alpha and is drawn with P(i) = p_i / sum_j p_j, by descending a sum tree of
fan-out 64 rebuilt from the priorities at each draw (a few reductions; a cumulative sum over max_size was ~15x
slower on XLA:CPU). A new transition gets SLM Lab's priority (100000 + epsilon)^alpha, so it is drawn soon.
SLM Lab's loss has no importance-sampling weights; with `memory.beta` set (jaxlab's option) the weight
w_i = (p_min / p_i)^beta corrects the sampling bias, beta annealed to 1 at the last frame.

CER (`use_cer`, de Bruin et al.'s combined experience replay as SLM Lab does it): each draw replaces the end
of the batch with the transitions added since the last draw, oldest first, at most a batch of them; those
left over wait for the next draw.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from jaxlab.schema import choice, flag, integer, real

FANOUT = 64  # children per node of the PER sum tree
NEW_ERROR = 100_000.0  # SLM Lab's |td| of a transition not yet trained on

# `agent.memory`: SLM Lab's replay memories, Replay and PrioritizedReplay.
MEMORY_SCHEMA = {
    "name": choice("Replay", "Replay", "PrioritizedReplay"),
    "batch_size": integer(32, 1),
    "max_size": integer(10_000, 1),
    "alpha": real(0.6, 0.0),  # PrioritizedReplay: priority exponent
    "epsilon": real(1e-4, 0.0, low_open=True),  # PrioritizedReplay: added to |td|
    "use_cer": flag(False),
    # PrioritizedReplay, jaxlab's option: the IS-weight exponent at frame 0, annealed to 1 at max_frame;
    # null (SLM Lab's way): no weights
    "beta": real(None, 0.0, 1.0, nullable=True),
}


@struct.dataclass
class Transition:
    """One step of experience; in a `Memory` every leaf has a leading [max_size] axis."""

    obs: jax.Array  # [*obs_shape], storage dtype
    action: jax.Array  # [] int32 (discrete) or [D] float32
    reward: jax.Array  # [] float32
    next_obs: jax.Array  # [*obs_shape]: the pre-reset final observation where the episode ended
    terminated: jax.Array  # [] bool: no bootstrap from next_obs
    truncated: jax.Array  # [] bool: time limit, bootstrap from next_obs


@struct.dataclass
class Memory:
    data: Transition  # leaves [max_size, ...]
    head: jax.Array  # int32, the slot the next transition goes to
    size: jax.Array  # int32, filled slots (max_size once the ring has wrapped)
    priority: (
        jax.Array | None
    )  # [max_size padded] p_i = (|td_i| + eps)^alpha, 0 in empty slots; None: uniform
    added: jax.Array  # int32, transitions added so far
    replayed: jax.Array  # int32, of those, how many CER has put in a batch


def init(max_size: int, example: Transition, prioritized: bool) -> Memory:
    """An empty memory of `max_size` slots shaped and typed like `example` (one transition)."""
    data = jax.tree.map(lambda x: jnp.zeros((max_size, *jnp.shape(x)), jnp.asarray(x).dtype), example)
    return Memory(
        data=data,
        head=jnp.zeros((), jnp.int32),
        size=jnp.zeros((), jnp.int32),
        # Padded to whole groups of the sum tree; the padding slots stay 0 and are never drawn.
        priority=jnp.zeros(-(-max_size // FANOUT) * FANOUT, jnp.float32) if prioritized else None,
        added=jnp.zeros((), jnp.int32),
        replayed=jnp.zeros((), jnp.int32),
    )


def capacity(memory: Memory) -> int:
    """max_size, the number of slots."""
    return memory.data.reward.shape[-1]


def new_priority(alpha: jax.Array, epsilon: jax.Array) -> jax.Array:
    """The priority of a transition not yet trained on, SLM Lab's (NEW_ERROR + epsilon)^alpha."""
    return (NEW_ERROR + epsilon) ** alpha


def add(memory: Memory, transitions: Transition, priority: jax.Array | None = None) -> Memory:
    """Write K transitions (leaves [K, ...]) at the head of the ring, overwriting the oldest when full.
    Observations are cast to the memory's storage dtype; under PER new slots get `priority`."""
    slots_total, count = capacity(memory), transitions.reward.shape[0]
    assert count <= slots_total, f"adding {count} transitions at once to a memory of {slots_total} slots"
    slots = (memory.head + jnp.arange(count)) % slots_total
    data = jax.tree.map(lambda buf, x: buf.at[slots].set(x.astype(buf.dtype)), memory.data, transitions)
    memory = memory.replace(
        data=data,
        head=(memory.head + count) % slots_total,
        size=jnp.minimum(memory.size + count, slots_total),
        added=memory.added + count,
    )
    if memory.priority is None:
        return memory
    return memory.replace(priority=memory.priority.at[slots].set(priority))


def sample(
    memory: Memory, key: jax.Array, batch_size: int, beta: jax.Array | None, use_cer: bool = False
) -> tuple[Transition, jax.Array, jax.Array, Memory]:
    """`batch_size` transitions drawn with replacement: uniformly, or with P(i) = p_i / sum p under PER;
    with `use_cer` the batch ends with the transitions added since the last draw. Returns (batch with float32
    observations, slot indices [B] int32, importance weights [B]: ones unless PER has a `beta`, the memory
    with CER's count moved on). On an empty memory it returns slot 0."""
    if memory.priority is None:
        index = jax.random.randint(key, (batch_size,), 0, jnp.maximum(memory.size, 1))
    else:
        index = _prioritized_index(memory, key, batch_size)
    weight = jnp.ones(batch_size, jnp.float32) if beta is None else _is_weights(memory, index, beta)
    if use_cer:
        index, memory = _combine_recent(memory, index)
    batch = jax.tree.map(lambda buf: buf[index], memory.data)
    batch = batch.replace(obs=batch.obs.astype(jnp.float32), next_obs=batch.next_obs.astype(jnp.float32))
    return batch, index, weight, memory


def _combine_recent(memory: Memory, index: jax.Array) -> tuple[jax.Array, Memory]:
    """CER: the last `new` batch entries become the oldest `new` transitions not yet replayed."""
    batch_size, slots_total = index.shape[0], capacity(memory)
    new = jnp.minimum(jnp.minimum(memory.added - memory.replayed, batch_size), memory.size)
    position = jnp.arange(batch_size) - (batch_size - new)  # which of the new ones goes at each entry
    recent = (memory.replayed + position) % slots_total
    return jnp.where(position >= 0, recent, index), memory.replace(replayed=memory.replayed + new)


def _groups(nodes: jax.Array) -> jax.Array:
    """Nodes [M] as rows of FANOUT siblings [ceil(M / FANOUT), FANOUT], zero-padded."""
    pad = -nodes.shape[0] % FANOUT
    return (jnp.pad(nodes, (0, pad)) if pad else nodes).reshape(-1, FANOUT)


def _sum_levels(priority: jax.Array) -> list[jax.Array]:
    """The sum tree of the priorities, leaves first: each level sums FANOUT nodes of the one below, up to a
    single group of at most FANOUT nodes. Rebuilt by a few reductions at each draw: O(max_size) vectorised
    work, with no incremental bookkeeping to keep in step with the leaves."""
    levels = [priority]
    while levels[-1].shape[0] > FANOUT:
        levels.append(_groups(levels[-1]).sum(1))
    return levels


def _prioritized_index(memory: Memory, key: jax.Array, batch_size: int) -> jax.Array:
    """Draw slots with P(i) = p_i / sum p by descending the sum tree: at each level, pick the child whose
    span of the cumulative sum holds the target, and carry on with the remainder inside that child."""
    levels = _sum_levels(memory.priority)
    target = jax.random.uniform(key, (batch_size,)) * levels[-1].sum()
    node = jnp.zeros(batch_size, jnp.int32)
    inclusive_sum = jnp.triu(jnp.ones((FANOUT, FANOUT), jnp.float32))  # rows @ it: running sums along the row
    for level in reversed(levels):
        children = _groups(level)[node]  # [B, FANOUT]
        running = jnp.matmul(children, inclusive_sum, precision=jax.lax.Precision.HIGHEST)
        # The child whose span [running - child, running) holds the target; empty children own nothing.
        child = jnp.minimum((running <= target[:, None]).sum(1), FANOUT - 1)
        target = target - jnp.take_along_axis(running - children, child[:, None], axis=1)[:, 0]
        node = node * FANOUT + child
    # Rounding can carry a target that equals the total past the last filled slot.
    return jnp.minimum(node, jnp.maximum(memory.size, 1) - 1)


def _is_weights(memory: Memory, index: jax.Array, beta: jax.Array) -> jax.Array:
    """(p_min / p_i)^beta: the importance-sampling weights of PER draws, scaled so the largest possible is
    1."""
    filled = jnp.arange(memory.priority.shape[0]) < memory.size
    p_min = jnp.min(jnp.where(filled, memory.priority, jnp.inf))
    return (p_min / memory.priority[index]) ** beta


def update_priorities(
    memory: Memory, index: jax.Array, abs_td: jax.Array, alpha: jax.Array, epsilon: jax.Array
) -> Memory:
    """PER: set p_i = (|td_i| + epsilon)^alpha for the sampled slots `index` [B] (a slot drawn twice keeps
    one of its values)."""
    return memory.replace(priority=memory.priority.at[index].set((abs_td + epsilon) ** alpha))


def annealed_beta(beta: jax.Array, frame: jax.Array, max_frame: int) -> jax.Array:
    """PER's importance-sampling exponent at `frame`: `memory.beta` rising linearly to 1 at max_frame."""
    progress = jnp.minimum(jnp.asarray(frame, jnp.float32) / max_frame, 1.0)
    return beta + (1.0 - beta) * progress
