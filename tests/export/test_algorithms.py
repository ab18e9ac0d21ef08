"""Every algorithm's exported networks: each `.pt`, loaded into the torch module that `jaxlab.export` builds
from the trial spec's description, gives its Flax network's outputs; and the loaded policy acts as the
algorithm's own deterministic `act`."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jaxlab.export import build_network, load_policy
from jaxlab.io import checkpoints
from jaxlab.io.paths import RunPaths
from tests.helpers import built_from
from tests.specs import tiny_dqn, tiny_pg_spec, tiny_sac, tiny_sarsa, tiny_spec


def _with_net(raw: dict, **net) -> dict:
    raw["agent"]["net"].update(net)
    return raw


def _minatar_ddqn() -> dict:
    raw = _with_net(tiny_dqn(name="DoubleDQN"), type="DuelingConvNet", conv_hid_layers=[[4, 3, 1]])
    raw["env"]["name"] = "Breakout-MinAtar"
    return raw


CASES = {
    "ppo": tiny_spec(),
    "ppo_shared": _with_net(tiny_spec(), shared=True),
    "ppo_continuous_normalised": tiny_spec(env={"name": "Pendulum-v1", "normalize_obs": True}),
    "a2c_continuous": tiny_pg_spec({"name": "ActorCritic", "lam": 0.95}, env="Pendulum-v1"),
    "reinforce": tiny_pg_spec({"name": "Reinforce"}),
    "dqn_dueling": _with_net(tiny_dqn(), type="DuelingMLPNet", hid_layers_activation="tanh"),
    "ddqn_minatar_conv": _minatar_ddqn(),
    "sac_continuous": tiny_sac(),
    "sac_discrete": tiny_sac(env="CartPole-v1"),
    "sarsa": tiny_sarsa(),
}


def exported_run(tmp_path, raw: dict, seed: int = 0):
    """A run folder holding the trial spec and the `.pt` files of the spec's algorithm with randomised
    parameters (the real initial ones have a 0.01-gain policy head that makes parity nearly trivial), and
    random observation statistics when observations are normalised. Returns (built, params, obs_stats,
    run)."""
    validated, built = built_from(raw)
    state = built.algo.init(built.static, jax.random.PRNGKey(seed), built.hp)
    rng = np.random.default_rng(seed)
    params = jax.tree.map(lambda x: (0.5 * rng.normal(size=x.shape)).astype(np.float32), state.params)
    obs_stats = state.env_state.obs_stats
    if obs_stats is not None:
        obs_stats = obs_stats.replace(
            mean=rng.normal(size=obs_stats.mean.shape), var=rng.uniform(0.5, 2, obs_stats.var.shape)
        )
    run = tmp_path / "demo_2024_01_01_000000"
    (run / "model").mkdir(parents=True)
    trial_spec = {**validated, "name": "demo", "meta": {**validated["meta"], **built.description()}}
    (run / "demo_t0_spec.json").write_text(json.dumps(trial_spec))
    checkpoints.save_networks(RunPaths(str(run), "demo"), 0, 0, built.algo.nets(params), obs_stats)
    return built, params, obs_stats, run


def random_obs(built, count: int = 6) -> np.ndarray:
    return np.random.default_rng(1).normal(size=(count, *built.static.env.obs_shape)).astype(np.float32)


@pytest.mark.parametrize("case", CASES)
def test_every_exported_network_gives_its_flax_networks_outputs(tmp_path, case):
    built, params, obs_stats, run = exported_run(tmp_path, CASES[case])
    meta = json.loads((run / "demo_t0_spec.json").read_text())["meta"]
    obs = random_obs(built)
    flax_obs = (
        obs if obs_stats is None else np.clip((obs - obs_stats.mean) / np.sqrt(obs_stats.var + 1e-8), -10, 10)
    )
    modules = built.algo.networks(built.static)
    for name, variables in built.algo.nets(params).items():
        torch_net = build_network(meta["networks"][name], meta["observation_shape"], obs_stats is not None)
        torch_net.load_state_dict(
            torch.load(run / "model" / f"demo_t0_s0_{name}_model.pt", weights_only=True)
        )
        inputs = [obs]
        if meta["networks"][name]["module"] == "StateActionQNet":
            inputs.append(
                np.random.default_rng(2)
                .uniform(-2, 2, (len(obs), built.static.env.action_dim))
                .astype(np.float32)
            )
        with torch.no_grad():
            got = torch_net(*map(torch.from_numpy, inputs))
        expected = modules[name].apply(variables, flax_obs, *inputs[1:])
        for g, e in zip(jax.tree.leaves(got), jax.tree.leaves(expected), strict=True):
            # Random 0.5-scale weights give outputs in the tens: compare to float32 precision, relatively.
            np.testing.assert_allclose(
                g.detach().numpy(), np.broadcast_to(e, g.shape), atol=1e-4, rtol=1e-5, err_msg=name
            )


@pytest.mark.parametrize("case", CASES)
def test_the_loaded_policy_acts_as_the_algorithm(tmp_path, case):
    built, params, obs_stats, run = exported_run(tmp_path, CASES[case])
    policy = load_policy(run / "model" / "demo_t0_s0_net_model.pt")
    obs = random_obs(built, 64)
    flax_obs = (
        obs if obs_stats is None else np.clip((obs - obs_stats.mean) / np.sqrt(obs_stats.var + 1e-8), -10, 10)
    )
    expected = np.asarray(built.algo.act(built.static, built.hp, params, jnp.asarray(flax_obs), None, False))
    got = policy(obs)
    env = built.static.env
    if env.discrete:
        np.testing.assert_array_equal(got, expected)
        assert len(set(got.tolist())) > 1  # the parity is not between constant actions
    else:  # the policy acts in [-1, 1]; the loaded policy gives the env's action
        np.testing.assert_allclose(got, np.asarray(env.to_env_action(jnp.asarray(expected))), atol=1e-5)
