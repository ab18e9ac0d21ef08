"""Env-steps/s of jaxlab PPO on CartPole beside Stable-Baselines3 PPO, and the engine's overhead.

    python benchmarks/speed.py [--frames 500000] [--sb3-frames 50000]

All rows use configs/ppo_cartpole.yaml's hyperparameters (4 envs x 128 steps, 4 epochs of
128-sample minibatches, [64, 64] tanh). jaxlab rows run through `jaxlab.experiment.run`, the code
path of the CLI, with every file written; their seconds exclude compilation, which is printed apart.
They run with `meta.rigorous_eval=0` (no separate eval episodes): SB3's `learn` evaluates nothing,
so both sides count training alone.
SB3 runs one torch thread on the same gymnasium CartPole-v1; its steps/s is steady-state, so it
runs fewer frames (--sb3-frames) to keep the benchmark short.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from jaxlab import experiment, spec

CONFIG = os.path.join(os.path.dirname(__file__), "..", "configs", "ppo_cartpole.yaml")


def jaxlab_run(frames: int, sessions: int, log_frequency: int, data_dir: str) -> dict:
    run_spec = spec.load(
        CONFIG,
        [f"env.max_frame={frames}", f"meta.max_session={sessions}", f"meta.log_frequency={log_frequency}",
         "meta.rigorous_eval=0"],
    )
    result = experiment.run(run_spec, "train", data_dir, progress=False)
    steps = result.total_frames * sessions
    return {"steps": steps, "seconds": result.train_seconds, "compile": result.compile_seconds}


def sb3_run(frames: int) -> dict:
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    torch.set_num_threads(1)
    cfg = spec.load(CONFIG)
    algo, net = cfg["agent"]["algorithm"], cfg["agent"]["net"]
    env = make_vec_env("CartPole-v1", n_envs=cfg["env"]["num_envs"], seed=0)
    model = PPO(
        "MlpPolicy",
        env,
        learning_rate=lambda progress: net["optim_spec"]["lr"] * progress,  # LinearToZero
        n_steps=algo["time_horizon"],
        batch_size=algo["minibatch_size"],
        n_epochs=algo["training_epoch"],
        gamma=algo["gamma"],
        gae_lambda=algo["lam"],
        clip_range=algo["clip_eps_spec"]["start_val"],
        ent_coef=algo["entropy_coef_spec"]["start_val"],
        vf_coef=algo["val_loss_coef"],
        max_grad_norm=net["clip_grad_val"],
        policy_kwargs={"net_arch": list(net["hid_layers"]), "activation_fn": torch.nn.Tanh},
        device="cpu",
        seed=0,
    )
    start = time.perf_counter()
    model.learn(total_timesteps=frames)
    return {"steps": frames, "seconds": time.perf_counter() - start, "compile": 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=500_000, help="frames per jaxlab session")
    parser.add_argument("--sb3-frames", type=int, default=50_000, help="frames for SB3 (steady-state rate)")
    parser.add_argument("--skip-sb3", action="store_true", help="leave out SB3 (it is the optional `bench` extra)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as data_dir:
        rows = {
            "jaxlab 1 session": jaxlab_run(args.frames, 1, 1024, data_dir),
            "jaxlab 16 sessions": jaxlab_run(args.frames, 16, 1024, data_dir),
            "jaxlab 4 sessions, log_frequency=max_frame": jaxlab_run(args.frames, 4, args.frames, data_dir),
            "jaxlab 4 sessions, log_frequency=10000": jaxlab_run(args.frames, 4, 10_000, data_dir),
        }
    if not args.skip_sb3:
        rows["SB3 PPO (1 torch thread)"] = sb3_run(args.sb3_frames)

    print(f"\n{'run':46s} {'env-steps':>12s} {'train s':>9s} {'compile s':>10s} {'steps/s':>12s}")
    for name, row in rows.items():
        rate = row["steps"] / row["seconds"]
        row["rate"] = rate
        print(f"{name:46s} {row['steps']:12,d} {row['seconds']:9.2f} {row['compile']:10.2f} {rate:12,.0f}")
    print()
    if "SB3 PPO (1 torch thread)" in rows:
        sb3 = rows["SB3 PPO (1 torch thread)"]["rate"]
        for name in ("jaxlab 1 session", "jaxlab 16 sessions"):
            print(f"{name} / SB3 steps/s: {rows[name]['rate'] / sb3:.1f}x")
    quiet = rows["jaxlab 4 sessions, log_frequency=max_frame"]["seconds"]
    logged = rows["jaxlab 4 sessions, log_frequency=10000"]["seconds"]
    print(f"engine overhead (log_frequency 10000 vs one checkpoint): {100 * (logged - quiet) / quiet:+.1f}%")


if __name__ == "__main__":
    main()
