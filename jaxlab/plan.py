"""How a trial's frames split into updates, checkpoints and DataFrame rows."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp


@dataclass(frozen=True)
class Plan:
    """How frames split into updates, checkpoints and calls, and where the DataFrame rows fall: one per
    checkpoint, or, for updates longer than log_frequency, SLM Lab's rows inside the update (at each vector
    step whose frame count is within num_envs past a multiple of log_frequency), at most
    `rows_per_checkpoint` of them."""

    frames_per_update: int
    updates_per_checkpoint: int
    num_checkpoints: int
    eval_every: int  # checkpoints between eval rows (the last checkpoint is always evaluated)
    rows_per_checkpoint: int = 1
    log_frequency: int = 0  # frames, with rows_per_checkpoint > 1
    num_envs: int = 1

    @property
    def frames_per_checkpoint(self) -> int:
        return self.frames_per_update * self.updates_per_checkpoint

    @property
    def total_frames(self) -> int:
        return self.frames_per_checkpoint * self.num_checkpoints

    @classmethod
    def plan(
        cls,
        frames_per_update: int,
        log_frequency: int,
        max_frame: int,
        eval_frequency: int = 0,
        num_envs: int = 1,
    ) -> Plan:
        """Checkpoints of whole updates, `log_frequency` rounded to them (or rows inside each update where it
        is shorter than an update), `eval_frequency` rounded to whole checkpoints; checkpoints until
        `max_frame` is reached."""
        if frames_per_update > log_frequency:
            vector_steps = frames_per_update // num_envs
            rows = min(vector_steps, frames_per_update // log_frequency + 1)
            eval_every = max(1, round(eval_frequency / frames_per_update))
            checkpoints = -(-max_frame // frames_per_update)
            return cls(frames_per_update, 1, checkpoints, eval_every, rows, log_frequency, num_envs)
        updates = max(1, round(log_frequency / frames_per_update))
        per_checkpoint = updates * frames_per_update
        eval_every = max(1, round(eval_frequency / per_checkpoint))
        return cls(frames_per_update, updates, -(-max_frame // per_checkpoint), eval_every, num_envs=num_envs)

    @property
    def frames_per_eval(self) -> int:
        return self.frames_per_checkpoint * self.eval_every

    def row_frames(self, frame_before: jax.Array, frame: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The frames of the checkpoint's rows [K] and which of them are rows [K]: its end, or SLM Lab's rows
        inside a long update (the first K vector steps within num_envs past a multiple of log_frequency)."""
        plan = self
        if plan.rows_per_checkpoint == 1:
            return frame[None], jnp.ones(1, bool)
        steps = plan.frames_per_update // plan.num_envs
        points = frame_before + plan.num_envs * jnp.arange(1, steps + 1, dtype=jnp.int32)
        crossing = points % plan.log_frequency < plan.num_envs
        (index,) = jnp.nonzero(crossing, size=plan.rows_per_checkpoint, fill_value=steps - 1)
        return points[index], jnp.arange(plan.rows_per_checkpoint) < crossing.sum()
