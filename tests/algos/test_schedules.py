"""SLM Lab's variable schedules in frames, with its rules (a falsy end_val, a rising linear_decay,
rate_decay's 20 steps of x0.9); SLM Lab's LinearToZero lr, one step per update."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxlab.algos.schedules import Schedule


def sched(name, start=1.0, end=0.1, start_step=100, end_step=1100):
    return Schedule.from_spec(
        {"name": name, "start_val": start, "end_val": end, "start_step": start_step, "end_step": end_step}
    )


def test_no_decay_is_its_end_value_and_a_falsy_end_value_is_the_start_value():
    assert float(sched("no_decay")(10**6)) == pytest.approx(0.1)
    assert float(sched("no_decay", end=0.0)(0)) == 1.0
    # SLM Lab tests end_val for truth: linear_decay 1.0 -> 0.0 holds 1.0
    assert float(sched("linear_decay", end=0.0)(5000)) == 1.0
    assert float(sched("linear_decay", end=None)(5000)) == 1.0


def test_a_rising_linear_decay_starts_at_its_end_value_and_keeps_rising():
    """max(line, end_val): 0.1 -> 0.2 is 0.2 until the line passes it, which it does only after end_step."""
    s = sched("linear_decay", start=0.1, end=0.2)
    np.testing.assert_allclose([float(s(f)) for f in (0, 100, 600, 2100)], [0.1, 0.2, 0.2, 0.3], rtol=1e-5)


def test_linear_decay_holds_then_interpolates_then_holds():
    s = sched("linear_decay")
    np.testing.assert_allclose(
        [float(s(f)) for f in (0, 100, 600, 1100, 5000)], [1.0, 1.0, 0.55, 0.1, 0.1], rtol=1e-6
    )


def test_rate_decay_multiplies_by_0_9_every_twentieth_of_its_span():
    """Span 1000 frames: 0.9^10 at frame 600 (10 twentieths in), end_val from end_step."""
    s = sched("rate_decay")
    np.testing.assert_allclose(
        [float(s(f)) for f in (0, 600, 1099, 1100, 9000)],
        [1.0, 0.9**10, max(0.9**19.98, 0.1), 0.1, 0.1],
        rtol=1e-5,
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


def test_linear_to_zero_steps_once_per_update_and_ends_at_zero():
    """SLM Lab's LinearToZero: lr x max(0, 1 - k / n) after k updates, n = frame / frames per training."""
    from jaxlab.algos.optim import OptimSettings

    net = {"lr_scheduler_spec": {"name": "LinearToZero", "frame": 4000}, "clip_grad_val": None}
    optim = {
        "name": "Adam",
        "eps": 1e-8,
        "betas": [0.9, 0.999],
        "weight_decay": None,
        "amsgrad": False,
        "alpha": 0.99,
        "momentum": 0.0,
        "centered": False,
        "nesterov": False,
    }
    settings = OptimSettings.from_spec(
        net, optim, grad_steps_per_update=10, frames_per_training=1000, max_frame=8000
    )
    lrs = jax.jit(jax.vmap(lambda step: settings.lr(jnp.float32(1.0), step)))(jnp.arange(0, 60, 5))
    np.testing.assert_allclose(lrs, [1, 1, 0.75, 0.75, 0.5, 0.5, 0.25, 0.25, 0, 0, 0, 0], atol=1e-7)


def test_linear_decay_stays_between_its_values_under_jit():
    sched = Schedule.from_spec(
        {"name": "linear_decay", "start_val": 1.0, "end_val": 0.1, "start_step": 0, "end_step": 19}
    )
    values = jax.jit(jax.vmap(sched))(jnp.arange(30))
    assert values.min() == np.float32(0.1) and values.max() == 1.0  # not one rounding step past 0.1
    np.testing.assert_allclose(values[:5], 1.0 - 0.9 * np.arange(5) / 19, rtol=1e-6)
