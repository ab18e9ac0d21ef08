"""Network pieces whose bugs would be silent."""

import jax
import numpy as np

from jaxlab.algos.networks import householder_q, orthogonal


def test_householder_q_is_the_qr_q_with_positive_diagonal():
    a = jax.random.normal(jax.random.PRNGKey(0), (7, 4))
    q = householder_q(a)
    np.testing.assert_allclose(q.T @ q, np.eye(4), atol=1e-5)
    r = q.T @ a  # upper triangular with a positive diagonal when a = q r
    np.testing.assert_allclose(np.tril(r, -1), 0.0, atol=1e-5)
    assert (np.diag(r) > 0).all()
    q_ref, r_ref = np.linalg.qr(np.asarray(a))
    np.testing.assert_allclose(q, q_ref * np.sign(np.diag(r_ref)), atol=1e-5)


def test_orthogonal_init_shapes_gain_and_orthogonality():
    init = orthogonal(np.sqrt(2))
    wide = init(jax.random.PRNGKey(1), (4, 64))  # rows orthonormal
    tall = init(jax.random.PRNGKey(2), (64, 4))  # columns orthonormal
    np.testing.assert_allclose(wide @ wide.T, 2 * np.eye(4), atol=1e-4)
    np.testing.assert_allclose(tall.T @ tall, 2 * np.eye(4), atol=1e-4)
    conv = init(jax.random.PRNGKey(3), (3, 3, 4, 16)).reshape(36, 16)
    np.testing.assert_allclose(conv.T @ conv, 2 * np.eye(16), atol=1e-4)


def test_vmapped_init_emits_no_lapack_call():
    hlo = jax.jit(jax.vmap(lambda k: orthogonal(1.0)(k, (64, 64)))).lower(
        jax.random.split(jax.random.PRNGKey(0), 4)
    )
    text = hlo.as_text()
    assert "lapack" not in text.lower() and "custom_call" not in text
