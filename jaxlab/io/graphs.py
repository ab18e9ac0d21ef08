"""Plotly graphs of a trial: session curves and trial mean +-1 std bands, as HTML and PNG.

HTML files load plotly.js from one `graph/plotly.min.js` instead of inlining 3 MB in each.
PNGs go through kaleido, which drives a Chrome/Chromium (Debian's `chromium` package works).
Kaleido spends ~0.2 s per call whatever the figure's size, so the PNGs of a trial are drawn as a
tall sheet (each figure a subplot whose plot area, title, axes and legend sit exactly where they
would in the standalone figure), cut into one PNG per figure. Without a browser the PNGs are skipped
with one warning line and `jaxlab retro` can make them later.
"""

from __future__ import annotations

import functools
import io
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from typing import Self

import numpy as np
import pandas as pd
import plotly.io as pio

from jaxlab.io import log as run_log
from jaxlab.io.files import atomic_write

PLOTLY_JS = "plotly.min.js"
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
WIDTH, HEIGHT = 800, 450
MARGIN = dict(l=70, r=30, t=60, b=90)
# The legend sits in one row under the x axis title, at the right: outside the plot area, so it never hides
# a curve (inside, a solved curve ended under it), and the figure needs no room beside its plot.
LEGEND_BELOW_PX = 52  # from the plot area's bottom edge to the legend's top
LEGEND = dict(
    orientation="h",
    x=1.0,
    xanchor="right",
    yanchor="top",
    y=-LEGEND_BELOW_PX / (HEIGHT - MARGIN["t"] - MARGIN["b"]),  # in the plot area's fractions
)
TITLE_FONT = dict(size=17)
START_ATTEMPTS = 2
PNG_START_SECONDS = 60.0  # past this the run ends without PNGs rather than wait on a stuck browser
MAX_SHEET_FIGURES = 60  # 60 x 450 px stays under Chromium's 32767-px canvas limit


TEMPLATE_KEYS = (
    "autotypenumbers",
    "colorway",
    "font",
    "hovermode",
    "hoverlabel",
    "paper_bgcolor",
    "plot_bgcolor",
    "xaxis",
    "yaxis",
    "title",
)
Figure = dict  # a plotly figure as plain JSON: {"data": [trace, ...], "layout": {...}}


@functools.cache
def _template() -> dict:
    """plotly_white's look for 2D line charts, as plain JSON. Figures are dicts, not `go.Figure`s:
    plotly's validation and its per-figure deep copy of the template cost ~60 ms per figure, more than
    drawing them. Only the layout keys a line chart uses are kept: plotly.js resolves the rest (trace
    styles, 3D, geo, polar) for every subplot, a third of a PNG sheet's render time."""
    layout = {
        k: v
        for k, v in pio.templates["plotly_white"].to_plotly_json()["layout"].items()
        if k in TEMPLATE_KEYS
    }
    for axis in ("xaxis", "yaxis"):  # margins are fixed (MARGIN); automargin re-lays out every subplot
        layout[axis] = {**layout[axis], "automargin": False}
    return {"layout": layout}


def _line(x, y, **trace) -> dict:
    return {"type": "scatter", "x": np.asarray(x, dtype=float), "y": np.asarray(y, dtype=float), **trace}


def styled(data: list[dict], title: str, y_label: str) -> Figure:
    """The house layout: title, axis titles, legend inside the plot area, fixed size and margins."""
    layout = dict(
        template=_template(),
        width=WIDTH,
        height=HEIGHT,
        margin=MARGIN,
        showlegend=True,
        legend=LEGEND,
        title=dict(text=title, x=MARGIN["l"] / WIDTH, xanchor="left", font=TITLE_FONT),
        xaxis=dict(title=dict(text="frames")),
        yaxis=dict(title=dict(text=y_label)),
    )
    return {"data": data, "layout": layout}


