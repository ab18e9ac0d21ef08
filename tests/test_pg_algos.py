"""REINFORCE and A2C: their returns on hand-worked numbers, tiny training runs, spec errors, and the
exported policy against the JAX one."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jaxlab.io.paths import RunPaths
from jaxlab import experiment, spec
from jaxlab.algos.actor_critic import policy as policy_output
from jaxlab.algos.returns import discounted_returns, nstep_returns
from jaxlab.export import load_policy
from jaxlab.io import checkpoints
from tests.test_training import run_rows


def column(values, dtype=jnp.float32):
    return jnp.asarray(values, dtype)[:, None]  # [T, E=1]


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


def test_reinforce_returns_restart_at_episode_ends_and_stop_at_the_rollout_end():
    rewards = jnp.ones((5, 2))
    done = jnp.asarray([[False, False], [True, False], [False, False], [False, True], [False, False]])
    returns = discounted_returns(rewards, done, 0.5)
    np.testing.assert_allclose(returns[:, 0], [1.5, 1.0, 1.75, 1.5, 1.0], rtol=1e-6)
    np.testing.assert_allclose(returns[:, 1], [1.875, 1.75, 1.5, 1.0, 1.0], rtol=1e-6)


def tiny_pg_spec(algorithm: dict, env: str = "CartPole-v1", **net) -> dict:
    return {
        "name": "tiny",
        "agent": {
            "algorithm": algorithm,
            "net": {"hid_layers": [16], "optim_spec": {"name": "Adam", "lr": 1e-3}, **net},
        },
        "env": {"name": env, "num_envs": 4, "max_frame": 1024},
        "meta": {"max_session": 2, "log_frequency": 128},
    }


TINY_RUNS = {
    "reinforce": tiny_pg_spec({"name": "REINFORCE", "training_frequency": 16}),
    "a2c_gae_pendulum": tiny_pg_spec({"name": "A2C", "training_frequency": 8}, env="Pendulum-v1"),
    "a2c_nstep_shared": tiny_pg_spec(
        {"name": "A2C", "training_frequency": 8, "lam": None, "num_step_returns": 4}, shared=True
    ),
}


@pytest.mark.parametrize("case", TINY_RUNS)
def test_tiny_runs_give_finite_rows(case):
    rows = run_rows(TINY_RUNS[case], [8])
    assert rows["frame"][-1].tolist() == [1024, 1024]
    # One gradient step per update: 1024 frames / (frames per update).
    frames_per_update = TINY_RUNS[case]["agent"]["algorithm"]["training_frequency"] * 4
    assert rows["opt_step"][-1].tolist() == [1024 // frames_per_update] * 2
    for key in ("loss", "entropy", "lr"):
        assert np.isfinite(rows[key]).all(), key
    assert not np.allclose(rows["loss"][:, 0], rows["loss"][:, 1])  # sessions differ


@pytest.mark.parametrize(
    "algorithm, net, message",
    [
        ({"name": "REINFORCE"}, {"shared": True}, "REINFORCE has no critic"),
        ({"name": "A2C", "lam": 0.9, "num_step_returns": 5}, {}, "exactly one of lam"),
        ({"name": "A2C", "lam": None}, {}, "exactly one of lam"),
        ({"name": "A2C", "time_horizon": 32}, {}, "unknown key agent.algorithm.time_horizon"),
    ],
)
def test_spec_errors_are_one_line(algorithm, net, message):
    with pytest.raises(spec.SpecError, match=message) as info:
        spec.validate(tiny_pg_spec(algorithm, **net))
    assert "\n" not in str(info.value)


def exported_run(tmp_path, raw: dict, seed: int = 0):
    """A run folder holding the trial spec and the `.pt` files of the spec's algorithm with randomised
    parameters (its real initial ones have a 0.01-gain policy head that makes parity nearly trivial).
    Returns (algorithm module, static, params, run folder)."""
    validated = spec.validate(raw)
    built = experiment.build_engine(validated)
    static = built.engine.static
    params = built.algo.init(static, jax.random.PRNGKey(seed), built.hp).params
    rng = np.random.default_rng(seed)
    params = jax.tree.map(lambda x: (0.5 * rng.normal(size=x.shape)).astype(np.float32), params)
    run = tmp_path / "demo_2024_01_01_000000"
    (run / "model").mkdir(parents=True)
    trial_spec = {**validated, "name": "demo", "meta": {**validated["meta"], **built.env.spaces()}}
    (run / "demo_t0_spec.json").write_text(json.dumps(trial_spec))
    checkpoints.save_networks(RunPaths(str(run), "demo"), 0, 0, built.algo.nets(params))
    return built.algo, static, params, run


def random_obs(static, count: int = 6) -> np.ndarray:
    return np.random.default_rng(1).normal(size=(count, *static.env.obs_shape)).astype(np.float32)


@pytest.mark.parametrize(
    "raw",
    [
        tiny_pg_spec({"name": "REINFORCE"}),
        tiny_pg_spec({"name": "A2C"}, env="Pendulum-v1"),
        tiny_pg_spec({"name": "A2C"}, shared=True),
    ],
    ids=["reinforce_discrete", "a2c_continuous", "a2c_shared"],
)
def test_load_policy_acts_like_the_jax_policy(tmp_path, raw):
    algo, static, params, run = exported_run(tmp_path, raw)
    policy = load_policy(str(run / "model" / "demo_t0_s0_net_model.pt"))
    obs = random_obs(static)
    expected = algo.act(static, params, jnp.asarray(obs), jax.random.PRNGKey(0), explore=False)
    with torch.no_grad():
        got = policy(torch.from_numpy(obs)).numpy()
    policy_out = policy_output(static, params, jnp.asarray(obs))
    if static.env.discrete:
        np.testing.assert_array_equal(got, np.asarray(expected))
        np.testing.assert_allclose(policy.output(obs), policy_out, atol=1e-5)
        assert np.ptp(np.asarray(policy_out)) > 0.1  # the parity is not between near-constant logits
    else:
        np.testing.assert_allclose(got, np.clip(np.asarray(expected), -2.0, 2.0), atol=1e-5)
        mean, log_std = policy.output(obs)
        np.testing.assert_allclose(mean, policy_out[0], atol=1e-5)
        np.testing.assert_allclose(log_std, np.broadcast_to(policy_out[1], mean.shape), atol=1e-6)
