"""A2C: the loss on hand-worked numbers, its targets (GAE or n-step, by the spec) and its spec check."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxlab import spec
from jaxlab.algos import a2c
from jaxlab.algos.on_policy import Batch, Coefficients
from tests.algos.test_ppo import ENTROPY, constant_nets
from tests.helpers import built_from
from tests.specs import tiny_pg_spec


def test_loss_is_the_policy_gradient_plus_the_value_error_minus_the_entropy_bonus():
    """pi = [0.25, 0.75], V = 2: actions 1 and 0 with advantages 1 and -2, targets 3 and 1:
    -mean(log 0.75 * 1 + log 0.25 * -2) + 0.5 * mean((2 - 3)^2, (2 - 1)^2) - 0.1 H."""
    built = built_from(tiny_pg_spec({"name": "A2C", "val_loss_coef": 0.5}, hid_layers=[]))[1]
    batch = Batch(
        obs=jnp.zeros((2, 4)),
        action=jnp.asarray([1, 0]),
        log_prob=jnp.zeros(2),
        value=jnp.zeros(2),
        advantage=jnp.asarray([1.0, -2.0]),
        target=jnp.asarray([3.0, 1.0]),
    )
    total, entropy = a2c.loss(
        built.static, constant_nets(), batch, built.hp, Coefficients(jnp.asarray(0.1), jnp.zeros(()))
    )
    expected = -(np.log(0.75) * 1.0 + np.log(0.25) * -2.0) / 2 + 0.5 * 1.0 - 0.1 * ENTROPY
    np.testing.assert_allclose(total, expected, rtol=1e-6)
    np.testing.assert_allclose(entropy, ENTROPY, rtol=1e-6)


@pytest.mark.parametrize(
    "algorithm, message",
    [
        ({"name": "A2C", "lam": 0.9, "num_step_returns": 5}, "exactly one of lam"),
        ({"name": "A2C", "lam": None}, "exactly one of lam"),
        ({"name": "A2C", "time_horizon": 32}, "unknown key agent.algorithm.time_horizon"),
    ],
)
def test_spec_errors_are_one_line(algorithm, message):
    with pytest.raises(spec.SpecError, match=message) as info:
        spec.validate(tiny_pg_spec(algorithm))
    assert "\n" not in str(info.value)


def test_n_step_returns_are_chosen_by_the_spec():
    gae = built_from(tiny_pg_spec({"name": "A2C"}))[1].static
    nstep = built_from(tiny_pg_spec({"name": "A2C", "lam": None, "num_step_returns": 3}))[1].static
    assert gae.num_step_returns is None and nstep.num_step_returns == 3
