"""PPO's loss on hand-worked numbers: both sides of the clip, value clipping, advantages standardised per
minibatch, the entropy bonus's sign, normalize_v_targets; SLM Lab's batch rounding and leftover minibatch."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxlab.algos import ppo
from jaxlab.algos.on_policy import Batch, Coefficients
from tests.helpers import built_from
from tests.specs import tiny_spec

LOG3 = float(np.log(3.0))
# pi = softmax([0, log 3]) = [0.25, 0.75] for every observation; V = 2 for every observation.
ENTROPY = -(0.25 * np.log(0.25) + 0.75 * np.log(0.75))
HALF = 1 / np.sqrt(2)  # A = [1, -2] standardised with PyTorch's std (N - 1): [1, -1] / sqrt(2)


def constant_nets(logits=(0.0, LOG3), value=2.0) -> dict:
    """Params of a policy and a value net without hidden layers: their outputs are their biases."""
    return {
        "net": {"params": {"tails.0": {"kernel": jnp.zeros((4, 2)), "bias": jnp.asarray(logits)}}},
        "critic_net": {"params": {"tails.0": {"kernel": jnp.zeros((4, 1)), "bias": jnp.asarray([value])}}},
    }


def coefficients(entropy=0.0, clip_eps=0.2, value_scale=1.0) -> Coefficients:
    return Coefficients(jnp.asarray(entropy), jnp.asarray(clip_eps), jnp.asarray(value_scale))


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
        mask=jnp.ones(2),
    )


def loss_value(built, coefs: Coefficients | None = None, **batch_changes) -> float:
    total, entropy = ppo.loss(
        built.static, constant_nets(), batch(**batch_changes), built.hp, coefs or coefficients()
    )
    np.testing.assert_allclose(entropy, ENTROPY, rtol=1e-6)
    return float(total)


def test_the_surrogate_is_clipped_on_both_sides():
    """A = [1, -2] standardised: [h, -h], h = 1/sqrt(2). Sample 0: ratio 1.5 > 1 + eps: min(1.5 h, 1.2 h) =
    1.2 h.
    Sample 1: ratio 0.5 < 1 - eps with A < 0: min(-0.5 h, -0.8 h) = -0.8 h. Policy loss -mean = -0.2 h; value
    loss val_loss_coef x mean((2 - [3, 1])^2) = 1 (SLM Lab's MSELoss, no 1/2)."""
    built = ppo_static(val_loss_coef=1.0)
    np.testing.assert_allclose(loss_value(built), -0.2 * HALF + 1.0, rtol=1e-5)
    # A clip range that holds both ratios leaves them: -mean(1.5 h, -0.5 h) = -0.5 h.
    np.testing.assert_allclose(loss_value(built, coefficients(clip_eps=0.6)), -0.5 * HALF + 1.0, rtol=1e-5)


def test_advantages_are_standardised_per_minibatch():
    """Any affine rescaling of the advantages gives the same loss."""
    built = ppo_static(val_loss_coef=0.0)
    np.testing.assert_allclose(loss_value(built), -0.2 * HALF, rtol=1e-5)
    np.testing.assert_allclose(loss_value(built, advantage=(13.0, 4.0)), -0.2 * HALF, rtol=1e-5)


def test_value_clipping_takes_the_larger_error_at_half_weight():
    """V_old 2.5, V = 2: the clipped prediction 2.5 + clip(-0.5, -0.2, 0.2) = 2.3; errors max((2 - 3)^2,
    (2.3 - 3)^2) = 1 and max((2 - 1)^2, (2.3 - 1)^2) = 1.69: value loss 0.5 x 1 x 1.345."""
    built = ppo_static(val_loss_coef=1.0, clip_vloss=True)
    np.testing.assert_allclose(loss_value(built), -0.2 * HALF + 0.5 * 1.345, rtol=1e-5)


def test_the_entropy_bonus_lowers_the_loss():
    built = ppo_static(val_loss_coef=0.0)
    np.testing.assert_allclose(
        loss_value(built, coefficients(entropy=0.1)), -0.2 * HALF - 0.1 * ENTROPY, rtol=1e-5
    )


def test_normalize_v_targets_scales_values_and_targets():
    """A scale of 2 halves V and the targets: mean((1 - [1.5, 0.5])^2) = 0.25."""
    built = ppo_static(val_loss_coef=1.0, normalize_v_targets=True)
    np.testing.assert_allclose(
        loss_value(built, coefficients(value_scale=2.0)), -0.2 * HALF + 0.25, rtol=1e-5
    )


def test_batch_shape_rounds_to_num_envs_and_keeps_a_smaller_last_minibatch():
    """SLM Lab: time_horizon 30, minibatch 6 with 4 envs round up to 32 and 8; a minibatch of 48 over 64
    samples leaves a second minibatch of 16, padded with masked samples."""
    assert ppo.batch_shape({"time_horizon": 30, "minibatch_size": 6}, 4) == (32, 8)
    assert ppo.batch_shape({"time_horizon": 16, "minibatch_size": 4096}, 4) == (16, 64)
    built = ppo_static(minibatch_size=48)
    static = built.static
    assert (static.num_minibatches, static.minibatch_size) == (2, 48)
    samples = jax.tree.map(lambda x: jnp.zeros((64, *x.shape[1:]), x.dtype), batch())
    samples = samples.replace(advantage=jnp.arange(64.0))
    split = ppo.minibatches(static, samples, jax.random.PRNGKey(0))
    assert split.mask.shape == (2, 48) and float(split.mask.sum()) == 64.0
    kept = np.asarray(split.advantage)[np.asarray(split.mask) > 0]
    assert sorted(kept.tolist()) == list(range(64))  # every sample once
