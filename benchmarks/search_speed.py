"""Search: 16 float-only trials as ONE vmapped program vs the same 16 trials run one after another.

    python benchmarks/search_speed.py [--config configs/ppo_cartpole_search.yaml] [--trials 16] [--frames
    100000]

Both sides go through the CLI's code paths and write their whole folders: `jaxlab.experiment.search`
(one program for all trials) and `jaxlab.experiment.run` on each trial's spec in turn (one program per
trial; the compilation cache is warm after the first). Successive halving is turned off so both sides
do the same work. Prints the wall time of each side (compilation included), their ratio, and how far
the two sides' trial scores are apart.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from jaxlab import experiment, spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/ppo_cartpole_search.yaml")
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--frames", type=int, default=100_000)
    args = parser.parse_args()
    overrides = [
        f"meta.max_trial={args.trials}",
        f"env.max_frame={args.frames}",
        "meta.search_scheduler.grace_period=0",
    ]
    search_spec = spec.load(args.config, overrides)
    sessions = search_spec["meta"]["max_session"]
    with tempfile.TemporaryDirectory() as data_dir:
        start = time.perf_counter()
        result = experiment.search(search_spec, data_dir, progress=False)
        vmapped = time.perf_counter() - start
        (program,) = result.programs
        df = result.experiment_df
        scores = dict(zip(df["trial"], df["total_reward_ma"], strict=True))

        start, sequential_train, alone = time.perf_counter(), 0.0, {}
        for trial, (trial_spec, _) in enumerate(spec.sample_trials(search_spec)):
            run_result = experiment.run(trial_spec, "train", data_dir, progress=False)
            sequential_train += run_result.train_seconds
            alone[trial] = run_result.metrics["total_reward_ma"]
        sequential = time.perf_counter() - start

    gaps = [abs(scores[t] - alone[t]) for t in alone]
    print(
        f"{args.trials} float-only trials x {sessions} sessions x {search_spec['env']['max_frame']:,}"
        f" frames ({args.config})"
    )
    print(f"{'':34s} {'wall s':>8s} {'training s':>11s} {'programs':>9s}")
    print(f"{'one vmapped program (search)':34s} {vmapped:8.1f} {program.train_seconds:11.1f} {1:9d}")
    print(f"{'one run per trial, in turn':34s} {sequential:8.1f} {sequential_train:11.1f} {args.trials:9d}")
    print(
        f"speed-up of the vmapped search: {sequential / vmapped:.2f}x wall,"
        f" {sequential_train / program.train_seconds:.2f}x training"
    )
    # Not zero: XLA compiles a 32-session program and a 2-session one with different float rounding,
    # which 100k frames of RL amplify (a short run matches: tests/test_search.py).
    print(
        f"trial total_reward_ma, vmapped vs alone: mean |difference| {sum(gaps) / len(gaps):.3g}, largest"
        f" {max(gaps):.3g}"
    )


if __name__ == "__main__":
    main()
