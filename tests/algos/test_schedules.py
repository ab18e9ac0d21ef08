"""SLM Lab variable schedules in frames."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxlab.algos.schedules import Schedule


def sched(name, start=1.0, end=0.1, start_step=100, end_step=1100):
    return Schedule.from_spec(
        {"name": name, "start_val": start, "end_val": end, "start_step": start_step, "end_step": end_step}
    )


def test_no_decay_is_constant():
    assert float(sched("no_decay")(10**6)) == 1.0


def test_linear_decay_holds_then_interpolates_then_holds():
    s = sched("linear_decay")
    np.testing.assert_allclose(
        [float(s(f)) for f in (0, 100, 600, 1100, 5000)], [1.0, 1.0, 0.55, 0.1, 0.1], rtol=1e-6
    )


def test_rate_decay_is_geometric_between_start_and_end():
    s = sched("rate_decay")
    np.testing.assert_allclose(
        [float(s(f)) for f in (0, 600, 1100, 9000)], [1.0, 0.1**0.5, 0.1, 0.1], rtol=1e-5
    )


def test_schedules_work_on_traced_values_inside_jit_and_vmap():
    import jax
    import jax.numpy as jnp

    for name in ("linear_decay", "rate_decay"):
        batch = jax.tree.map(lambda x: jnp.stack([x, x * 2]), sched(name))
        values = jax.jit(jax.vmap(lambda s: s(600)))(batch)
        np.testing.assert_allclose(
            values, [float(sched(name)(600)), float(sched(name, 2.0, 0.2)(600))], rtol=1e-5
        )


def test_linear_to_zero_ends_at_zero_under_jit():
    """XLA turns optax's count / steps into count * (1 / steps): unclipped, the last lr was -4e-11."""
    from jaxlab.algos.optim import linear_to_zero

    lrs = jax.jit(jax.vmap(lambda count: linear_to_zero(jnp.float32(1e-3), 19)(count)))(jnp.arange(25))
    assert float(lrs.min()) == 0.0 and float(lrs[19]) == 0.0 and float(lrs[0]) == pytest.approx(1e-3)


def test_linear_decay_stays_between_its_values_under_jit():
    sched = Schedule.from_spec(
        {"name": "linear_decay", "start_val": 1.0, "end_val": 0.1, "start_step": 0, "end_step": 19}
    )
    values = jax.jit(jax.vmap(sched))(jnp.arange(30))
    assert values.min() == np.float32(0.1) and values.max() == 1.0  # not one rounding step past 0.1
