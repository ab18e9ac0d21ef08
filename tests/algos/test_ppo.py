"""PPO's loss on hand-worked numbers: both sides of the clip, value clipping, advantage normalisation and the
entropy bonus's sign; and the minibatch check of its spec."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxlab import spec
from jaxlab.algos import ppo
from jaxlab.algos.on_policy import Batch, Coefficients
from tests.helpers import built_from
from tests.specs import tiny_spec

LOG3 = float(np.log(3.0))
# pi = softmax([0, log 3]) = [0.25, 0.75] for every observation; V = 2 for every observation.
ENTROPY = -(0.25 * np.log(0.25) + 0.75 * np.log(0.75))


def constant_nets(logits=(0.0, LOG3), value=2.0) -> dict:
    """Params of a policy and a value net without hidden layers: their outputs are their biases."""
    return {
        "net": {"params": {"policy_head": {"kernel": jnp.zeros((4, 2)), "bias": jnp.asarray(logits)}}},
        "critic_net": {"params": {"value_head": {"kernel": jnp.zeros((4, 1)), "bias": jnp.asarray([value])}}},
    }


def ppo_static(**algorithm):
    raw = tiny_spec()
    raw["agent"]["algorithm"].update(algorithm)
    raw["agent"]["net"]["hid_layers"] = []
    return built_from(raw)[1]


def batch(advantage=(1.0, -2.0)) -> Batch:
    """Action 1 (pi 0.75) and action 0 (pi 0.25), both taken with probability 0.5 by the old policy: ratios
    1.5 and 0.5. Old values 2.5; value targets 3 and 1."""
    return Batch(
        obs=jnp.zeros((2, 4)),
        action=jnp.asarray([1, 0]),
        log_prob=jnp.log(jnp.asarray([0.5, 0.5])),
        value=jnp.asarray([2.5, 2.5]),
        advantage=jnp.asarray(advantage),
        target=jnp.asarray([3.0, 1.0]),
    )


def loss_value(built, coefs: Coefficients | None = None, **batch_changes) -> float:
    coefs = Coefficients(jnp.asarray(0.0), jnp.asarray(0.2)) if coefs is None else coefs
    total, entropy = ppo.loss(built.static, constant_nets(), batch(**batch_changes), built.hp, coefs)
    np.testing.assert_allclose(entropy, ENTROPY, rtol=1e-6)
    return float(total)


def test_the_surrogate_is_clipped_on_both_sides():
    """Sample 0: ratio 1.5 > 1 + eps with A = 1: min(1.5, 1.2) = 1.2. Sample 1: ratio 0.5 < 1 - eps with A =
    -2:
    min(-1, -1.6) = -1.6. Policy loss -mean = 0.2; value loss 0.5 * mean((2 - [3, 1])^2) = 0.5."""
    built = ppo_static(normalize_advantages=False, val_loss_coef=1.0)
    np.testing.assert_allclose(loss_value(built), 0.2 + 0.5, rtol=1e-6)
    # A clip range that holds both ratios leaves them: -mean(1.5 * 1, 0.5 * -2) = -0.25.
    wide = Coefficients(jnp.asarray(0.0), jnp.asarray(0.6))
    np.testing.assert_allclose(loss_value(built, wide), -0.25 + 0.5, rtol=1e-6)


def test_value_clipping_takes_the_larger_error():
    """V_old 2.5, V = 2: the clipped prediction 2.5 + clip(-0.5, -0.2, 0.2) = 2.3; errors max((2 - 3)^2,
    (2.3 - 3)^2) = 1 and max((2 - 1)^2, (2.3 - 1)^2) = 1.69: value loss 0.5 * 1.345."""
    built = ppo_static(normalize_advantages=False, val_loss_coef=1.0, clip_vloss=True)
    np.testing.assert_allclose(loss_value(built), 0.2 + 0.5 * 1.345, rtol=1e-6)


def test_advantages_are_normalised_per_minibatch():
    """A = [1, -2] -> (A - mean) / std = [1, -1]: min(1.5, 1.2) = 1.2 and min(-0.5, -0.8) = -0.8, policy
    loss -0.2. The same for any affine rescaling of the advantages."""
    built = ppo_static(normalize_advantages=True, val_loss_coef=0.0)
    np.testing.assert_allclose(loss_value(built), -0.2, rtol=1e-5)
    np.testing.assert_allclose(loss_value(built, advantage=(13.0, 4.0)), -0.2, rtol=1e-5)


def test_the_entropy_bonus_lowers_the_loss():
    built = ppo_static(normalize_advantages=False, val_loss_coef=0.0)
    bonus = Coefficients(jnp.asarray(0.1), jnp.asarray(0.2))
    np.testing.assert_allclose(loss_value(built, bonus), 0.2 - 0.1 * ENTROPY, rtol=1e-6)


def test_minibatch_size_must_divide_the_batch():
    raw = tiny_spec()
    raw["agent"]["algorithm"]["minibatch_size"] = 48
    with pytest.raises(spec.SpecError, match="must divide time_horizon x num_envs = 64"):
        spec.validate(raw)
