"""From the session CSVs to metrics JSON and graphs. The run calls it when trials end and `jaxlab retro`
calls it on a folder later, so both give the same files. The metrics files follow SLM Lab's layout
({"scalar": ..., "local": ...}), so SLM Lab's own `slm-lab plot` and retro-analysis read them."""

from __future__ import annotations

import json
import os

import pandas as pd

from jaxlab.io import graphs, metrics
from jaxlab.io.files import write_json, write_text
from jaxlab.io.graphs import Figure
from jaxlab.io.paths import RunPaths

DF_KINDS = ("train", "eval")


def read_session_dfs(paths: RunPaths, trial: int, num_sessions: int, kind: str) -> list[pd.DataFrame]:
    return [pd.read_csv(paths.session_df(trial, s, kind)) for s in range(num_sessions)]


def analyze_trial(
    paths: RunPaths,
    trial: int,
    num_sessions: int,
    random_baseline: float,
    diverged_sessions: int,
    columns: tuple[str, ...],
) -> tuple[dict, dict[str, Figure]]:
    """Write the session and trial metrics of one trial; returns the trial scalar metrics and its graphs
    (for `write_figures`; `columns`: the algorithm's df columns, graphed with the loss). `diverged_sessions`
    counts the sessions frozen when they went non-finite; a session that diverged before its first row has
    an empty df and NaN metrics."""
    dfs = {kind: read_session_dfs(paths, trial, num_sessions, kind) for kind in DF_KINDS}
    figures = {}
    eval_locals = []
    for s in range(num_sessions):
        for kind in DF_KINDS:
            scalar = metrics.to_json_safe(metrics.session_metrics(dfs[kind][s], random_baseline))
            local = metrics.session_local(dfs[kind][s], random_baseline)
            write_json(paths.session_metrics(trial, s, kind, scalar=True), scalar)
            write_json(
                paths.session_metrics(trial, s, kind, scalar=False),
                metrics.to_json_safe({"scalar": scalar, "local": local}),
            )
            if kind == "eval":
                eval_locals.append(local)
        prefix = paths.session_prefix(trial, s)
        for stem, fig in graphs.session_figures(prefix, dfs["train"][s], dfs["eval"][s], columns).items():
            figures[paths.graph(stem)] = fig

    scalar = metrics.trial_metrics(dfs["eval"], random_baseline)
    scalar = metrics.to_json_safe({**scalar, "diverged_sessions": diverged_sessions})
    local = metrics.trial_local(eval_locals)
    for in_root in (False, True):  # the root holds a copy, as in SLM Lab
        write_json(paths.trial_metrics(trial, scalar=True, in_root=in_root), scalar)
    write_json(
        paths.trial_metrics(trial, scalar=False), metrics.to_json_safe({"scalar": scalar, "local": local})
    )
    curves = metrics.to_json_safe(metrics.trial_curves(local))
    for stem, fig in graphs.trial_figures(paths.trial_prefix(trial), curves, num_sessions).items():
        figures[paths.graph(stem, in_root=True)] = fig
    return scalar, figures


def analyze_experiment(
    paths: RunPaths, samples: dict[int, dict], unfinished: set[int] = frozenset()
) -> tuple[pd.DataFrame, dict[str, Figure]]:
    """A search's `experiment_df.csv` (trial, the searched keys, the trial metrics, `finished`; best strength
    first) in info/ and the folder root, from the trials' metrics files; returns the multi-trial graphs.
    `unfinished`: trials an interrupt stopped before their last frame (`finished` false)."""
    rows, curves = [], {}
    for trial, sample in sorted(samples.items()):
        with open(paths.trial_metrics(trial, scalar=False)) as f:
            trial_metrics = json.load(f)
        searched = {key: _cell(sample[key]) for key in sorted(sample)}
        rows.append(
            {"trial": trial, **searched, **trial_metrics["scalar"], "finished": trial not in unfinished}
        )
        curves[trial] = metrics.trial_curves(trial_metrics["local"])
    df = pd.DataFrame(rows).sort_values("strength", ascending=False, na_position="last", kind="stable")
    csv = df.to_csv(index=False)
    for in_root in (False, True):
        write_text(paths.experiment_df(in_root), csv)
    return df, {
        paths.graph(stem): fig for stem, fig in graphs.multi_trial_figures(paths.name, curves).items()
    }


def _cell(value: object) -> object:
    """A searched value as one CSV cell: lists (layer sizes) as their JSON text."""
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def write_figures(paths: RunPaths, figures: dict[str, Figure], png: bool) -> None:
    graphs.write_figures(figures, paths.graph(""), png)


def run_curves(folder: str) -> tuple[dict, dict]:
    """A run folder's first trial: its trial spec and its curves (`metrics.trial_curves`) from its trial
    metrics; ValueError when the folder has none."""
    paths = RunPaths.existing(folder)
    trial_specs = paths.trial_specs()
    if not trial_specs or not os.path.exists(paths.trial_metrics(0, scalar=False)):
        raise ValueError(
            f"{folder} has no trial metrics yet — let the run finish, or run jaxlab retro {folder}"
        )
    with open(trial_specs[0]) as f:
        trial_spec = json.load(f)
    with open(paths.trial_metrics(int(trial_spec["meta"]["trial"]), scalar=False)) as f:
        local = json.load(f)["local"]
    return trial_spec, metrics.trial_curves(local)
