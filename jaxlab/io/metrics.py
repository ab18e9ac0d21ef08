"""SLM Lab's experiment metrics, as pure functions of numpy arrays (CONTRACT.md "Metrics").

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
TRIAL_KEYS = SESSION_KEYS + ("consistency",)
NAN = float("nan")


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
    matrix = np.stack([df["total_reward"].to_numpy(dtype=float)[:rows] for df in session_dfs]) - random_baseline
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


def trial_series(session_dfs: list[pd.DataFrame]) -> dict[str, list[float]]:
    """Per-checkpoint mean and std over sessions of total_reward and total_reward_ma (for trial graphs)."""
    rows = min(len(df) for df in session_dfs)
    frames = session_dfs[0]["frame"].to_numpy(dtype=float)[:rows]
    out = {"frame": frames.tolist()}
    for column in ("total_reward", "total_reward_ma"):
        matrix = np.stack([df[column].to_numpy(dtype=float)[:rows] for df in session_dfs])
        with warnings.catch_warnings():  # all-NaN columns (before any episode ended) are NaN, as intended
            warnings.simplefilter("ignore", RuntimeWarning)
            out[f"mean_{column}"] = np.nanmean(matrix, axis=0).tolist()
            out[f"std_{column}"] = (np.nanstd(matrix, axis=0, ddof=1) if len(session_dfs) > 1 else 0 * frames).tolist()
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
