"""REINFORCE: the loss and the returns it credits, on hand-worked numbers (with and without
`center_return`)."""

import dataclasses

import jax.numpy as jnp
import numpy as np

from jaxlab.algos import reinforce
from jaxlab.algos.on_policy import Rollout
from tests.algos.test_ppo import ENTROPY, HALF, batch, coefficients, constant_nets
from tests.helpers import built_from
from tests.specs import tiny_pg_spec


def reinforce_built(**algorithm):
    raw = tiny_pg_spec({"name": "Reinforce", **algorithm}, hid_layers=[])
    return built_from(raw)[1]


def test_loss_is_minus_log_prob_times_the_standardised_return_minus_the_entropy_bonus():
    """pi = [0.25, 0.75]: actions 1 and 0 with returns 1 and -2, standardised to h and -h (SLM Lab
    standardises them): -mean(log 0.75 h - log 0.25 h) - 0.1 H."""
    built = reinforce_built()
    params = {"net": constant_nets()["net"]}
    total, entropy = reinforce.loss(built.static, params, batch(), built.hp, coefficients(entropy=0.1))
    expected = -(np.log(0.75) * HALF + np.log(0.25) * -HALF) / 2 - 0.1 * ENTROPY
    np.testing.assert_allclose(total, expected, rtol=1e-5)
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
    static = reinforce_built(center_return=True).static
    np.testing.assert_allclose(
        reinforce.episode_returns(static, steps, 0.5)[:, 0], np.array([1, 1.5, 1]) - 7 / 6, rtol=1e-6
    )
    uncentred = dataclasses.replace(static, center_return=False)
    np.testing.assert_allclose(reinforce.episode_returns(uncentred, steps, 0.5)[:, 0], [1, 1.5, 1], rtol=1e-6)
