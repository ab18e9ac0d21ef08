"""GAE, n-step and Monte-Carlo returns on hand-worked numbers: termination cuts the bootstrap, truncation
bootstraps from V(final_obs); and, over several envs, each env's returns are its own ([T, E]: a time/env
axis mix-up would be invisible with one env)."""

import jax.numpy as jnp
import numpy as np

from jaxlab.algos.returns import discounted_returns, gae, nstep_returns


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
    np.testing.assert_allclose(target[:, 0], np.array([a0, a1, a2]) + np.array([0.5, 1.0, 1.5]), rtol=1e-6)


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


def test_nstep_returns_stop_at_truncation_with_its_bootstrap_and_at_termination_without():
    rewards = column([1.0, 2.0, 3.0, 4.0])
    next_values = column([10.0, 20.0, 30.0, 40.0])  # step 1 truncated: 20 is V(final_obs)
    terminated = column([False, False, True, False], bool)
    truncated = column([False, True, False, False], bool)
    returns = nstep_returns(rewards, next_values, terminated, truncated, 0.5, num_steps=3)
    # t=0: 1 + 0.5 * 2 + 0.25 * V(final_obs of step 1) = 7, and not on into the next episode's rewards.
    # t=1: 2 + 0.5 * 20 = 12. t=2: terminated, 3 with no bootstrap. t=3: the rollout's end, 4 + 0.5 * 40.
    np.testing.assert_allclose(returns[:, 0], [7.0, 12.0, 3.0, 24.0], rtol=1e-6)


def test_nstep_returns_without_episode_ends():
    rewards, next_values = column([1.0, 2.0, 3.0]), column([10.0, 20.0, 30.0])
    no = column([False] * 3, bool)
    two_step = nstep_returns(rewards, next_values, no, no, 0.5, num_steps=2)
    np.testing.assert_allclose(
        two_step[:, 0], [1 + 1 + 0.25 * 20, 2 + 1.5 + 0.25 * 30, 3 + 0.5 * 30], rtol=1e-6
    )
    one_step = nstep_returns(rewards, next_values, no, no, 0.5, num_steps=1)
    np.testing.assert_allclose(one_step, rewards + 0.5 * next_values, rtol=1e-6)
    # n beyond the rollout: every step bootstraps from V of the observation after the last step.
    whole = nstep_returns(rewards, next_values, no, no, 0.5, num_steps=10)
    np.testing.assert_allclose(
        whole[:, 0], [1 + 1 + 0.75 + 0.125 * 30, 2 + 1.5 + 0.25 * 30, 3 + 15], rtol=1e-6
    )


def test_monte_carlo_returns_restart_at_episode_ends_and_stop_at_the_rollout_end():
    rewards = jnp.ones((5, 2))
    done = jnp.asarray([[False, False], [True, False], [False, False], [False, True], [False, False]])
    returns = discounted_returns(rewards, done, 0.5)
    np.testing.assert_allclose(returns[:, 0], [1.5, 1.0, 1.75, 1.5, 1.0], rtol=1e-6)
    np.testing.assert_allclose(returns[:, 1], [1.875, 1.75, 1.5, 1.0, 1.0], rtol=1e-6)


def three_envs():
    """[T=3, E=3]: env 0 runs on, env 1 terminates at step 0, env 2 is truncated at step 1; rewards differ by
    env (1, 10, 100) so that a mix-up of the axes shows."""
    rewards = jnp.asarray([[1.0, 10.0, 100.0]] * 3)
    values = jnp.zeros((3, 3))
    next_values = jnp.asarray([[2.0, 20.0, 200.0]] * 3)
    terminated = jnp.asarray([[False, True, False], [False, False, False], [False, False, False]])
    truncated = jnp.asarray([[False, False, False], [False, False, True], [False, False, False]])
    return rewards, values, next_values, terminated, truncated


def test_gae_over_several_envs_keeps_each_env_to_itself():
    rewards, values, next_values, terminated, truncated = three_envs()
    adv, _ = gae(rewards, values, next_values, terminated, truncated, 0.5, 1.0)
    for env, (reward, bootstrap) in enumerate([(1.0, 2.0), (10.0, 20.0), (100.0, 200.0)]):
        delta = np.full(3, reward + 0.5 * bootstrap)
        if env == 1:
            delta[0] = reward  # terminated: no bootstrap, and the trace is cut there
        expected = np.zeros(3)
        for t in (2, 1, 0):
            cut = (env == 1 and t == 0) or (env == 2 and t == 1)
            expected[t] = delta[t] + (0.0 if cut or t == 2 else 0.5 * expected[t + 1])
        np.testing.assert_allclose(adv[:, env], expected, rtol=1e-6, err_msg=f"env {env}")


def test_nstep_returns_over_several_envs_keep_each_env_to_itself():
    rewards, _, next_values, terminated, truncated = three_envs()
    returns = nstep_returns(rewards, next_values, terminated, truncated, 0.5, num_steps=2)
    np.testing.assert_allclose(
        returns[:, 0], [1 + 0.5 + 0.25 * 2, 1 + 0.5 + 0.25 * 2, 1 + 0.5 * 2], rtol=1e-6
    )
    np.testing.assert_allclose(returns[:, 1], [10, 10 + 5 + 0.25 * 20, 10 + 0.5 * 20], rtol=1e-6)
    np.testing.assert_allclose(
        returns[:, 2], [100 + 50 + 0.25 * 200, 100 + 0.5 * 200, 100 + 0.5 * 200], rtol=1e-6
    )
