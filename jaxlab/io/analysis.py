"""From the session CSVs to metrics JSON and graphs. The run calls it when trials end and
`python -m jaxlab.retro` calls it on a folder later, so both give the same files."""

from __future__ import annotations

import json
import os

import pandas as pd

from jaxlab.io import graphs, metrics
from jaxlab.io.files import write_json, write_text
from jaxlab.io.graphs import Figure
from jaxlab.io.paths import RunPaths


def read_session_dfs(paths: RunPaths, trial: int, num_sessions: int, kind: str) -> list[pd.DataFrame]:
    return [pd.read_csv(paths.session_df(trial, s, kind)) for s in range(num_sessions)]


def analyze_trial(
    paths: RunPaths, trial: int, num_sessions: int, random_baseline: float, diverged_sessions: int = 0
) -> tuple[dict, dict[str, Figure]]:
    """Write the session and trial metrics of one trial; returns the trial scalar metrics and its graphs
    (for `write_figures`). `diverged_sessions` counts the sessions frozen when they went non-finite."""
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
    scalars = metrics.trial_metrics(dfs["eval"], random_baseline)
    scalars = metrics.to_json_safe({**scalars, "diverged_sessions": diverged_sessions})
    # A session that diverged before its first row has none: the trial's curves are those of the others.
    series = metrics.to_json_safe(metrics.trial_series([df for df in dfs["eval"] if len(df)] or dfs["eval"]))
    for folder in (info, paths.root):  # the root holds a copy, as in SLM Lab
        write_json(os.path.join(folder, f"{trial_prefix}_trial_metrics_scalar.json"), scalars)
    write_json(trial_metrics_path(paths, trial), {"scalar": scalars, "series": series})
    for stem, fig in graphs.trial_figures(trial_prefix, series, num_sessions).items():
        figures[os.path.join(paths.root, stem)] = fig
    return scalars, figures


def trial_metrics_path(paths: RunPaths, trial: int) -> str:
    return os.path.join(paths.root, "info", f"{paths.trial_prefix(trial)}_trial_metrics.json")


def analyze_experiment(paths: RunPaths, samples: dict[int, dict]) -> tuple[pd.DataFrame, dict[str, Figure]]:
    """A search's `experiment_df.csv` (trial, the searched keys, the trial metrics; best strength first) in
    info/ and the folder root, from the trials' metrics files; returns the multi-trial graphs."""
    rows, series = [], {}
    for trial, sample in sorted(samples.items()):
        with open(trial_metrics_path(paths, trial)) as f:
            trial_metrics = json.load(f)
        rows.append({"trial": trial, **{key: _cell(sample[key]) for key in sorted(sample)}, **trial_metrics["scalar"]})
        series[trial] = trial_metrics["series"]
    df = pd.DataFrame(rows).sort_values("strength", ascending=False, na_position="last", kind="stable")
    csv = df.to_csv(index=False)
    for folder in (os.path.join(paths.root, "info"), paths.root):
        write_text(os.path.join(folder, f"{paths.name}_experiment_df.csv"), csv)
    graph = os.path.join(paths.root, "graph")
    return df, {os.path.join(graph, stem): fig for stem, fig in graphs.multi_trial_figures(paths.name, series).items()}


def _cell(value: object) -> object:
    """A searched value as one CSV cell: lists (layer sizes) as their JSON text."""
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def write_figures(paths: RunPaths, figures: dict[str, Figure], png: bool) -> None:
    graphs.write_figures(figures, os.path.join(paths.root, "graph"), png)
