"""SAC: the squashed Gaussian's log-density against a numerical change of variables, the target update,
tiny training runs (continuous and discrete), the spec's critic_net, and the exported networks."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jaxlab import experiment, spec
from jaxlab.algos import distributions, sac
from jaxlab.export import ExportError, build_network, load_policy
from tests.test_pg_algos import exported_run, random_obs
from tests.test_training import run_rows


def numerical_density(action: np.ndarray, mean: np.ndarray, std: np.ndarray, low, high) -> np.ndarray:
    """The density of low + (tanh(u) + 1) (high - low) / 2 for u ~ N(mean, std), per action dim, as the
    central difference of its CDF F(a) = Phi((atanh(y) - mean) / std), y = (2 a - low - high) / (high - low)."""

    def cdf(a):
        y = (2.0 * a - low - high) / (high - low)
        z = (np.arctanh(y) - mean) / (std * math.sqrt(2.0))
        return 0.5 * (1.0 + np.vectorize(math.erf)(z))

    step = 1e-6 * (high - low)
    return (cdf(action + step) - cdf(action - step)) / (2.0 * step)


def test_squashed_log_prob_is_the_density_of_the_env_action():
    mean = jnp.asarray([[0.3, -1.2], [1.5, 0.0], [-0.4, 0.8]])
    log_std = jnp.asarray([[-0.2, 0.4], [-1.0, 0.1], [0.3, -0.5]])
    low, high = jnp.asarray([-2.0, 0.0]), jnp.asarray([2.0, 5.0])
    for seed in range(4):
        action, log_prob = distributions.squashed_gaussian_sample(
            jax.random.PRNGKey(seed), mean, log_std, low, high
        )
        assert ((action > low) & (action < high)).all()
        a, m, s = (np.asarray(x, np.float64) for x in (action, mean, jnp.exp(log_std)))
        density = numerical_density(a, m, s, np.asarray(low, np.float64), np.asarray(high, np.float64))
        np.testing.assert_allclose(np.asarray(log_prob), np.log(density).sum(-1), rtol=1e-3, atol=1e-3)


def test_tanh_jacobian_stays_finite_where_tanh_saturates():
    pre_tanh = jnp.asarray([[-30.0], [-12.0], [-0.7], [0.0], [2.5], [12.0], [30.0]])
    log_det = np.asarray(distributions.tanh_log_det_jacobian(pre_tanh))
    u = np.asarray(pre_tanh[:, 0], np.float64)
    # float32 tanh rounds to +-1 far out, where log(1 - tanh(u)^2) would be -inf; the exact value is
    # log(4) - 2|u| - 2 log(1 + exp(-2|u|)), written here in float64 to compare.
    assert np.isfinite(log_det).all()
    np.testing.assert_allclose(
        log_det, np.log(4.0) - 2 * np.abs(u) - 2 * np.log1p(np.exp(-2 * np.abs(u))), rtol=1e-5
    )
    np.testing.assert_allclose(log_det[2:5], np.log(1.0 - np.tanh(u[2:5]) ** 2), rtol=1e-5)


def tiny_sac_spec(env: str = "Pendulum-v1", memory: str = "Replay", **algorithm) -> dict:
    return {
        "name": "tiny",
        "agent": {
            "algorithm": {"name": "SAC", "training_start_step": 64, **algorithm},
            "memory": {"name": memory, "batch_size": 32, "max_size": 1000},
            "net": {
                "hid_layers": [16],
                "hid_layers_activation": "relu",
                "optim_spec": {"name": "Adam", "lr": 1e-3},
            },
        },
        "env": {"name": env, "num_envs": 4, "max_frame": 512},
        "meta": {"max_session": 2, "log_frequency": 64},
    }


@pytest.mark.parametrize(
    "raw",
    [tiny_sac_spec(training_iter=2), tiny_sac_spec("CartPole-v1", "PrioritizedReplay")],
    ids=["continuous", "discrete_per"],
)
def test_tiny_runs_give_finite_rows(raw):
    rows = run_rows(raw, [8])
    assert rows["frame"][-1].tolist() == [512, 512]
    # Training starts at frame 64 (after the 16th vector step of 4 envs): 128 - 15 trained updates.
    assert rows["opt_step"][-1].tolist() == [113 * raw["agent"]["algorithm"].get("training_iter", 1)] * 2
    for key in ("loss", "entropy", "alpha", "lr"):
        assert np.isfinite(rows[key]).all(), key
    assert (rows["alpha"][-1] != 1.0).all()  # the temperature learns
    assert not np.allclose(rows["loss"][:, 0], rows["loss"][:, 1])  # sessions differ


def test_one_update_moves_the_targets_by_polyak_averaging():
    raw = tiny_sac_spec(training_start_step=0)
    raw["agent"]["critic_net"] = {**raw["agent"]["net"], "polyak_coef": 0.25}
    built = experiment.build_engine(spec.validate(raw))
    static = built.engine.static
    state = sac.init(static, jax.random.PRNGKey(0), built.hp)
    new_state, metrics = jax.jit(lambda s: sac.update(static, s))(state)
    old, new = state.params, new_state.params
    assert new_state.opt_step == 1 and np.isfinite(metrics["loss"])
    expected = jax.tree.map(
        lambda critic, target: 0.25 * critic + 0.75 * target, new["critic"], old["target_critic"]
    )
    jax.tree.map(lambda e, t: np.testing.assert_allclose(e, t, rtol=1e-6), expected, new["target_critic"])
    assert not np.allclose(jax.tree.leaves(new["critic"])[0], jax.tree.leaves(old["critic"])[0])


def test_critic_net_defaults_to_net_and_can_differ():
    default = spec.validate(tiny_sac_spec())["agent"]
    assert default["critic_net"]["hid_layers"] == default["net"]["hid_layers"] == [16]
    raw = tiny_sac_spec()
    raw["agent"]["critic_net"] = {"hid_layers": [8, 8], "optim_spec": {"name": "Adam", "lr": 3e-3}}
    given = spec.validate(raw)["agent"]["critic_net"]
    assert given["hid_layers"] == [8, 8] and given["optim_spec"]["lr"] == 3e-3
    raw["agent"]["net"]["shared"] = True
    with pytest.raises(spec.SpecError, match="unknown key agent.net.shared"):
        spec.validate(raw)


@pytest.mark.parametrize("env", ["Pendulum-v1", "CartPole-v1"])
def test_exported_actor_and_critic_match_jax(tmp_path, env):
    algo, static, params, run = exported_run(tmp_path, tiny_sac_spec(env))
    policy = load_policy(str(run / "model" / "demo_t0_s0_net_model.pt"))
    obs = random_obs(static)
    expected = algo.act(static, params, jnp.asarray(obs), jax.random.PRNGKey(0), explore=False)
    with torch.no_grad():
        got = policy(torch.from_numpy(obs)).numpy()
    raw_spec = spec.validate(tiny_sac_spec(env))
    spaces = static.env.spaces()
    q1 = build_network(
        raw_spec["agent"]["critic_net"],
        spaces["observation_shape"],
        spaces["action_space"],
        "q1_net",
        algorithm="SAC",
    )
    q1.load_state_dict(
        torch.load(run / "model" / "demo_t0_s0_q1_net_model.pt", weights_only=True), strict=True
    )
    q1_params = jax.tree.map(lambda x: x[0], params["critic"])
    if static.env.discrete:
        np.testing.assert_array_equal(got, np.asarray(expected))
        with torch.no_grad():
            q_values = q1(torch.from_numpy(obs)).numpy()
        np.testing.assert_allclose(q_values, static.critic.apply(q1_params, obs), atol=1e-5)
    else:
        mean = static.actor.apply(params["net"], obs)[0]
        assert (np.abs(mean) > 1.0).any()  # tanh saturates for some: the squashing is exercised
        np.testing.assert_allclose(got, np.asarray(expected), atol=1e-5)
        assert (np.abs(got) <= 2.0).all()
        action = np.array(expected)  # a writable copy for torch.from_numpy
        with torch.no_grad():
            q_values = q1(torch.from_numpy(obs), torch.from_numpy(action)).numpy()
        np.testing.assert_allclose(q_values, static.critic.apply(q1_params, obs, action), atol=1e-5)
    with pytest.raises(ExportError, match="SAC has no V\\(s\\) critic"):
        load_policy(str(run / "model" / "demo_t0_s0_net_model.pt"), with_critic=True)
