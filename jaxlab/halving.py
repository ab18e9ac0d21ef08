"""Successive halving, ASHA's rule, for the trials of vmapped programs: the rungs of a plan, the trials to
stop
at a rung, and the values it judges them by (each trial's mean eval total_reward_ma over its sessions)."""

from __future__ import annotations

import numpy as np

from jaxlab.engine import RUNNING
from jaxlab.plan import Plan
from jaxlab.recorder import SessionLayout


class SuccessiveHalving:
    """ASHA's rule, applied to the trials of vmapped programs as they pass each rung together: at
    `grace_period * reduction_factor**k` frames a trial continues only if its total_reward_ma is at or above
    the (1 - 1/reduction_factor) quantile of all values recorded at that rung, across programs."""

    def __init__(self, grace_period: int, reduction_factor: int):
        self.grace_period, self.reduction_factor = grace_period, reduction_factor
        self.recorded: dict[int, list[float]] = {}  # rung (frames) -> values of the trials that reached it

    def rungs(self, plan: Plan) -> dict[int, int]:
        """{checkpoints done: rung frames} for the rungs before the last checkpoint."""
        rungs, frames = {}, self.grace_period
        while (done := -(-frames // plan.frames_per_checkpoint)) < plan.num_checkpoints:
            rungs[done] = frames
            frames *= self.reduction_factor
        return rungs

    def cut(self, rung: int, values: dict[int, float]) -> list[int]:
        """Record the trials' values at `rung`; return those to stop."""
        recorded = self.recorded.setdefault(rung, [])
        recorded.extend(values.values())
        cutoff = np.nanpercentile(recorded, 100 * (1 - 1 / self.reduction_factor))
        return [trial for trial, value in values.items() if not value >= cutoff]  # NaN stops too


def rung_values(
    layout: SessionLayout, status: np.ndarray, eval_rows: list[list[dict]], sessions: range
) -> dict[int, float]:
    """Each trial among `sessions` that still runs: the mean over its sessions of their last eval
    total_reward_ma (NaN before any eval row)."""
    per_trial, values = layout.sessions_per_trial, {}
    for g in range(sessions.start, sessions.stop, per_trial):
        if (status[g : g + per_trial] == RUNNING).any():
            rows = [eval_rows[s][-1] for s in range(g, g + per_trial) if eval_rows[s]]
            mean = float(np.nanmean([row["total_reward_ma"] for row in rows])) if rows else np.nan
            values[layout.trial_session(g)[0]] = mean
    return values


def cut_in_words(rung: int, kept: list[int], stopped: list[int]) -> str:
    return f"successive halving at {rung:,} frames: {_trials(kept)} continue, {_trials(stopped)} stop"


def _trials(trials: list[int]) -> str:
    if not trials:
        return "no trials"
    return f"trial{'s' if len(trials) > 1 else ''} {', '.join(map(str, sorted(trials)))}"
