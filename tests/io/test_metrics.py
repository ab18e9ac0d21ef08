"""The experiment metrics on hand-computed examples."""

import math

import pandas as pd
import pytest

from jaxlab.io import metrics


def frame_df(rewards, frames=None, opt_steps=None):
    n = len(rewards)
    frames = frames or [100 * (i + 1) for i in range(n)]
    return pd.DataFrame(
        {
            "frame": frames,
            "total_reward": rewards,
            "total_reward_ma": pd.Series(rewards, dtype=float).rolling(100, min_periods=1).mean(),
            "opt_step": opt_steps or [10 * (i + 1) for i in range(n)],
        }
    )


def test_session_metrics_by_hand():
    # baseline 1: strengths 1, 3, 2
    m = metrics.session_metrics(frame_df([2.0, 4.0, 3.0], frames=[1, 2, 4]), random_baseline=1.0)
    assert m["strength"] == pytest.approx(2.0)
    assert m["max_strength"] == 3.0 and m["final_strength"] == 2.0
    # (1/1 + 3/2 + 2/4) / (1 + 1/2 + 1/4) = 3 / 1.75
    assert m["sample_efficiency"] == pytest.approx(3 / 1.75)
    # one drop of 1 against strengths 1 + 3 before the last: 1 - 1/4
    assert m["stability"] == pytest.approx(0.75)
    assert m["frame"] == 4 and m["total_reward_ma"] == pytest.approx(3.0)


def test_nan_rows_are_left_out():
    m = metrics.session_metrics(frame_df([float("nan"), 4.0, 6.0]), random_baseline=0.0)
    assert m["strength"] == pytest.approx(5.0) and m["stability"] == pytest.approx(1.0)


def test_training_efficiency_uses_opt_steps():
    m = metrics.session_metrics(frame_df([1.0, 3.0], opt_steps=[1, 3]), random_baseline=0.0)
    assert m["training_efficiency"] == pytest.approx((1 / 1 + 3 / 3) / (1 + 1 / 3))


def test_consistency_by_hand():
    a, b = frame_df([2.0, 4.0]), frame_df([4.0, 4.0])
    # strengths per row: (2, 4) and (4, 4); std (ddof=1) sqrt(2) and 0; means 3 and 4
    assert metrics.consistency([a, b], 0.0) == pytest.approx(1 - 2 * math.sqrt(2) / 7)
    assert math.isnan(metrics.consistency([a], 0.0))


def test_trial_metrics_average_sessions_and_keep_key_order():
    a, b = frame_df([2.0, 4.0]), frame_df([4.0, 4.0])
    m = metrics.trial_metrics([a, b], 0.0)
    assert tuple(m) == metrics.TRIAL_KEYS
    assert m["strength"] == pytest.approx((3.0 + 4.0) / 2)


def test_json_safe_replaces_nan():
    assert metrics.to_json_safe({"a": float("nan"), "b": [1.0, float("inf")]}) == {
        "a": None,
        "b": [1.0, None],
    }
