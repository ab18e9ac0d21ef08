"""From the session CSVs to metrics JSON and graphs. The run calls it when a trial ends and
`python -m jaxlab.retro` calls it on a folder later, so both give the same files."""

from __future__ import annotations

import os

import pandas as pd

from jaxlab.io import graphs, metrics
from jaxlab.io.files import write_json
from jaxlab.io.paths import RunPaths


def read_session_dfs(paths: RunPaths, trial: int, num_sessions: int, kind: str) -> list[pd.DataFrame]:
    return [pd.read_csv(paths.session_df(trial, s, kind)) for s in range(num_sessions)]


def analyze_trial(paths: RunPaths, trial: int, num_sessions: int, random_baseline: float, png: bool) -> dict:
    """Write session and trial metrics and all graphs of one trial; returns the trial scalar metrics."""
    dfs = {kind: read_session_dfs(paths, trial, num_sessions, kind) for kind in ("train", "eval")}
    info = os.path.join(paths.root, "info")
    figures = {}
    for s in range(num_sessions):
        prefix = paths.session_prefix(trial, s)
        for kind in ("train", "eval"):
            scalars = metrics.session_metrics(dfs[kind][s], random_baseline)
            write_json(os.path.join(info, f"{prefix}_session_metrics_scalar_{kind}.json"), metrics.to_json_safe(scalars))
        extra = tuple(dfs["train"][s].columns)
        for stem, fig in graphs.session_figures(prefix, dfs["train"][s], dfs["eval"][s], extra).items():
            figures[os.path.join(paths.root, "graph", stem)] = fig

    trial_prefix = paths.trial_prefix(trial)
    scalars = metrics.to_json_safe(metrics.trial_metrics(dfs["eval"], random_baseline))
    series = metrics.to_json_safe(metrics.trial_series(dfs["eval"]))
    for folder in (info, paths.root):  # the root holds a copy, as in SLM Lab
        write_json(os.path.join(folder, f"{trial_prefix}_trial_metrics_scalar.json"), scalars)
    write_json(os.path.join(info, f"{trial_prefix}_trial_metrics.json"), {"scalar": scalars, "series": series})
    for stem, fig in graphs.trial_figures(trial_prefix, series, num_sessions).items():
        figures[os.path.join(paths.root, stem)] = fig
    graphs.write_figures(figures, os.path.join(paths.root, "graph"), png)
    return scalars
