"""SLM Lab's variable schedules (`*_spec`: no_decay, linear_decay, rate_decay), in frames.

The values are arrays inside the train state, so a search can vmap them; the kind and the frame
bounds are static (they shape the program, like every other step count)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import struct


@struct.dataclass
class Schedule:
    start_val: jax.Array
    end_val: jax.Array
    start_step: int = struct.field(pytree_node=False)
    end_step: int = struct.field(pytree_node=False)
    kind: str = struct.field(pytree_node=False)

    @classmethod
    def from_spec(cls, sched_spec: dict) -> Schedule:
        return cls(
            start_val=jnp.asarray(sched_spec["start_val"], jnp.float32),
            end_val=jnp.asarray(sched_spec["end_val"], jnp.float32),
            start_step=int(sched_spec["start_step"]),
            end_step=int(sched_spec["end_step"]),
            kind=sched_spec["name"],
        )

    def __call__(self, frame: jax.Array) -> jax.Array:
        """The value at `frame`: start_val before start_step, end_val after end_step."""
        if self.kind == "no_decay":
            return self.start_val
        span = max(self.end_step - self.start_step, 1)
        if self.kind == "linear_decay":
            value = optax.linear_schedule(self.start_val, self.end_val, span, self.start_step)(frame)
            # Within the two values: optax's division by span rounds past end_val at the end (see optim.py).
            return jnp.clip(
                value, jnp.minimum(self.start_val, self.end_val), jnp.maximum(self.start_val, self.end_val)
            )
        # rate_decay: geometric from start_val to end_val. Written out because optax's exponential_decay
        # inspects its rate in Python, which a traced (searched) value cannot be.
        progress = jnp.clip((jnp.asarray(frame, jnp.float32) - self.start_step) / span, 0.0, 1.0)
        return self.start_val * (self.end_val / self.start_val) ** progress
