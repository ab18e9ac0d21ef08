"""REINFORCE: the loss and the returns it credits, on hand-worked numbers (with and without
`center_return`), and its spec check."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from jaxlab import spec
from jaxlab.algos import reinforce
from jaxlab.algos.on_policy import Batch, Coefficients, Rollout
from tests.algos.test_ppo import ENTROPY, LOG3
from tests.helpers import built_from
from tests.specs import tiny_pg_spec


def reinforce_built(**algorithm):
    raw = tiny_pg_spec({"name": "REINFORCE", **algorithm}, hid_layers=[])
    return built_from(raw)[1]


def test_loss_is_minus_log_prob_times_return_minus_the_entropy_bonus():
    """pi = [0.25, 0.75]: actions 1 and 0 with returns 2 and -1: -mean(log 0.75 * 2 + log 0.25 * -1)."""
    built = reinforce_built()
    params = {
        "net": {"params": {"policy_head": {"kernel": jnp.zeros((4, 2)), "bias": jnp.asarray([0.0, LOG3])}}}
    }
    batch = Batch(
        obs=jnp.zeros((2, 4)),
        action=jnp.asarray([1, 0]),
        log_prob=jnp.zeros(2),
        value=jnp.zeros(2),
        advantage=jnp.asarray([2.0, -1.0]),
        target=jnp.zeros(2),
    )
    total, entropy = reinforce.loss(
        built.static, params, batch, built.hp, Coefficients(jnp.asarray(0.1), jnp.zeros(()))
    )
    expected = -(np.log(0.75) * 2.0 + np.log(0.25) * -1.0) / 2 - 0.1 * ENTROPY
    np.testing.assert_allclose(total, expected, rtol=1e-6)
    np.testing.assert_allclose(entropy, ENTROPY, rtol=1e-6)


def rollout(rewards, done) -> Rollout:
    rewards = jnp.asarray(rewards, jnp.float32)
    zeros = jnp.zeros_like(rewards)
    return Rollout(
        zeros, zeros, zeros, zeros, rewards, jnp.asarray(done), jnp.zeros_like(rewards, bool), zeros
    )


def test_returns_restart_at_episode_ends_and_are_centred_on_the_batch_mean():
    """gamma 0.5, rewards [1, 1, 1] in one env, the episode ending at step 0: returns [1, 1.5, 1]; centred on
    their mean 7/6."""
    steps = rollout([[1.0], [1.0], [1.0]], [[True], [False], [False]])
    static = reinforce_built().static
    np.testing.assert_allclose(
        reinforce.episode_returns(static, steps, 0.5)[:, 0], np.array([1, 1.5, 1]) - 7 / 6, rtol=1e-6
    )
    uncentred = dataclasses.replace(static, center_return=False)
    np.testing.assert_allclose(reinforce.episode_returns(uncentred, steps, 0.5)[:, 0], [1, 1.5, 1], rtol=1e-6)


def test_reinforce_has_no_critic_to_share():
    with pytest.raises(spec.SpecError, match="REINFORCE has no critic"):
        spec.validate(tiny_pg_spec({"name": "REINFORCE"}, shared=True))
