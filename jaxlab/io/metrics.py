"""SLM Lab's experiment metrics, as pure functions of numpy arrays (docs/output.md, "Metrics").

With `str_i = total_reward_i - R_rand` over a session's checkpoints i = 1..N (rows whose
total_reward is NaN are left out), R_rand the mean return of a uniform random policy:

    strength            = mean_i str_i
    max_strength        = max_i str_i
    final_strength      = str_N
    sample_efficiency   = sum_i (str_i / frame_i) / sum_i (1 / frame_i)
    training_efficiency = sum_i (str_i / opt_step_i) / sum_i (1 / opt_step_i)
    stability           = 1 - |sum_{i<N} min(str_{i+1} - str_i, 0) / sum_{i<N} str_i|
    consistency (trial) = 1 - sum_i 2 std_j(str_ij) / sum_i mean_j(str_ij)   over sessions j, ddof=1
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

SESSION_KEYS = (
    "frame",
    "total_reward_ma",
    "strength",
    "max_strength",
    "final_strength",
    "sample_efficiency",
    "training_efficiency",
    "stability",
)
TRIAL_KEYS = (*SESSION_KEYS, "consistency")
NAN = float("nan")
MA_WINDOW = 100  # total_reward_ma: the mean of total_reward over the last 100 rows


def weighted_efficiency(strength: np.ndarray, steps: np.ndarray) -> float:
    """sum(str / steps) / sum(1 / steps) over rows with steps > 0: strength weighted towards early rows."""
    keep = steps > 0
    if not keep.any():
        return NAN
    return float((strength[keep] / steps[keep]).sum() / (1.0 / steps[keep]).sum())


def stability(strength: np.ndarray) -> float:
    """1 - |sum of drops between consecutive rows / sum of strengths before the last|."""
    if len(strength) < 2:
        return NAN
    denominator = strength[:-1].sum()
    if denominator == 0:
        return NAN
    return float(1.0 - abs(np.minimum(np.diff(strength), 0.0).sum() / denominator))


def session_metrics(df: pd.DataFrame, random_baseline: float) -> dict[str, float]:
    """The session scalar metrics of one session DataFrame (train or eval)."""
    rewards = df["total_reward"].to_numpy(dtype=float)
    keep = ~np.isnan(rewards)
    strength = rewards[keep] - random_baseline
    out = {key: NAN for key in SESSION_KEYS}
    if len(df):
        out["frame"] = float(df["frame"].iloc[-1])
        out["total_reward_ma"] = float(df["total_reward_ma"].iloc[-1])
    if len(strength):
        out.update(
            strength=float(strength.mean()),
            max_strength=float(strength.max()),
            final_strength=float(strength[-1]),
            sample_efficiency=weighted_efficiency(strength, df["frame"].to_numpy(dtype=float)[keep]),
            training_efficiency=weighted_efficiency(strength, df["opt_step"].to_numpy(dtype=float)[keep]),
            stability=stability(strength),
        )
    return out


def consistency(session_dfs: list[pd.DataFrame], random_baseline: float) -> float:
    """1 - sum_i 2 std_j / sum_i mean_j of strength over sessions j, at rows where every session has one."""
    if len(session_dfs) < 2:
        return NAN
    rows = min(len(df) for df in session_dfs)
    matrix = (
        np.stack([df["total_reward"].to_numpy(dtype=float)[:rows] for df in session_dfs]) - random_baseline
    )
    matrix = matrix[:, ~np.isnan(matrix).any(axis=0)]
    if matrix.shape[1] == 0 or matrix.mean(axis=0).sum() == 0:
        return NAN
    return float(1.0 - (2.0 * matrix.std(axis=0, ddof=1)).sum() / matrix.mean(axis=0).sum())


def trial_metrics(session_dfs: list[pd.DataFrame], random_baseline: float) -> dict[str, float]:
    """Trial scalars: the mean of the session values (NaN skipped), consistency across sessions,
    `frame` the last frame."""
    per_session = [session_metrics(df, random_baseline) for df in session_dfs]
    out = {}
    for key in SESSION_KEYS:
        values = [m[key] for m in per_session if not math.isnan(m[key])]
        out[key] = float(np.max(values) if key == "frame" else np.mean(values)) if values else NAN
    out["consistency"] = consistency(session_dfs, random_baseline)
    return out


def session_local(df: pd.DataFrame, random_baseline: float) -> dict[str, list[float]]:
    """SLM Lab's local series of one session DataFrame, one value per row (NaN where total_reward is):
    the returns, the strengths, and the running versions of the efficiencies and the stability (at row k,
    the scalar formula over rows <= k), with the frames and opt_steps they go with."""
    rewards = df["total_reward"].to_numpy(dtype=float)
    frames, opt_steps = df["frame"].to_numpy(dtype=float), df["opt_step"].to_numpy(dtype=float)
    finite = np.isfinite(rewards)
    strength = rewards - random_baseline
    stabilities = np.full(len(df), NAN)
    kept = strength[finite]
    if len(kept) > 1:  # row m of the finite ones: the stability of rows 0 .. m
        drops = np.cumsum(np.minimum(np.diff(kept), 0.0))
        before = np.cumsum(kept[:-1])
        with np.errstate(divide="ignore", invalid="ignore"):
            stabilities[np.flatnonzero(finite)[1:]] = np.where(before != 0, 1.0 - np.abs(drops / before), NAN)
    return {
        "mean_returns": rewards.tolist(),
        "strengths": strength.tolist(),
        "sample_efficiencies": _running_efficiency(strength, frames, finite).tolist(),
        "training_efficiencies": _running_efficiency(strength, opt_steps, finite).tolist(),
        "stabilities": stabilities.tolist(),
        "frames": frames.tolist(),
        "opt_steps": opt_steps.tolist(),
    }


def _running_efficiency(strength: np.ndarray, steps: np.ndarray, finite: np.ndarray) -> np.ndarray:
    """`weighted_efficiency` of rows 0 .. k at each row k; NaN on rows without a strength."""
    weight = np.where(finite & (steps > 0), 1.0 / np.where(steps > 0, steps, 1.0), 0.0)
    numerator = np.cumsum(np.where(weight > 0, strength, 0.0) * weight)
    denominator = np.cumsum(weight)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(finite & (denominator > 0), numerator / denominator, NAN)


def trial_local(session_locals: list[dict]) -> dict:
    """SLM Lab's trial local series: each session's series as one list per session, the consistency at each
    row (over the sessions that have the row, ddof=1), and the frames and opt_steps of the longest session
    (a session frozen when it diverged has fewer rows)."""
    longest = max(session_locals, key=lambda local: len(local["frames"]))
    strengths = _rows_by_session([local["strengths"] for local in session_locals])
    with warnings.catch_warnings():  # rows with fewer than 2 sessions are NaN, as intended
        warnings.simplefilter("ignore", RuntimeWarning)
        consistencies = 1.0 - 2.0 * np.nanstd(strengths, axis=0, ddof=1) / np.nanmean(strengths, axis=0)
    per_session = ("mean_returns", "strengths", "sample_efficiencies", "training_efficiencies", "stabilities")
    return {
        **{key: [local[key] for local in session_locals] for key in per_session},
        "consistencies": consistencies.tolist(),
        "frames": list(longest["frames"]),
        "opt_steps": list(longest["opt_steps"]),
    }


def _rows_by_session(series: list[list]) -> np.ndarray:
    """[sessions, rows] float, NaN-padded where a session has fewer rows (None is NaN: read from JSON)."""
    rows = max((len(values) for values in series), default=0)
    matrix = np.full((len(series), rows), NAN)
    for s, values in enumerate(series):
        matrix[s, : len(values)] = np.asarray(values, dtype=float)
    return matrix


def moving_average(returns: np.ndarray) -> np.ndarray:
    """total_reward_ma of a row of returns [..., rows]: the mean of the last MA_WINDOW values, NaN skipped."""
    frame = pd.DataFrame(np.atleast_2d(returns).T)
    return frame.rolling(MA_WINDOW, min_periods=1).mean().to_numpy().T.reshape(np.shape(returns))


def trial_curves(local: dict) -> dict[str, list[float]]:
    """The trial graphs' curves from a trial's local series: per row, the mean and std over sessions of the
    returns and of their moving average (the sessions' total_reward_ma)."""
    returns = _rows_by_session(local["mean_returns"])
    out = {"frame": list(local["frames"])}
    with warnings.catch_warnings():  # all-NaN rows (before any episode ended) are NaN, as intended
        warnings.simplefilter("ignore", RuntimeWarning)
        for name, matrix in (("total_reward", returns), ("total_reward_ma", moving_average(returns))):
            out[f"mean_{name}"] = np.nanmean(matrix, axis=0).tolist()
            std = np.nanstd(matrix, axis=0, ddof=1) if len(matrix) > 1 else np.zeros(matrix.shape[1])
            out[f"std_{name}"] = std.tolist()
    return out


def to_json_safe(values: dict) -> dict:
    """NaN and inf become None, so the JSON files are standard JSON."""

    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list):
            return [clean(x) for x in v]
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return v

    return clean(values)
