"""Plotly graphs of a trial: session curves and trial mean +-1 std bands, as HTML and PNG.

HTML files load plotly.js from one `graph/plotly.min.js` instead of inlining 3 MB in each.
PNGs go through kaleido, which drives a Chrome/Chromium (Debian's `chromium` package works);
all PNGs of a run are written by one kaleido session. Without a browser the PNGs are skipped
with one warning line and `python -m jaxlab.retro` can make them later.
"""

from __future__ import annotations

import os
import shutil
import warnings

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from jaxlab.io.files import atomic_write

PLOTLY_JS = "plotly.min.js"
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
LAYOUT = dict(template="plotly_white", width=800, height=450, margin=dict(l=70, r=30, t=60, b=60))


def line_figure(df: pd.DataFrame, column: str, title: str, y_label: str) -> go.Figure:
    fig = go.Figure(go.Scatter(x=df["frame"], y=df[column], mode="lines", name=y_label, line=dict(color=COLORS[0])))
    fig.update_layout(title=title, xaxis_title="frames", yaxis_title=y_label, showlegend=True, **LAYOUT)
    return fig


def session_figures(
    prefix: str, train_df: pd.DataFrame, eval_df: pd.DataFrame, extra_columns: tuple[str, ...]
) -> dict[str, go.Figure]:
    """`graph/{prefix}_session_graph_*` figures, keyed by file stem."""
    figs = {}
    for kind, df in (("train", train_df), ("eval", eval_df)):
        figs[f"{prefix}_session_graph_{kind}_mean_returns_vs_frames"] = line_figure(
            df, "total_reward", f"{prefix} {kind}: mean returns", "mean return"
        )
        figs[f"{prefix}_session_graph_{kind}_mean_returns_ma_vs_frames"] = line_figure(
            df, "total_reward_ma", f"{prefix} {kind}: mean returns, 100-checkpoint moving average", "mean return (ma)"
        )
    for column in ("loss", *(c for c in ("entropy", "explore_var") if c in extra_columns)):
        figs[f"{prefix}_session_graph_train_{column}_vs_frame"] = line_figure(
            train_df, column, f"{prefix} train: {column}", column
        )
    return figs


def band_figure(frames, mean, std, label: str, title: str, y_label: str, color: str = COLORS[0]) -> go.Figure:
    fig = go.Figure()
    add_band(fig, frames, mean, std, label, color)
    fig.update_layout(title=title, xaxis_title="frames", yaxis_title=y_label, showlegend=True, **LAYOUT)
    return fig


def add_band(fig: go.Figure, frames, mean, std, label: str, color: str) -> None:
    """A mean line with a shaded +-1 std band (the band is one legend entry with the line)."""
    frames, mean, std = (np.asarray(x, dtype=float) for x in (frames, mean, std))
    rgba = f"rgba({int(color[1:3], 16)}, {int(color[3:5], 16)}, {int(color[5:7], 16)}, 0.2)"
    fig.add_trace(go.Scatter(
        x=np.concatenate([frames, frames[::-1]]), y=np.concatenate([mean + std, (mean - std)[::-1]]),
        fill="toself", fillcolor=rgba, line=dict(width=0), hoverinfo="skip", legendgroup=label, showlegend=False,
    ))
    fig.add_trace(go.Scatter(x=frames, y=mean, mode="lines", name=label, line=dict(color=color), legendgroup=label))


def trial_figures(prefix: str, series: dict, num_sessions: int) -> dict[str, go.Figure]:
    """The two trial graphs: mean over sessions of total_reward and of total_reward_ma, +-1 std."""
    label = f"mean of {num_sessions} session{'s' if num_sessions > 1 else ''} ± 1 std"
    return {
        f"{prefix}_trial_graph_mean_returns_vs_frames": band_figure(
            series["frame"], series["mean_total_reward"], series["std_total_reward"], label,
            f"{prefix}: mean returns (eval)", "mean return",
        ),
        f"{prefix}_trial_graph_mean_returns_ma_vs_frames": band_figure(
            series["frame"], series["mean_total_reward_ma"], series["std_total_reward_ma"], label,
            f"{prefix}: mean returns, 100-checkpoint moving average (eval)", "mean return (ma)",
        ),
    }


def browser_available() -> bool:
    """Whether kaleido can find a Chrome/Chromium to render PNGs with."""
    try:
        from choreographer.browsers.chromium import Chromium

        return Chromium.find_browser(skip_local=False) is not None
    except Exception:  # noqa: BLE001 — any failure to locate one means no PNGs
        return any(shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome", "chrome"))


def start_png_renderer() -> bool:
    """Open kaleido's browser now, so its start-up (~2 s) overlaps other work; False when there is
    no browser. `write_figures` uses the open renderer; `stop_png_renderer` closes it."""
    if not browser_available():
        return False
    import kaleido

    kaleido.start_sync_server(n=1, silence_warnings=True)
    return True


def stop_png_renderer() -> None:
    import kaleido

    kaleido.stop_sync_server(silence_warnings=True)


def write_figures(figures: dict[str, go.Figure], graph_dir: str, png: bool) -> None:
    """Write each figure as `{path}.html`, and as `{path}.png` when `png`. Keys are paths without extension."""
    os.makedirs(graph_dir, exist_ok=True)
    js_path = os.path.join(graph_dir, PLOTLY_JS)
    if not os.path.exists(js_path):
        from plotly.offline import get_plotlyjs

        atomic_write(js_path, lambda tmp: open(tmp, "w").write(get_plotlyjs()))
    for path, fig in figures.items():
        script = os.path.relpath(js_path, os.path.dirname(path) or ".")
        atomic_write(path + ".html", lambda tmp, fig=fig, script=script: fig.write_html(tmp, include_plotlyjs=script))
    if png and figures:
        with warnings.catch_warnings():  # plotly warns that its default kaleido options yield to the open server
            warnings.filterwarnings("ignore", message="The kopts argument is ignored")
            pio.write_images(list(figures.values()), [p + ".png" for p in figures], format="png")