def line_figure(df: pd.DataFrame, column: str, title: str, y_label: str) -> Figure:
    line = _line(df["frame"], df[column], mode="lines", name=y_label, line=dict(color=COLORS[0]))
    return styled([line], title, y_label)


def session_figures(
    prefix: str, train_df: pd.DataFrame, eval_df: pd.DataFrame, columns: tuple[str, ...]
) -> dict[str, Figure]:
    """`graph/{prefix}_session_graph_*` figures, keyed by file stem: the returns of both dfs, and the train
    df's loss and the algorithm's `columns`."""
    figs = {}
    for kind, df in (("train", train_df), ("eval", eval_df)):
        figs[f"{prefix}_session_graph_{kind}_mean_returns_vs_frames"] = line_figure(
            df, "total_reward", f"{prefix} {kind}: mean returns", "mean return"
        )
        figs[f"{prefix}_session_graph_{kind}_mean_returns_ma_vs_frames"] = line_figure(
            df,
            "total_reward_ma",
            f"{prefix} {kind}: mean returns, 100-checkpoint moving average",
            "mean return (ma)",
        )
    for column in ("loss", *columns):
        figs[f"{prefix}_session_graph_train_{column}_vs_frame"] = line_figure(
            train_df, column, f"{prefix} train: {column}", column
        )
    return figs


def band_traces(frames, mean, std, label: str, color: str = COLORS[0]) -> list[dict]:
    """A mean line with a shaded +-1 std band (the band is one legend entry with the line)."""
    frames, mean, std = (np.asarray(x, dtype=float) for x in (frames, mean, std))
    rgba = f"rgba({int(color[1:3], 16)}, {int(color[3:5], 16)}, {int(color[5:7], 16)}, 0.2)"
    band = _line(
        np.concatenate([frames, frames[::-1]]),
        np.concatenate([mean + std, (mean - std)[::-1]]),
        fill="toself",
        fillcolor=rgba,
        line=dict(width=0),
        hoverinfo="skip",
        legendgroup=label,
        showlegend=False,
    )
    return [band, _line(frames, mean, mode="lines", name=label, line=dict(color=color), legendgroup=label)]


def trial_figures(prefix: str, series: dict, num_sessions: int) -> dict[str, Figure]:
    """The two trial graphs: mean over sessions of total_reward and of total_reward_ma, +-1 std."""
    label = f"mean of {num_sessions} session{'s' if num_sessions > 1 else ''} ± 1 std"
    return {
        f"{prefix}_trial_graph_mean_returns_vs_frames": styled(
            band_traces(series["frame"], series["mean_total_reward"], series["std_total_reward"], label),
            f"{prefix}: mean returns (eval)",
            "mean return",
        ),
        f"{prefix}_trial_graph_mean_returns_ma_vs_frames": styled(
            band_traces(
                series["frame"], series["mean_total_reward_ma"], series["std_total_reward_ma"], label
            ),
            f"{prefix}: mean returns, 100-checkpoint moving average (eval)",
            "mean return (ma)",
        ),
    }


def multi_trial_figures(name: str, series: dict[int, dict]) -> dict[str, Figure]:
    """A search's two multi-trial graphs: each trial's mean over sessions of total_reward and of its moving
    average."""
    figures = {}
    for suffix, column, title, y_label in (
        ("", "mean_total_reward", "mean returns (eval)", "mean return"),
        (
            "_ma",
            "mean_total_reward_ma",
            "mean returns, 100-checkpoint moving average (eval)",
            "mean return (ma)",
        ),
    ):
        traces = [
            _line(
                trial_series["frame"],
                trial_series[column],
                name=f"trial {trial}",
                line=dict(color=COLORS[i % len(COLORS)]),
            )
            for i, (trial, trial_series) in enumerate(sorted(series.items()))
        ]
        figures[f"{name}_multi_trial_graph_mean_returns{suffix}_vs_frames"] = styled(
            traces, f"{name}: {title} by trial", y_label
        )
    return figures


