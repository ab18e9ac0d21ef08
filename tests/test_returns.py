"""GAE on hand-worked numbers: termination cuts the bootstrap, truncation bootstraps from V(final_obs)."""

import jax.numpy as jnp
import numpy as np

from jaxlab.algos.returns import gae


def column(values, dtype=jnp.float32):
    return jnp.asarray(values, dtype)[:, None]  # [T, E=1]


def test_gae_without_episode_ends_matches_the_recursion():
    rewards, values, next_values = column([1.0, 2.0, 3.0]), column([0.5, 1.0, 1.5]), column([1.0, 1.5, 2.0])
    no = column([False] * 3, bool)
    adv, target = gae(rewards, values, next_values, no, no, 0.9, 0.8)
    d = [1 + 0.9 * 1.0 - 0.5, 2 + 0.9 * 1.5 - 1.0, 3 + 0.9 * 2.0 - 1.5]
    a2 = d[2]
    a1 = d[1] + 0.72 * a2
    a0 = d[0] + 0.72 * a1
    np.testing.assert_allclose(adv[:, 0], [a0, a1, a2], rtol=1e-6)
    np.testing.assert_allclose(target[:, 0], np.array([a0, a1, a2]) + [0.5, 1.0, 1.5], rtol=1e-6)


def test_termination_does_not_bootstrap_and_cuts_the_trace():
    rewards, values = column([1.0, 1.0]), column([0.0, 0.0])
    next_values = column([5.0, 7.0])  # V after step 0 would be 5, but step 0 terminated
    terminated, truncated = column([True, False], bool), column([False, False], bool)
    adv, _ = gae(rewards, values, next_values, terminated, truncated, 0.5, 1.0)
    np.testing.assert_allclose(adv[:, 0], [1.0, 1.0 + 0.5 * 7.0], rtol=1e-6)


def test_truncation_bootstraps_from_final_value_but_cuts_the_trace():
    rewards, values = column([1.0, 1.0]), column([0.0, 0.0])
    next_values = column([4.0, 2.0])  # step 0 truncated: 4.0 is V(final_obs)
    terminated, truncated = column([False, False], bool), column([True, False], bool)
    adv, _ = gae(rewards, values, next_values, terminated, truncated, 0.5, 1.0)
    # Step 0: 1 + 0.5 * 4 = 3, not followed by step 1's advantage (2.0) since the episode ended.
    np.testing.assert_allclose(adv[:, 0], [3.0, 2.0], rtol=1e-6)
