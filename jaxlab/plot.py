"""`jaxlab plot -f RUN1,RUN2 [-t TITLE] [-l LEGEND1,LEGEND2]`: SLM Lab's multi-run comparison graph, each
run's mean eval returns (moving average, +-1 std over its sessions) against frames, as HTML and PNG. The
legends default to the runs' algorithms in SLM Lab's names (DDQN+PER for a DoubleDQN with prioritized
replay), the title to the first run's env."""

from __future__ import annotations

import argparse
import os
import sys

from jaxlab.io import analysis, graphs

# SLM Lab's legend names for the algorithm names of a spec.
LEGENDS = {
    "Reinforce": "REINFORCE",
    "VanillaDQN": "DQN",
    "ActorCritic": "A2C",
    "SoftActorCritic": "SAC",
}


def legend(trial_spec: dict) -> str:
    algorithm = trial_spec["agent"]["algorithm"]["name"]
    if algorithm == "DoubleDQN":
        prioritized = "Prioritized" in str(trial_spec["agent"].get("memory", {}).get("name", ""))
        return "DDQN+PER" if prioritized else "DDQN"
    return LEGENDS.get(algorithm, algorithm)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jaxlab plot", description=__doc__.splitlines()[0])
    parser.add_argument(
        "-f", "--folders", required=True, help="run folders, comma-separated (paths, or names in -d)"
    )
    parser.add_argument("-t", "--title", help="the graph's title (default: the first run's env)")
    parser.add_argument(
        "-l", "--legends", help="one legend per folder, comma-separated (default: algorithms)"
    )
    parser.add_argument("-d", "--data-folder", default="data", help="where run folders given by name are")
    parser.add_argument("-o", "--output", default=os.path.join("data", "plots"), help="where the graph goes")
    args = parser.parse_args(argv)
    folders = [f if os.path.isdir(f) else os.path.join(args.data_folder, f) for f in args.folders.split(",")]
    try:
        runs = [analysis.run_curves(folder) for folder in folders]
    except (ValueError, OSError, KeyError) as error:
        print(f"jaxlab: error: {error}", file=sys.stderr)
        return 2
    labels = args.legends.split(",") if args.legends else [legend(spec) for spec, _ in runs]
    if len(labels) != len(runs):
        print(
            f"jaxlab: error: {len(labels)} legends for {len(runs)} folders — give one per folder",
            file=sys.stderr,
        )
        return 2
    labels = [f"{label} ({i + 1})" if labels.count(label) > 1 else label for i, label in enumerate(labels)]
    title = args.title or runs[0][0]["env"]["name"]
    figures = graphs.comparison_figures(title, dict(zip(labels, (curves for _, curves in runs), strict=True)))
    os.makedirs(args.output, exist_ok=True)
    figures = {os.path.join(args.output, stem): figure for stem, figure in figures.items()}
    png = graphs.start_png_renderer()
    try:
        graphs.write_figures(figures, args.output, png)
    finally:
        if png:
            graphs.stop_png_renderer()
    for path in figures:
        print(f"{path}.html" + (f" and {path}.png" if png else " (no browser for the PNG)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
