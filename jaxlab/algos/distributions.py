"""Action distributions as pure functions: categorical over logits, diagonal Gaussian, and SAC's
tanh-squashed Gaussian. Continuous actions are in the policy's units, [-1, 1] for the env's bounds (the env
rescales them, as SLM Lab's RescaleAction does)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

LOG_2PI = jnp.log(2.0 * jnp.pi)


def categorical_log_prob(logits: jax.Array, action: jax.Array) -> jax.Array:
    """log pi(a) for logits [.., A] and integer actions [..]."""
    log_probs = jax.nn.log_softmax(logits)
    return jnp.take_along_axis(log_probs, action[..., None].astype(jnp.int32), axis=-1)[..., 0]


def categorical_entropy(logits: jax.Array) -> jax.Array:
    log_probs = jax.nn.log_softmax(logits)
    return -(jnp.exp(log_probs) * log_probs).sum(-1)


def gaussian_log_prob(mean: jax.Array, log_std: jax.Array, action: jax.Array) -> jax.Array:
    """log pi(a) of a diagonal Gaussian, summed over the action dims [.., D] -> [..]."""
    z = (action - mean) * jnp.exp(-log_std)
    return (-0.5 * z**2 - log_std - 0.5 * LOG_2PI).sum(-1)


def gaussian_entropy(mean: jax.Array, log_std: jax.Array) -> jax.Array:
    return jnp.broadcast_to(log_std + 0.5 * (1.0 + LOG_2PI), mean.shape).sum(-1)


def sample(key: jax.Array, policy_out, discrete: bool) -> jax.Array:
    if discrete:
        return jax.random.categorical(key, policy_out)
    mean, log_std = policy_out
    return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)


def mode(policy_out, discrete: bool) -> jax.Array:
    """The deterministic action: argmax for discrete, the mean for continuous."""
    return jnp.argmax(policy_out, -1) if discrete else policy_out[0]


def log_prob(policy_out, action: jax.Array, discrete: bool) -> jax.Array:
    return categorical_log_prob(policy_out, action) if discrete else gaussian_log_prob(*policy_out, action)


def entropy(policy_out, discrete: bool) -> jax.Array:
    return categorical_entropy(policy_out) if discrete else gaussian_entropy(*policy_out)


def tanh_log_det_jacobian(pre_tanh: jax.Array) -> jax.Array:
    """log |d tanh(u) / du| = log(1 - tanh(u)^2), summed over the action dims [.., D] -> [..].

    Written as 2 (log 2 - u - softplus(-2u)): the same value, but finite where tanh(u) rounds to +-1
    in float32 (|u| > ~9), where log(1 - tanh(u)^2) would be log(0)."""
    return (2.0 * (jnp.log(2.0) - pre_tanh - jax.nn.softplus(-2.0 * pre_tanh))).sum(-1)


def squashed_gaussian_sample(
    key: jax.Array, mean: jax.Array, log_std: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """A reparameterised sample a = tanh(mean + std * eps) [.., D] in [-1, 1] and its log-density log p(a)
    [..]: log N(u) - log|da/du| by the change of variables from u ~ N(mean, std)."""
    pre_tanh = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
    return jnp.tanh(pre_tanh), gaussian_log_prob(mean, log_std, pre_tanh) - tanh_log_det_jacobian(pre_tanh)
