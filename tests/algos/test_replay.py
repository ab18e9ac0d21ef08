"""The replay memory: a ring buffer of transitions, uniform and prioritized sampling, SLM Lab's new-entry
priority, importance weights (jaxlab's option), CER, and MinAtar's frames stored as uint8."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxlab import envs
from jaxlab.algos import replay
from jaxlab.devices import tree_bytes


def transitions(values: list[float]) -> replay.Transition:
    """K transitions whose obs and reward both hold `values` (so a slot's content is easy to read back)."""
    v = jnp.asarray(values, jnp.float32)
    return replay.Transition(
        obs=v[:, None],
        action=jnp.zeros(len(values), jnp.int32),
        reward=v,
        next_obs=v[:, None] + 0.5,
        terminated=jnp.zeros(len(values), bool),
        truncated=jnp.zeros(len(values), bool),
    )


def empty_memory(size: int, prioritized: bool) -> replay.Memory:
    return replay.init(size, jax.tree.map(lambda x: x[0], transitions([0.0])), prioritized)


def test_ring_buffer_wraps_around_and_overwrites_the_oldest():
    memory = empty_memory(5, prioritized=False)
    memory = replay.add(memory, transitions([1.0, 2.0, 3.0]))
    assert int(memory.head) == 3 and int(memory.size) == 3
    memory = replay.add(memory, transitions([4.0, 5.0, 6.0, 7.0]))
    assert int(memory.head) == 2 and int(memory.size) == 5
    np.testing.assert_array_equal(memory.data.reward, [6.0, 7.0, 3.0, 4.0, 5.0])
    np.testing.assert_array_equal(memory.data.next_obs[:, 0], [6.5, 7.5, 3.5, 4.5, 5.5])
    batch, index, weight, _ = replay.sample(memory, jax.random.PRNGKey(0), 256, None)
    np.testing.assert_array_equal(batch.reward, memory.data.reward[index])
    assert set(np.asarray(index)) == set(range(5)) and (np.asarray(weight) == 1).all()


def test_uniform_sampling_stays_inside_the_filled_slots():
    memory = replay.add(empty_memory(8, prioritized=False), transitions([1.0, 2.0, 3.0]))
    _, index, _, _ = replay.sample(memory, jax.random.PRNGKey(1), 1000, None)
    assert set(np.asarray(index)) == {0, 1, 2}


def test_minatar_frames_are_stored_as_uint8_and_sampled_back_exactly():
    env = envs.make(
        {"name": "Breakout-MinAtar", "num_envs": 2, "normalize_obs": False, "normalize_reward": False}
    )
    assert env.obs_storage_dtype == jnp.uint8
    obs, _ = env.reset(jax.random.PRNGKey(0))
    example = replay.Transition(
        obs[0].astype(jnp.uint8),
        jnp.int32(0),
        jnp.float32(0),
        obs[0].astype(jnp.uint8),
        jnp.bool_(False),
        jnp.bool_(False),
    )
    memory = replay.init(10, example, prioritized=False)
    assert memory.data.obs.dtype == jnp.uint8
    # 2 x 400 uint8 frames + int32 action + float32 reward + 2 bools per slot, and head/size/added/replayed.
    assert tree_bytes(memory) == 10 * (2 * 400 + 4 + 4 + 2) + 16
    two = replay.Transition(
        obs, jnp.zeros(2, jnp.int32), jnp.zeros(2), obs, jnp.zeros(2, bool), jnp.zeros(2, bool)
    )
    memory = replay.add(memory, two)
    batch, index, _, _ = replay.sample(memory, jax.random.PRNGKey(0), 4, None)
    assert batch.obs.dtype == jnp.float32
    np.testing.assert_array_equal(batch.obs, obs[index])


@pytest.mark.parametrize("slots, filled", [(8, 5), (300, 290)])  # one level of the sum tree; two levels
def test_prioritized_sampling_frequencies_follow_p_alpha_over_the_sum(slots, filled):
    alpha, eps = 0.6, 0.01
    memory = replay.add(empty_memory(slots, prioritized=True), transitions([0.0] * filled), jnp.asarray(1.0))
    abs_td = jnp.asarray(np.random.default_rng(0).exponential(2.0, filled), jnp.float32)
    memory = replay.update_priorities(
        memory, jnp.arange(filled), abs_td, jnp.asarray(alpha), jnp.asarray(eps)
    )
    expected = (np.asarray(abs_td, np.float64) + eps) ** alpha
    expected /= expected.sum()
    draws = 100_000
    _, index, _, _ = replay.sample(memory, jax.random.PRNGKey(0), draws, None)
    frequency = np.bincount(np.asarray(index), minlength=slots) / draws
    assert frequency[filled:].sum() == 0  # empty slots are never drawn
    # within 5 standard errors of a binomial frequency
    np.testing.assert_array_less(
        np.abs(frequency[:filled] - expected), 5 * np.sqrt(expected * (1 - expected) / draws)
    )


def test_prioritized_importance_weights_on_a_hand_computed_case():
    # Priorities (|td| + eps)^alpha with alpha 1, eps 0: p = [1, 2, 4, 1], N = 4, P = p / 8.
    memory = replay.add(empty_memory(6, prioritized=True), transitions([0.0] * 4), jnp.asarray(1.0))
    memory = replay.update_priorities(
        memory, jnp.arange(4), jnp.array([1.0, 2.0, 4.0, 1.0]), jnp.asarray(1.0), jnp.asarray(0.0)
    )
    beta = 0.5
    _, index, weight, _ = replay.sample(memory, jax.random.PRNGKey(3), 64, jnp.asarray(beta))
    # w_i = (N P(i))^-beta / max_j w_j: (4 * [1, 2, 4, 1] / 8)^-0.5 = [1.414, 1, 0.707, 1.414] / 1.414
    by_slot = np.array([1.0, 2.0**-0.5, 0.5, 1.0])
    np.testing.assert_allclose(weight, by_slot[np.asarray(index)], rtol=1e-6)
    assert {0, 1, 2, 3} == set(np.asarray(index))


def test_new_transitions_get_slm_labs_priority():
    """SLM Lab adds a transition with |td| = 100000: priority (100000 + eps)^alpha, whatever was seen."""
    new = replay.new_priority(jnp.asarray(0.5), jnp.asarray(0.0))
    np.testing.assert_allclose(new, 100000**0.5, rtol=1e-6)
    memory = replay.add(empty_memory(4, prioritized=True), transitions([0.0, 0.0]), new)
    memory = replay.update_priorities(
        memory, jnp.array([0, 1]), jnp.array([3.0, 0.5]), jnp.asarray(1.0), jnp.asarray(0.0)
    )
    memory = replay.add(memory, transitions([0.0]), new)
    np.testing.assert_allclose(memory.priority[:4], [3.0, 0.5, float(new), 0.0], rtol=1e-6)


def test_cer_ends_each_batch_with_the_transitions_added_since_the_last_draw():
    """Batch 4: the first draw after 6 additions ends with the 4 oldest of them (a batch at most), the next
    with the 2 left over, then with the 1 added since; a draw with nothing new is all random."""
    memory = replay.add(empty_memory(8, prioritized=False), transitions([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))
    batch, _, _, memory = replay.sample(memory, jax.random.PRNGKey(0), 4, None, use_cer=True)
    np.testing.assert_array_equal(batch.reward, [1.0, 2.0, 3.0, 4.0])
    batch, _, _, memory = replay.sample(memory, jax.random.PRNGKey(1), 4, None, use_cer=True)
    np.testing.assert_array_equal(batch.reward[2:], [5.0, 6.0])
    memory = replay.add(memory, transitions([7.0]))
    batch, _, _, memory = replay.sample(memory, jax.random.PRNGKey(2), 4, None, use_cer=True)
    assert float(batch.reward[3]) == 7.0 and int(memory.replayed) == 7
    batch, index, _, _ = replay.sample(memory, jax.random.PRNGKey(3), 64, None, use_cer=True)
    assert len(set(np.asarray(index).tolist())) > 4  # nothing new: uniform draws
