"""SLM Lab's variable schedules (`*_spec`: no_decay, linear_decay, rate_decay), in frames, on optax.

The values are arrays inside the train state so a search can vmap them; the kind is static."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import struct


@struct.dataclass
class Schedule:
    start_val: jax.Array
    end_val: jax.Array
    start_step: jax.Array
    end_step: jax.Array
    kind: str = struct.field(pytree_node=False, default="no_decay")

    @classmethod
    def from_spec(cls, sched_spec: dict) -> Schedule:
        return cls(
            start_val=jnp.asarray(sched_spec["start_val"], jnp.float32),
            end_val=jnp.asarray(sched_spec["end_val"], jnp.float32),
            start_step=jnp.asarray(sched_spec["start_step"], jnp.float32),
            end_step=jnp.asarray(sched_spec["end_step"], jnp.float32),
            kind=sched_spec["name"],
        )

    def __call__(self, frame: jax.Array) -> jax.Array:
        """The value at `frame`: start_val before start_step, end_val after end_step."""
        frame = jnp.asarray(frame, jnp.float32)
        span = jnp.maximum(self.end_step - self.start_step, 1.0)
        if self.kind == "linear_decay":
            return optax.linear_schedule(self.start_val, self.end_val, span, self.start_step)(frame)
        if self.kind == "rate_decay":
            # Geometric interpolation from start_val to end_val over [start_step, end_step].
            return optax.exponential_decay(
                self.start_val, span, self.end_val / self.start_val, self.start_step, end_value=self.end_val
            )(frame)
        return self.start_val
