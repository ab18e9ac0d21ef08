"""The on-policy plumbing: the bootstrap values over several envs (time and env axes apart), the policy
alone without a critic, and tiny runs of REINFORCE and A2C variants through the engine."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxlab.algos import on_policy, policy_nets
from jaxlab.algos.on_policy import OnPolicyState, Rollout
from tests.helpers import built_from, run_rows
from tests.specs import tiny_pg_spec


def linear_critic_static():
    """A2C on CartPole whose critic has no hidden layers: with the kernel set below, V(s) = s[0]."""
    return built_from(tiny_pg_spec({"name": "ActorCritic", "lam": 0.95}, hid_layers=[]))[1].static


def test_next_values_follow_time_within_each_env_and_bootstrap_truncation_from_the_final_obs():
    """T = 3 steps of E = 2 envs, obs[t, e, 0] = 10 t + e: V after step t is V(obs[t + 1, e]) (the state's obs
    after the last step), but V(final_obs) where env 1 was truncated at step 1."""
    static = linear_critic_static()
    params = {
        "critic_net": {
            "params": {"tails.0": {"kernel": jnp.asarray([[1.0], [0], [0], [0]]), "bias": jnp.zeros(1)}}
        }
    }
    obs = jnp.zeros((3, 2, 4)).at[..., 0].set(10.0 * jnp.arange(3)[:, None] + jnp.arange(2)[None, :])
    final_obs = jnp.full((3, 2, 4), -1.0)
    truncated = jnp.zeros((3, 2), bool).at[1, 1].set(True)
    zeros = jnp.zeros((3, 2))
    rollout = Rollout(obs, zeros, zeros, obs[..., 0], zeros, jnp.zeros((3, 2), bool), truncated, final_obs)
    last = jnp.zeros((2, 4)).at[:, 0].set(jnp.asarray([30.0, 31.0]))
    state = OnPolicyState(params, None, None, last, None, None, None, None, None)
    np.testing.assert_array_equal(
        on_policy.next_values(static, state, rollout), [[10.0, 11.0], [20.0, -1.0], [30.0, 31.0]]
    )


def test_a_policy_without_a_critic_has_zero_values_of_the_batch_shape():
    static = built_from(tiny_pg_spec({"name": "Reinforce"}))[1].static
    params = {"net": static.policy_net.init(jax.random.PRNGKey(0), jnp.zeros(4))}
    _, value = on_policy.policy_and_value(static, params, jnp.zeros((5, 4)))
    assert value.shape == (5,) and not value.any()


TINY_RUNS = {
    "reinforce": tiny_pg_spec({"name": "Reinforce", "training_frequency": 16}),
    "a2c_gae_pendulum": tiny_pg_spec(
        {"name": "ActorCritic", "lam": 0.95, "training_frequency": 8}, env="Pendulum-v1"
    ),
    "a2c_nstep_shared": tiny_pg_spec(
        {"name": "ActorCritic", "training_frequency": 8, "lam": None, "num_step_returns": 4}, shared=True
    ),
}


@pytest.mark.parametrize("case", TINY_RUNS)
def test_tiny_runs_take_one_gradient_step_per_update(case):
    rows = run_rows(TINY_RUNS[case], [8])
    assert rows["frame"][-1].tolist() == [1024, 1024]
    frames_per_update = built_from(TINY_RUNS[case])[1].static.frames_per_update
    np.testing.assert_array_equal(rows["opt_step"][:, 0], rows["frame"][:, 0] // frames_per_update)
    assert not np.allclose(rows["loss"][:, 0], rows["loss"][:, 1])  # sessions differ
    assert len(set(rows["entropy"][:, 0].tolist())) == 8  # the policy changes every checkpoint


def test_actor_and_critic_keys_give_each_network_its_own_settings():
    """SLM Lab's actor_X / critic_X net keys; use_same_optim gives the critic the actor's."""
    net = {
        "actor_optim_spec": {"name": "Adam", "lr": 1e-3},
        "critic_optim_spec": {"name": "RMSprop", "lr": 3e-3},
        "critic_hid_layers": [8],
    }
    validated, built = built_from(tiny_pg_spec({"name": "ActorCritic", "lam": 0.95}, **net))
    settings = dict(built.static.optims)
    assert settings["net"].name == "Adam" and settings["critic_net"].name == "RMSprop"
    np.testing.assert_allclose([built.hp.nets.lr["net"], built.hp.nets.lr["critic_net"]], [1e-3, 3e-3])
    critic = policy_nets.role_spec(validated["agent"]["net"], "critic")
    assert critic["hid_layers"] == [8] and policy_nets.role_spec(validated["agent"]["net"], "actor")[
        "hid_layers"
    ] == [16]
    _, same = built_from(tiny_pg_spec({"name": "ActorCritic", "lam": 0.95}, use_same_optim=True, **net))
    assert dict(same.static.optims)["critic_net"].name == "Adam"
    assert float(same.hp.nets.lr["critic_net"]) == pytest.approx(1e-3)


def test_each_network_clips_its_own_gradient():
    """One SGD step (lr 1) of an A2C with clip_grad_val 1e-6: each network moves by a step of norm 1e-6, as
    SLM Lab clips each net's gradient; one joint clip would leave each network less than that."""
    raw = tiny_pg_spec(
        {"name": "ActorCritic", "lam": 0.95}, clip_grad_val=1e-6, optim_spec={"name": "SGD", "lr": 1.0}
    )
    _, built = built_from(raw)
    state = built.algo.init(built.static, jax.random.PRNGKey(0), built.hp)
    new, _ = built.algo.update(built.static, state)
    for name in ("net", "critic_net"):
        moved = jax.tree.leaves(
            jax.tree.map(lambda a, b: jnp.sum((a - b) ** 2), new.params[name], state.params[name])
        )
        assert float(jnp.sqrt(sum(moved))) == pytest.approx(1e-6, rel=1e-3)


def test_return_stats_merge_batches_as_one():
    stats = on_policy.ReturnStats.create()
    values = jnp.arange(10.0)
    merged = stats.update(values[:4], jnp.ones(4)).update(values[4:], jnp.ones(6))
    np.testing.assert_allclose(merged.mean, values.mean(), rtol=1e-6)
    np.testing.assert_allclose(merged.scale(), np.sqrt(values.var() + 1e-8), rtol=1e-5)
    assert (
        float(on_policy.ReturnStats.create().update(jnp.ones(3) * 0.1, jnp.ones(3)).scale()) == 1.0
    )  # floor 1


def test_a_one_dimensional_gaussian_policy_has_a_state_dependent_log_std():
    """SLM Lab: a 1-D action's tail gives [loc, log_std]; log_std is clamped to [-5, 2]."""
    _, built = built_from(
        tiny_pg_spec({"name": "ActorCritic", "lam": 0.95}, env="Pendulum-v1", log_std_init=0.0)
    )
    params = built.static.policy_net.init(jax.random.PRNGKey(0), jnp.zeros(3))
    assert set(params["params"]) == {"body", "tails.0"} and params["params"]["tails.0"]["kernel"].shape == (
        16,
        2,
    )
    big = jax.tree.map(lambda x: x * 1e3, params)
    mean, log_std = built.static.policy_net.apply(big, jnp.ones((5, 3)))
    assert mean.shape == log_std.shape == (5, 1) and float(log_std.min()) >= -5 and float(log_std.max()) <= 2
