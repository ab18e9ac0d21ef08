"""Learning quality: the shipped configs at SLM Lab's budgets, jaxlab's trial total_reward_ma beside
SLM Lab's published v5 score.

    python benchmarks/learning.py [config ...] [--data-dir DIR]

Each config runs through `jaxlab.experiment.run` (the CLI's code path) with its own sessions and
budget; the trial total_reward_ma is the mean over sessions of the eval df's 100-row moving
average at the end (docs/output.md). The run folders go to --data-dir (default: a new temporary
folder, printed) for inspection.
"""

from __future__ import annotations

import argparse
import tempfile

from jaxlab import experiment, spec

# (config, SLM Lab v5 published score for that algorithm and env at the same budget)
BENCHMARKS = {
    "configs/ppo_cartpole.yaml": 498.94,
    "configs/ppo_acrobot.yaml": -81.28,
    "configs/ppo_pendulum.yaml": -174.87,
    "configs/ppo_breakout_minatar.yaml": None,  # SLM Lab publishes no MinAtar score
    "configs/dqn_cartpole.yaml": 239.94,
    "configs/ddqn_per_cartpole.yaml": 451.51,
    "configs/dqn_breakout_minatar.yaml": None,
    "configs/reinforce_cartpole.yaml": 483.31,
    "configs/a2c_cartpole.yaml": 496.68,
    "configs/sarsa_cartpole.yaml": 430.95,
    "configs/sac_pendulum.yaml": -150.97,
}


def main(configs: list[str], data_dir: str) -> None:
    print(f"run folders in {data_dir}")
    rows = []
    for config in configs or list(BENCHMARKS):
        run_spec = spec.load(config)
        result = experiment.run(run_spec, "train", data_dir, progress=False)
        train_ma = [rows_[-1]["total_reward_ma"] for rows_ in result.frames.rows]
        rows.append((config, run_spec, result, sum(train_ma) / len(train_ma), BENCHMARKS.get(config)))
    print(
        f"\n{'config':36s} {'sessions':>8s} {'frames':>9s} {'wall s':>7s} {'jaxlab':>9s} {'(train)':>9s}"
        f" {'SLM Lab':>8s}"
    )
    for config, run_spec, result, train_ma, slm in rows:
        score = result.metrics["total_reward_ma"]
        verdict = "" if slm is None else ("  >= SLM Lab" if score >= slm else "  < SLM Lab")
        print(
            f"{config:36s} {run_spec['meta']['max_session']:8d} {result.total_frames:9,d} "
            f"{result.train_seconds + result.compile_seconds:7.1f} {score:9.2f} {train_ma:9.2f} "
            f"{'' if slm is None else f'{slm:8.2f}'}{verdict}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "configs", nargs="*", help=f"configs to run (default: all of {', '.join(BENCHMARKS)})"
    )
    parser.add_argument("--data-dir", help="where the run folders go (default: a new temporary folder)")
    args = parser.parse_args()
    main(args.configs, args.data_dir or tempfile.mkdtemp(prefix="jaxlab_learning_"))
