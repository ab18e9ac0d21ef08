"""The on-policy plumbing: the bootstrap values over several envs (time and env axes apart), the policy
alone without a critic, and tiny runs of REINFORCE and A2C variants through the engine."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxlab.algos import on_policy
from jaxlab.algos.on_policy import OnPolicyState, Rollout
from tests.helpers import built_from, run_rows
from tests.specs import tiny_pg_spec


def linear_critic_static():
    """A2C on CartPole whose critic has no hidden layers: with the kernel set below, V(s) = s[0]."""
    return built_from(tiny_pg_spec({"name": "A2C"}, hid_layers=[]))[1].static


def test_next_values_follow_time_within_each_env_and_bootstrap_truncation_from_the_final_obs():
    """T = 3 steps of E = 2 envs, obs[t, e, 0] = 10 t + e: V after step t is V(obs[t + 1, e]) (the state's obs
    after the last step), but V(final_obs) where env 1 was truncated at step 1."""
    static = linear_critic_static()
    params = {
        "critic_net": {
            "params": {"value_head": {"kernel": jnp.asarray([[1.0], [0], [0], [0]]), "bias": jnp.zeros(1)}}
        }
    }
    obs = jnp.zeros((3, 2, 4)).at[..., 0].set(10.0 * jnp.arange(3)[:, None] + jnp.arange(2)[None, :])
    final_obs = jnp.full((3, 2, 4), -1.0)
    truncated = jnp.zeros((3, 2), bool).at[1, 1].set(True)
    zeros = jnp.zeros((3, 2))
    rollout = Rollout(obs, zeros, zeros, obs[..., 0], zeros, jnp.zeros((3, 2), bool), truncated, final_obs)
    last = jnp.zeros((2, 4)).at[:, 0].set(jnp.asarray([30.0, 31.0]))
    state = OnPolicyState(params, None, None, last, None, None, None, None)
    np.testing.assert_array_equal(
        on_policy.next_values(static, state, rollout), [[10.0, 11.0], [20.0, -1.0], [30.0, 31.0]]
    )


def test_a_policy_without_a_critic_has_zero_values_of_the_batch_shape():
    static = built_from(tiny_pg_spec({"name": "REINFORCE"}))[1].static
    params = {"net": static.policy_net.init(jax.random.PRNGKey(0), jnp.zeros(4))}
    _, value = on_policy.policy_and_value(static, params, jnp.zeros((5, 4)))
    assert value.shape == (5,) and not value.any()


TINY_RUNS = {
    "reinforce": tiny_pg_spec({"name": "REINFORCE", "training_frequency": 16}),
    "a2c_gae_pendulum": tiny_pg_spec({"name": "A2C", "training_frequency": 8}, env="Pendulum-v1"),
    "a2c_nstep_shared": tiny_pg_spec(
        {"name": "A2C", "training_frequency": 8, "lam": None, "num_step_returns": 4}, shared=True
    ),
}


@pytest.mark.parametrize("case", TINY_RUNS)
def test_tiny_runs_take_one_gradient_step_per_update(case):
    rows = run_rows(TINY_RUNS[case], [8])
    assert rows["frame"][-1].tolist() == [1024, 1024]
    frames_per_update = TINY_RUNS[case]["agent"]["algorithm"]["training_frequency"] * 4
    np.testing.assert_array_equal(rows["opt_step"][:, 0], rows["frame"][:, 0] // frames_per_update)
    assert not np.allclose(rows["loss"][:, 0], rows["loss"][:, 1])  # sessions differ
    assert len(set(rows["entropy"][:, 0].tolist())) == 8  # the policy changes every checkpoint
