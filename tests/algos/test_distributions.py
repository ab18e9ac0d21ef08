"""Action distributions: SAC's squashed Gaussian's log-density (of the action in [-1, 1]) against a numerical
change of variables, and the tanh Jacobian where tanh saturates."""

import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxlab.algos import distributions


def numerical_density(action: np.ndarray, mean: np.ndarray, std: np.ndarray, low, high) -> np.ndarray:
    """The density of low + (tanh(u) + 1) (high - low) / 2 for u ~ N(mean, std), per action dim, as the
    central difference of its CDF F(a) = Phi((atanh(y) - mean) / std), y = (2 a - low - high) / (high -
    low)."""

    def cdf(a):
        y = (2.0 * a - low - high) / (high - low)
        z = (np.arctanh(y) - mean) / (std * math.sqrt(2.0))
        return 0.5 * (1.0 + np.vectorize(math.erf)(z))

    step = 1e-6 * (high - low)
    return (cdf(action + step) - cdf(action - step)) / (2.0 * step)


def test_squashed_log_prob_is_the_density_of_the_squashed_action():
    mean = jnp.asarray([[0.3, -1.2], [1.5, 0.0], [-0.4, 0.8]])
    log_std = jnp.asarray([[-0.2, 0.4], [-1.0, 0.1], [0.3, -0.5]])
    low, high = jnp.asarray([-1.0, -1.0]), jnp.asarray([1.0, 1.0])
    for seed in range(4):
        action, log_prob = distributions.squashed_gaussian_sample(jax.random.PRNGKey(seed), mean, log_std)
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
