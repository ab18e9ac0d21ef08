"""The vectorised env wrapper: episode statistics, terminated vs truncated, normalisation."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxlab import envs
from jaxlab.envs.wrappers import RECENT_EPISODES, EpisodeStats, RunningMeanStd

ENV = {
    "name": "CartPole-v1",
    "num_envs": 3,
    "max_frame": 1000,
    "normalize_obs": False,
    "normalize_reward": False,
}


def test_episode_ring_keeps_the_last_100_returns_in_order():
    stats = EpisodeStats.create(2, RECENT_EPISODES)
    for i in range(60):  # both envs finish an episode every step with returns i and i + 1000
        stats = stats.record(jnp.array([i, i + 1000.0]), jnp.array([True, True]))
    assert int(stats.episodes) == 120
    kept = np.sort(np.asarray(stats.recent_returns))
    expected = np.sort([r for i in range(10, 60) for r in (i, i + 1000.0)])
    np.testing.assert_array_equal(kept, expected)
    np.testing.assert_allclose(float(stats.mean_recent_return()), expected.mean())


def test_returns_as_they_stood_at_an_earlier_step():
    """A ring longer than 100 answers total_reward at a step inside the update: the last <= 100 episodes
    finished by then, and how many had."""
    stats = EpisodeStats.create(1, RECENT_EPISODES + 50)
    for i in range(130):  # one episode a step, of return i
        stats = stats.record(jnp.array([float(i)]), jnp.array([True]))
    assert int(stats.episodes_at(120)) == 120 and int(stats.episodes_at(130)) == 130
    np.testing.assert_allclose(float(stats.mean_return_at(120)), np.mean(np.arange(20, 120)))
    np.testing.assert_allclose(float(stats.mean_return_at(130)), np.mean(np.arange(30, 130)))
    np.testing.assert_allclose(float(stats.mean_recent_return()), np.mean(np.arange(30, 130)))
    early = EpisodeStats.create(1, RECENT_EPISODES + 50).record(jnp.array([5.0]), jnp.array([False]))
    assert np.isnan(float(early.mean_return_at(1)))


def test_episode_return_accumulates_until_done():
    stats = EpisodeStats.create(2, RECENT_EPISODES)
    stats = stats.record(jnp.array([1.0, 2.0]), jnp.array([False, False]))
    assert np.isnan(float(stats.mean_recent_return()))
    stats = stats.record(jnp.array([1.0, 2.0]), jnp.array([True, False]))
    assert float(stats.mean_recent_return()) == 2.0
    np.testing.assert_array_equal(stats.episode_return, [0.0, 4.0])


def test_cartpole_truncates_at_500_with_final_obs_and_reset():
    env = envs.make(ENV)
    _, state = env.reset(jax.random.PRNGKey(0))
    # Force every env to the last step of its time limit, pole upright: the next step truncates.
    state = state.replace(env_state=state.env_state.replace(time=jnp.full(3, 499)))
    state, step = jax.jit(env.step)(jax.random.PRNGKey(1), state, jnp.zeros(3, jnp.int32))
    assert bool(step.truncated.all()) and not bool(step.terminated.any())
    assert not np.allclose(step.final_obs, step.obs)  # obs is the reset observation
    assert int(state.stats.episodes) == 3


def test_termination_is_not_truncation():
    env = envs.make(ENV)
    _, state = env.reset(jax.random.PRNGKey(0))
    state = state.replace(env_state=state.env_state.replace(theta=jnp.full(3, 0.5)))  # pole fallen
    _, step = env.step(jax.random.PRNGKey(1), state, jnp.zeros(3, jnp.int32))
    assert bool(step.terminated.all()) and not bool(step.truncated.any())


def test_running_mean_std_matches_numpy():
    data = np.random.default_rng(0).normal(3.0, 2.0, size=(300, 2)).astype(np.float32)
    stats = RunningMeanStd.create((2,))
    for batch in np.split(data, 6):
        stats = stats.update(jnp.asarray(batch))
    np.testing.assert_allclose(stats.mean, data.mean(0), rtol=1e-3)
    np.testing.assert_allclose(stats.var, data.var(0), rtol=1e-3)


def test_normalised_observations_use_the_running_statistics_of_the_raw_ones():
    """A normalising env and a raw twin stepped with the same keys and actions see the same raw observations:
    the normalised ones are (raw - mean) / sqrt(var + 1e-8) under the statistics of every raw observation so
    far (the reset's included), and the returns stay raw."""
    spec = {**ENV, "name": "Pendulum-v1"}
    normalised, raw = envs.make({**spec, "normalize_obs": True, "normalize_reward": True}), envs.make(spec)
    (_, state), (raw_obs, raw_state) = (
        normalised.reset(jax.random.PRNGKey(0)),
        raw.reset(jax.random.PRNGKey(0)),
    )
    seen = [raw_obs]
    for i in range(50):
        action = jnp.full((3, 1), 2.0 * np.sin(i))
        state, step = normalised.step(jax.random.PRNGKey(i), state, action)
        raw_state, raw_step = raw.step(jax.random.PRNGKey(i), raw_state, action)
        seen.append(raw_step.final_obs)
    seen = np.concatenate(seen)
    np.testing.assert_allclose(state.obs_stats.mean, seen.mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(state.obs_stats.var, seen.var(0), rtol=1e-3, atol=1e-4)
    expected = (np.asarray(raw_step.obs) - state.obs_stats.mean) / np.sqrt(state.obs_stats.var + 1e-8)
    np.testing.assert_allclose(step.obs, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(state.stats.episode_return, raw_state.stats.episode_return)
    assert not np.allclose(step.reward, raw_step.reward)  # the learning reward is scaled


def test_continuous_actions_are_rescaled_from_minus_one_one_and_clipped_to_the_bounds():
    """SLM Lab's RescaleAction: Pendulum's torque in [-2, 2] is 2 x the policy's action."""
    env = envs.make({**ENV, "name": "Pendulum-v1"})
    actions = jnp.array([[5.0], [-5.0], [0.5], [-1.0]])
    np.testing.assert_allclose(env.to_env_action(actions), [[2.0], [-2.0], [1.0], [-2.0]])


def test_clip_obs_clip_reward_and_max_t():
    """clip_obs / clip_reward bound what the agent sees (10 by default when normalising, as SLM Lab's);
    max_t sets the episode's time limit."""
    env = envs.make({**ENV, "name": "MountainCar-v0", "clip_obs": 0.01, "clip_reward": 0.5, "max_t": 7})
    obs, state = env.reset(jax.random.PRNGKey(0))
    assert float(jnp.abs(obs).max()) <= 0.01
    truncated = []
    for t in range(8):
        state, step = env.step(jax.random.PRNGKey(t), state, jnp.zeros(env.num_envs, jnp.int32))
        assert float(step.reward.min()) == -0.5 and float(jnp.abs(step.obs).max()) <= 0.01
        truncated.append(bool(step.truncated.all()))
    assert truncated.index(True) == 6  # the 7th step ends the episode
    assert float(state.stats.recent_returns[0]) == -7.0  # total_reward is the raw return
    assert envs.reward_clip({"normalize_reward": True, "clip_reward": None}) == (-10.0, 10.0)
    assert envs.reward_clip({"normalize_reward": False, "clip_reward": [-1, 2]}) == (-1.0, 2.0)
    assert envs.obs_clip({"normalize_obs": True, "clip_obs": None}) == 10.0
