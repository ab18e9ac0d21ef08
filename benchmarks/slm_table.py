"""SLM Lab's published classic-control table, reproduced from SLM Lab's own spec files, unchanged.

    python benchmarks/slm_table.py [CELL ...] [--data-dir DIR] [--json PATH]

Each cell runs SLM Lab's spec (benchmarks/slm_lab_spec/, as SLM Lab keeps them) by its file and name, at its
own budget and sessions (meta.max_session: 4), through `jaxlab.experiment.run` (the CLI's code path), and
prints jaxlab's trial total_reward_ma beside SLM Lab's published one (v5.3, docs/BENCHMARKS.md of
kengz/SLM-Lab), the random policy's, the wall time (compile + train) per cell and in total. A cell is
short when it is more than 5% of (SLM Lab - random) below SLM Lab's score. CELL is e.g. ppo_cartpole; the
default is all 15 (SLM Lab's 18 but the CrossQ cells).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

from jaxlab import experiment, spec

SPECS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "slm_lab_spec", "benchmark_arc")
# cell: (algorithm, env, spec file under benchmark_arc/, spec name, SLM Lab's published total_reward_ma)
CELLS = {
    "reinforce_cartpole": (
        "REINFORCE",
        "CartPole-v1",
        "reinforce/reinforce_arc.yaml",
        "reinforce_cartpole_arc",
        483.31,
    ),
    "sarsa_cartpole": (
        "SARSA",
        "CartPole-v1",
        "sarsa/sarsa_arc.yaml",
        "sarsa_boltzmann_cartpole_arc",
        430.95,
    ),
    "dqn_cartpole": ("DQN", "CartPole-v1", "dqn/dqn_classic_arc.yaml", "dqn_boltzmann_cartpole_arc", 239.94),
    "ddqn_per_cartpole": (
        "DDQN+PER",
        "CartPole-v1",
        "dqn/dqn_classic_arc.yaml",
        "ddqn_per_boltzmann_cartpole_arc",
        451.51,
    ),
    "a2c_cartpole": ("A2C", "CartPole-v1", "a2c/a2c_classic_arc.yaml", "a2c_gae_cartpole_arc", 496.68),
    "ppo_cartpole": ("PPO", "CartPole-v1", "ppo/ppo_classic_arc.yaml", "ppo_cartpole_arc", 498.94),
    "sac_cartpole": ("SAC", "CartPole-v1", "sac/sac_classic_arc.yaml", "sac_cartpole_arc", 406.09),
    "dqn_acrobot": ("DQN", "Acrobot-v1", "dqn/dqn_classic_arc.yaml", "dqn_boltzmann_acrobot_arc", -94.17),
    "ddqn_per_acrobot": (
        "DDQN+PER",
        "Acrobot-v1",
        "dqn/dqn_classic_arc.yaml",
        "ddqn_per_acrobot_arc",
        -83.92,
    ),
    "a2c_acrobot": ("A2C", "Acrobot-v1", "a2c/a2c_classic_arc.yaml", "a2c_gae_acrobot_arc", -83.99),
    "ppo_acrobot": ("PPO", "Acrobot-v1", "ppo/ppo_classic_arc.yaml", "ppo_acrobot_arc", -81.28),
    "sac_acrobot": ("SAC", "Acrobot-v1", "sac/sac_classic_arc.yaml", "sac_acrobot_arc", -92.60),
    "a2c_pendulum": ("A2C", "Pendulum-v1", "a2c/a2c_classic_arc.yaml", "a2c_gae_pendulum_arc", -820.74),
    "ppo_pendulum": ("PPO", "Pendulum-v1", "ppo/ppo_classic_arc.yaml", "ppo_pendulum_arc", -174.87),
    "sac_pendulum": ("SAC", "Pendulum-v1", "sac/sac_classic_arc.yaml", "sac_pendulum_arc", -150.97),
}
SHORT = 0.05  # a cell more than 5% of (SLM Lab - random) below SLM Lab's score falls short


def run_cell(cell: str, data_dir: str) -> dict:
    algorithm, env, file, name, slm = CELLS[cell]
    run_spec = spec.load(os.path.join(SPECS, file), [], name)
    start = time.perf_counter()
    result = experiment.run(run_spec, "train", data_dir, progress=False)
    with open(result.paths.trial_spec(0)) as f:
        random_return = json.load(f)["meta"]["random_baseline"]
    score = result.metrics["total_reward_ma"]
    return {
        "cell": cell,
        "algorithm": algorithm,
        "env": env,
        "spec": f"{file} {name}",
        "sessions": run_spec["meta"]["max_session"],
        "frames": run_spec["env"]["max_frame"],
        "jaxlab": score,
        "slm_lab": slm,
        "random": random_return,
        "short": score < slm - SHORT * (slm - random_return),
        "wall_seconds": time.perf_counter() - start,
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| env | algorithm | SLM Lab | jaxlab | random | sessions x frames | wall s | |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        verdict = (
            "short" if row["short"] else (">= SLM Lab" if row["jaxlab"] >= row["slm_lab"] else "within 5%")
        )
        lines.append(
            f"| {row['env']} | {row['algorithm']} | {row['slm_lab']:.2f} | {row['jaxlab']:.2f} |"
            f" {row['random']:.2f}"
            f" | {row['sessions']} x {row['frames']:,} | {row['wall_seconds']:.0f} | {verdict} |"
        )
    lines.append(f"\ntotal wall time {sum(row['wall_seconds'] for row in rows):.0f} s over {len(rows)} cells")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cells", nargs="*", help=f"cells to run (default: all 15): {', '.join(CELLS)}")
    parser.add_argument("--data-dir", help="where the run folders go (default: a new temporary folder)")
    parser.add_argument("--json", help="also write the rows here, as JSON")
    args = parser.parse_args()
    if unknown := [cell for cell in args.cells if cell not in CELLS]:
        parser.error(f"unknown cell {unknown[0]} — cells: {', '.join(CELLS)}")
    data_dir = args.data_dir or tempfile.mkdtemp(prefix="jaxlab_slm_table_")
    print(f"run folders in {data_dir}")
    rows = []
    for cell in args.cells or list(CELLS):
        rows.append(run_cell(cell, data_dir))
        row = rows[-1]
        print(
            f"{cell}: jaxlab {row['jaxlab']:.2f}, SLM Lab {row['slm_lab']:.2f}, {row['wall_seconds']:.0f} s",
            flush=True,
        )
        if args.json:
            with open(args.json, "w") as f:
                json.dump(rows, f, indent=1)
    print(table(rows))


if __name__ == "__main__":
    main()