def comparison_figures(title: str, curves: dict[str, dict]) -> dict[str, Figure]:
    """`jaxlab plot`'s graph of several runs (SLM Lab's `slm-lab plot`): each run's mean over sessions of the
    returns' moving average, +-1 std, one colour per run, labelled by `curves`' keys."""
    traces = []
    for i, (label, run) in enumerate(curves.items()):
        traces += band_traces(
            run["frame"],
            run["mean_total_reward_ma"],
            run["std_total_reward_ma"],
            label,
            COLORS[i % len(COLORS)],
        )
    stem = f"{title.replace('/', '_')}_multi_trial_graph_mean_returns_ma_vs_frames"
    return {
        stem: styled(
            traces, f"{title}: mean returns, 100-checkpoint moving average (eval)", "mean return (ma)"
        )
    }


def browser_available() -> bool:
    """Whether kaleido can find a Chrome/Chromium to render PNGs with."""
    try:
        from choreographer.browsers.chromium import Chromium

        return Chromium.find_browser(skip_local=False) is not None
    except Exception:
        return any(shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome", "chrome"))


def start_png_renderer() -> bool:
    """Open kaleido's browser now, so its start-up (~2 s) overlaps other work; False when there is
    no browser. `write_figures` uses the open renderer; `stop_png_renderer` closes it."""
    if not browser_available():
        return False
    import kaleido

    for attempt in range(START_ATTEMPTS):
        # One tab: two rendered the sheets ~30% faster but started slower, and once hung starting up.
        kaleido.start_sync_server(n=1, silence_warnings=True)
        try:
            # The first render loads plotly.js into the page: do it now, not at the end.
            kaleido.calc_fig_sync(styled([_line([0, 1], [0, 1])], "", ""), opts={"width": 50, "height": 50})
            return True
        except Exception:  # a page whose scripts had not loaded yet (seen under load): start afresh once
            kaleido.stop_sync_server(silence_warnings=True)
            if attempt == START_ATTEMPTS - 1:
                raise
    return False


def stop_png_renderer() -> None:
    import kaleido

    kaleido.stop_sync_server(silence_warnings=True)


def write_figures(figures: dict[str, Figure], graph_dir: str, png: bool) -> None:
    """Write each figure as `{path}.html`, and as `{path}.png` when `png`. Keys are paths without extension.
    The PNGs render in Chromium while this thread writes the HTML files."""
    os.makedirs(graph_dir, exist_ok=True)
    js_path = os.path.join(graph_dir, PLOTLY_JS)
    if not os.path.exists(js_path):
        from plotly.offline import get_plotlyjs

        atomic_write(js_path, lambda tmp: open(tmp, "w").write(get_plotlyjs()))
    with ThreadPoolExecutor(1) as pool:
        pngs = pool.submit(write_pngs, figures, graph_dir) if png else None
        for path, fig in figures.items():
            script = os.path.relpath(js_path, os.path.dirname(path) or ".")
            html = pio.to_html(fig, include_plotlyjs=script, validate=False)
            atomic_write(path + ".html", lambda tmp, html=html: open(tmp, "w").write(html))
        if pngs is not None:
            pngs.result()


def sheet_figure(figures: list[Figure]) -> Figure:
    """One WIDTH x (n * HEIGHT) figure holding `figures` top to bottom, block i laid out like figure i."""
    n = len(figures)
    data, layout = [], {}
    for i, fig in enumerate(figures):
        suffix = "" if i == 0 else str(i + 1)
        top = 1.0 - i / n  # block i spans [top - 1/n, top] of the sheet's height
        plot_top, plot_bottom = top - MARGIN["t"] / (n * HEIGHT), top - 1 / n + MARGIN["b"] / (n * HEIGHT)
        x_domain = [MARGIN["l"] / WIDTH, 1 - MARGIN["r"] / WIDTH]
        data += [
            {**trace, "xaxis": f"x{suffix}", "yaxis": f"y{suffix}", "legend": f"legend{suffix}"}
            for trace in fig["data"]
        ]
        fig_layout = fig["layout"]
        layout[f"xaxis{suffix}"] = dict(
            domain=x_domain, anchor=f"y{suffix}", title=fig_layout["xaxis"]["title"]
        )
        layout[f"yaxis{suffix}"] = dict(
            domain=[plot_bottom, plot_top], anchor=f"x{suffix}", title=fig_layout["yaxis"]["title"]
        )
        layout[f"legend{suffix}"] = {
            **LEGEND,
            "x": x_domain[1],
            "y": plot_bottom - LEGEND_BELOW_PX / (n * HEIGHT),
        }
        layout.setdefault("annotations", []).append(
            dict(
                text=fig_layout["title"]["text"],
                font=TITLE_FONT,
                showarrow=False,
                xref="paper",
                yref="paper",
                x=x_domain[0],
                y=top - MARGIN["t"] / 2 / (n * HEIGHT),
                xanchor="left",
                yanchor="middle",
            )
        )
    layout.update(
        template=_template(),
        width=WIDTH,
        height=n * HEIGHT,
        margin=dict(l=0, r=0, t=0, b=0),
        showlegend=True,
        hovermode=False,  # a still image: no hover layers to build
    )
    return {"data": data, "layout": layout}


def write_pngs(figures: dict[str, Figure], graph_dir: str) -> None:
    """Render `figures` as tall sheets (one unless there are more than MAX_SHEET_FIGURES) and cut each
    sheet into one PNG per figure. Keys are paths without extension."""
    import kaleido
    from PIL import Image

    paths = list(figures)
    for first in range(0, len(paths), MAX_SHEET_FIGURES):
        group = paths[first : first + MAX_SHEET_FIGURES]
        sheet_png = kaleido.calc_fig_sync(
            sheet_figure([figures[p] for p in group]),
            opts={"format": "png", "width": WIDTH, "height": HEIGHT * len(group)},
        )
        sheet = Image.open(io.BytesIO(sheet_png))
        sheet.load()

        with ThreadPoolExecutor(2) as pool:  # zlib releases the GIL
            list(pool.map(lambda i, sheet=sheet, group=group: _cut(sheet, i, group[i]), range(len(group))))


def _cut(sheet, i: int, path: str) -> None:
    """Figure i of a sheet, as its own PNG."""
    block = sheet.crop((0, i * HEIGHT, WIDTH, (i + 1) * HEIGHT))
    atomic_write(path + ".png", lambda tmp: block.save(tmp, format="PNG", compress_level=1))


class PngRenderer:
    """kaleido's browser for the run's PNGs, started in the background (~2-5 s, overlapping compile and
    training) and closed when the run ends."""

    def __init__(self, root: str):
        self.root, self._pool, self._ready = root, ThreadPoolExecutor(1), None
        self._started = self._pool.submit(start_png_renderer)

    def ready(self) -> bool:
        """Wait for the browser; False (with one warning line, once) when PNGs cannot be made."""
        if self._ready is None:
            self._ready, problem = self._wait()
            if problem:
                run_log.get().warning(
                    f"{problem}: graphs written as HTML only; install chromium and run "
                    f"jaxlab retro {self.root} for the PNGs"
                )
        return self._ready

    def _wait(self) -> tuple[bool, str]:
        try:
            if self._started.result(timeout=PNG_START_SECONDS):
                return True, ""
            return False, "no Chrome/Chromium found"
        except TimeoutError:
            return False, f"the browser for PNGs did not start within {PNG_START_SECONDS:.0f} s"
        except Exception as error:
            return False, f"the browser for PNGs failed to start ({' '.join(str(error).split())[:120]})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        started = self._ready if self._ready is not None else self._wait()[0]
        if started:
            stop_png_renderer()
        self._pool.shutdown(wait=False)  # a browser stuck starting must not hold the run open
