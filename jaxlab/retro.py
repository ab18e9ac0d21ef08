"""Retro-analysis: `jaxlab retro data/<run>` (or `python -m jaxlab.retro`) rebuilds a run's metrics and
graphs from its CSVs, and its zip when the run has one.

Useful after a run without a browser (to make the PNGs), or after editing a df by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from jaxlab import algos
from jaxlab.io import analysis, graphs
from jaxlab.io.files import zip_folder
from jaxlab.io.paths import RunPaths


def retro(folder: str) -> list[int]:
    """Re-analyse every trial of a run folder; returns the trial indices done."""
    paths = RunPaths.existing(folder)
    trial_specs = paths.trial_specs()
    if not trial_specs:
        raise ValueError(
            f"{paths.root} holds no {paths.name}_t{{T}}_spec.json — it is not a finished jaxlab run"
        )
    png = graphs.start_png_renderer()
    done, figures, samples, unfinished = [], {}, {}, set()
    try:
        for path in trial_specs:
            with open(path) as f:
                trial_spec = json.load(f)
            meta = trial_spec["meta"]
            diverged = len(meta.get("diverged_sessions", []))
            trial = meta["trial"]
            columns = algos.get(trial_spec["agent"]["algorithm"]["name"]).columns  # graphed with the loss
            figures.update(
                analysis.analyze_trial(
                    paths, trial, meta["max_session"], meta["random_baseline"], diverged, columns
                )[1]
            )
            if "search_sample" in meta:
                samples[trial] = meta["search_sample"]
            if "interrupted_at_frame" in meta:
                unfinished.add(trial)
            done.append(trial)
        if samples:
            figures.update(analysis.analyze_experiment(paths, samples, unfinished)[1])
        analysis.write_figures(paths, figures, png)
    finally:
        if png:
            graphs.stop_png_renderer()
    if os.path.exists(paths.zip):
        zip_folder(paths.root)
    return sorted(done)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jaxlab retro", description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="a run folder, data/{name}_{ts}")
    args = parser.parse_args(argv)
    try:
        trials = retro(args.folder)
    except (ValueError, OSError, KeyError) as error:
        print(f"jaxlab: error: {error}", file=sys.stderr)
        return 2
    print(f"re-analysed trial(s) {trials} of {args.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
