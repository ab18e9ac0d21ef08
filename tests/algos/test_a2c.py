"""ActorCritic (A2C): the loss on hand-worked numbers, its targets (GAE, n-step or Monte-Carlo, by the
spec) and its spec check."""

import numpy as np
import pytest

from jaxlab import spec
from jaxlab.algos import a2c
from tests.algos.test_ppo import ENTROPY, HALF, batch, coefficients, constant_nets
from tests.helpers import built_from
from tests.specs import tiny_pg_spec


def test_loss_is_the_policy_gradient_plus_the_value_error_minus_the_entropy_bonus():
    """pi = [0.25, 0.75], V = 2: actions 1 and 0 with advantages 1 and -2 (standardised: h, -h), targets 3 and
    1: -mean(log 0.75 h - log 0.25 h) + 0.5 mean((2 - 3)^2, (2 - 1)^2) - 0.1 H."""
    built = built_from(
        tiny_pg_spec({"name": "ActorCritic", "lam": 0.95, "val_loss_coef": 0.5}, hid_layers=[])
    )[1]
    total, entropy = a2c.loss(built.static, constant_nets(), batch(), built.hp, coefficients(entropy=0.1))
    expected = -(np.log(0.75) * HALF + np.log(0.25) * -HALF) / 2 + 0.5 * 1.0 - 0.1 * ENTROPY
    np.testing.assert_allclose(total, expected, rtol=1e-5)
    np.testing.assert_allclose(entropy, ENTROPY, rtol=1e-6)


def test_spec_errors_are_one_line():
    with pytest.raises(spec.SpecError, match=r"unknown key agent\.algorithm\.time_horizon") as info:
        spec.validate(tiny_pg_spec({"name": "ActorCritic", "time_horizon": 32}))
    assert "\n" not in str(info.value)


def test_the_returns_are_chosen_by_the_spec():
    """lam: GAE; no lam but num_step_returns: n-step returns over a batch of that many steps (SLM Lab sets
    training_frequency to it); neither: Monte-Carlo returns."""
    gae = built_from(tiny_pg_spec({"name": "ActorCritic", "lam": 0.95}))[1].static
    nstep = built_from(tiny_pg_spec({"name": "ActorCritic", "num_step_returns": 3}))[1].static
    monte_carlo = built_from(tiny_pg_spec({"name": "ActorCritic"}))[1].static
    assert (gae.returns, nstep.returns, monte_carlo.returns) == ("gae", "nstep", "monte_carlo")
    assert nstep.time_horizon == 3 and gae.time_horizon == 32
    assert monte_carlo.value_loss.name == "MSELoss"


def test_loss_spec_chooses_the_value_loss():
    """SmoothL1Loss (beta 1) of errors 1 and 1: 0.5 each."""
    raw = tiny_pg_spec(
        {"name": "ActorCritic", "lam": 0.95}, hid_layers=[], loss_spec={"name": "SmoothL1Loss"}
    )
    built = built_from(raw)[1]
    total, _ = a2c.loss(built.static, constant_nets(), batch(), built.hp, coefficients())
    expected = -(np.log(0.75) * HALF + np.log(0.25) * -HALF) / 2 + 0.5
    np.testing.assert_allclose(total, expected, rtol=1e-5)
