"""What the I/O path costs: the demo spec with every file written vs the same work with no I/O.

    python benchmarks/io_overhead.py [--config configs/ppo_cartpole.yaml] [--repeats 2]

"I/O on" is `jaxlab.experiment.run`, the CLI's code path: run folder, specs, random baseline, CSVs,
TensorBoard, ckpt-best and final `.pt`, metrics, HTML + PNG graphs (the browser included) and the zip.
"I/O off" does the same numeric work and nothing else: build the env and algorithm, init, compile,
then the engine alone in calls sized as the CLI sizes them, copying only the rows to the host. Both are
timed whole, from the spec to the end; the difference is the I/O path. Training seconds (after
compilation) are timed apart, to split that difference into the training loop and set-up + end.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from jaxlab import experiment, spec
from jaxlab.build import build
from jaxlab.engine import rows_to_numpy, session_hparams, session_keys
from jaxlab.trial import SECONDS_PER_CALL


def io_off(run_spec: dict) -> tuple[float, float]:
    """(whole seconds less compilation, training seconds) of the numeric work alone."""
    start = time.perf_counter()
    built = build(run_spec)
    engine, plan, sessions = built.engine, built.plan, run_spec["meta"]["max_session"]
    keys = session_keys(run_spec["meta"]["random_seed"], sessions)
    state = engine.init_sessions(keys, session_hparams([built.hp], sessions))
    engine.compile(state)
    train_start, done, chunk = time.perf_counter(), 0, 1
    while done < plan.num_checkpoints:  # calls sized as the CLI sizes them: about SECONDS_PER_CALL each
        call_start, count = time.perf_counter(), min(chunk, plan.num_checkpoints - done, engine.max_chunk)
        state, rows, _ = engine.run_chunk(state, done, count)
        rows_to_numpy(rows, count)
        done += count
        seconds = max(time.perf_counter() - call_start, 1e-6)
        chunk = int(np.clip(round(SECONDS_PER_CALL * count / seconds), 1, engine.max_chunk))
    end = time.perf_counter()
    return end - start - engine.compile_seconds, end - train_start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/ppo_cartpole.yaml")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    run_spec = spec.load(args.config)
    runs = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as data_dir:
            start = time.perf_counter()
            result = experiment.run(run_spec, "train", data_dir, progress=False)
            on_whole = time.perf_counter() - start
        off_whole, off_train = io_off(run_spec)
        # Compile seconds move with the persistent cache and the machine: both sides leave them out.
        runs.append((on_whole - result.compile_seconds, result.train_seconds, off_whole, off_train))
    on_whole, on_train, off_whole, off_train = (min(column) for column in zip(*runs, strict=True))
    cost = on_whole - off_whole
    print(
        f"\n{args.config}: {run_spec['meta']['max_session']} sessions, best of {args.repeats}, compile"
        " seconds excluded"
    )
    print(f"whole run, I/O on : {on_whole:7.2f} s   (training {on_train:.2f} s)")
    print(f"whole run, I/O off: {off_whole:7.2f} s   (training {off_train:.2f} s)")
    print(
        f"I/O path: {cost:+.2f} s = {100 * cost / off_train:+.1f}% of training wall time "
        f"(in the training loop {100 * (on_train - off_train) / off_train:+.1f}%, "
        f"set-up + end {100 * (cost - on_train + off_train) / off_train:+.1f}%)"
    )


if __name__ == "__main__":
    main()
