"""What the I/O path costs: the demo spec with every file written vs the same compiled program with no I/O.

    python benchmarks/io_overhead.py [--config configs/ppo_cartpole.yaml] [--repeats 2]

"I/O off" runs the engine alone, in calls of about the same size as the CLI's, and only copies the
rows to the host. "I/O on" is `jaxlab.experiment.run`, the CLI's code path: CSVs, TensorBoard,
ckpt-best and final `.pt`, metrics, HTML + PNG graphs, specs and the zip. Both are timed after
compilation; the end-of-trial work (metrics, graphs, zip) is timed apart.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from jaxlab import experiment, spec
from jaxlab.engine import rows_to_numpy


def io_off_seconds(run_spec: dict, checkpoints_per_call: int) -> float:
    built = experiment.build_engine(run_spec)
    engine, plan = built.engine, built.plan
    state = engine.init(run_spec["meta"]["random_seed"], run_spec["meta"]["max_session"], built.hp)
    engine.compile(state)
    start, done = time.perf_counter(), 0
    while done < plan.num_checkpoints:
        count = min(checkpoints_per_call, plan.num_checkpoints - done)
        state, rows, _ = engine.run_chunk(state, done, count)
        rows_to_numpy(rows, count)
        done += count
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/ppo_cartpole.yaml")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    run_spec = spec.load(args.config)
    on, off, finish = [], [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as data_dir:
            start = time.perf_counter()
            result = experiment.run(run_spec, "train", data_dir, progress=False)
            total = time.perf_counter() - start
        on.append(result.train_seconds)
        finish.append(total - result.train_seconds - result.compile_seconds)
        calls = max(1, round(result.total_frames / run_spec["meta"]["log_frequency"] / 20))
        off.append(io_off_seconds(run_spec, calls))
    best_on, best_off, best_finish = min(on), min(off), min(finish)
    print(f"\n{args.config}: {run_spec['meta']['max_session']} sessions, best of {args.repeats}")
    print(f"training with I/O on : {best_on:7.2f} s")
    print(f"training with I/O off: {best_off:7.2f} s")
    print(f"in-loop I/O overhead : {100 * (best_on - best_off) / best_off:+.1f}% of training wall time")
    print(f"set-up + end of trial (specs, baseline, metrics, graphs incl. PNG, zip): {best_finish:.2f} s "
          f"= {100 * best_finish / best_off:.1f}% of training wall time")


if __name__ == "__main__":
    main()
