"""SLM Lab's variable schedules (`*_spec`: no_decay, linear_decay, rate_decay), in frames, with SLM Lab's
rules (`policy_util.VarScheduler`, `math_util`):
- an `end_val` of 0 or null is start_val (SLM Lab tests it for truth), so `linear_decay 0.01 -> 0` holds
  0.01;
- no_decay is end_val;
- linear_decay is start_val before start_step, then max(the line from start_val to end_val, end_val): it
  does not stop at end_step when it rises, and a rising line starts at end_val;
- rate_decay multiplies start_val by 0.9 every (end_step - start_step) / 20 frames, no lower than end_val,
  and is end_val from end_step.

The values are arrays inside the train state, so a search can vmap them; the kind and the frame bounds are
static (they shape the program, like every other step count)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

RATE_DECAY, RATE_DECAY_STEPS = 0.9, 20.0


@struct.dataclass
class Schedule:
    start_val: jax.Array
    end_val: jax.Array
    start_step: int = struct.field(pytree_node=False)
    end_step: int = struct.field(pytree_node=False)
    kind: str = struct.field(pytree_node=False)

    @classmethod
    def from_spec(cls, sched_spec: dict) -> Schedule:
        end_val = sched_spec["end_val"] or sched_spec["start_val"]
        return cls(
            start_val=jnp.asarray(sched_spec["start_val"], jnp.float32),
            end_val=jnp.asarray(end_val, jnp.float32),
            start_step=int(sched_spec["start_step"]),
            end_step=int(sched_spec["end_step"]),
            kind=sched_spec["name"],
        )

    def __call__(self, frame: jax.Array) -> jax.Array:
        """The value at `frame`."""
        if self.kind == "no_decay":
            return self.end_val
        frame = jnp.asarray(frame, jnp.float32)
        span = max(self.end_step - self.start_step, 1)
        if self.kind == "linear_decay":
            slope = (self.end_val - self.start_val) / span
            value = jnp.maximum(slope * (frame - self.start_step) + self.start_val, self.end_val)
        else:
            decays = (frame - self.start_step) / (span / RATE_DECAY_STEPS)
            value = jnp.where(
                frame >= self.end_step,
                self.end_val,
                jnp.maximum(RATE_DECAY**decays * self.start_val, self.end_val),
            )
        return jnp.where(frame < self.start_step, self.start_val, value)


def optional(sched_spec: dict | None) -> Schedule | None:
    """A schedule, or None for an absent one (SLM Lab's entropy_coef_spec: no entropy bonus)."""
    return None if sched_spec is None else Schedule.from_spec(sched_spec)
