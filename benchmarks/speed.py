"""Speed, side by side in one invocation: jaxlab PPO on CartPole at 1, 16 and 64 sessions, a bare
jitted PPO loop, Stable-Baselines3 PPO, and gymnax random-policy stepping (the env's own limit).

    python benchmarks/speed.py [--frames 500000] [--sessions 1,16,64] [--bare-seeds 16] [--skip-sb3]
    python benchmarks/speed.py --sessions 1,2048 --bare-seeds 2048 --skip-sb3     # on a GPU

Every row runs in a fresh subprocess (its peak RSS is its own) with the same hyperparameters
(configs/ppo_cartpole.yaml: 4 envs x 128 steps, 4 epochs x 4 minibatches of 128, [64, 64] tanh).
- jaxlab rows go through `jaxlab.experiment.run`, the CLI's code path, with every file written and
  `rigorous_eval: 0` (SB3's `learn` evaluates nothing either); seconds exclude compilation.
- "bare loop" is benchmarks/bare_ppo.py: jit(vmap(train)) over 16 seeds, one call, no I/O.
- SB3 runs one torch thread; its rate is steady, so it runs --sb3-frames frames.
- gymnax random stepping: 16 x 4 CartPole envs, uniform random actions, jit(vmap(scan)).
- Compile seconds cold (an empty persistent cache) and warm (the same cache again), for jaxlab's
  16-session program and for the bare loop.
- The engine's overhead: jaxlab at 4 sessions with one checkpoint (log_frequency = max_frame) vs a
  checkpoint every 10000 frames.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = os.path.join(HERE, "..", "configs", "ppo_cartpole.yaml")
# The fixed PPO settings, whatever the shipped config is tuned to.
SETTINGS = [
    "env.num_envs=4",
    "agent.algorithm.time_horizon=128",
    "agent.algorithm.minibatch_size=128",
    "agent.algorithm.training_epoch=4",
    "agent.net.hid_layers=[64,64]",
    "agent.net.hid_layers_activation=tanh",
]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_device_mb() -> float | None:
    """Peak accelerator memory in use (None on CPU, where RSS says it)."""
    import jax

    device = jax.devices()[0]
    if device.platform == "cpu":
        return None
    return (device.memory_stats() or {}).get("peak_bytes_in_use", 0) / 2**20


def jaxlab_row(frames: int, sessions: int, log_frequency: int) -> dict:
    from jaxlab import experiment, spec

    overrides = [*SETTINGS, f"env.max_frame={frames}", f"meta.max_session={sessions}", "meta.rigorous_eval=0"]
    if log_frequency:
        overrides.append(f"meta.log_frequency={log_frequency}")
    run_spec = spec.load(CONFIG, overrides)
    with tempfile.TemporaryDirectory() as data_dir:
        result = experiment.run(run_spec, "train", data_dir, progress=False)
    return {
        "steps": result.total_frames * sessions,
        "seconds": result.train_seconds,
        "compile": result.compile_seconds,
    }


def jaxlab_compile(sessions: int) -> dict:
    from jaxlab import spec
    from jaxlab.build import build

    run_spec = spec.load(CONFIG, [*SETTINGS, f"meta.max_session={sessions}", "meta.rigorous_eval=0"])
    built = build(run_spec)
    start = time.perf_counter()
    built.engine.compile(built.engine.state_shapes(sessions, built.hp))
    return {"compile": time.perf_counter() - start}


def bare_row(frames: int, seeds: int) -> dict:
    import jax

    from jaxlab.devices import enable_compilation_cache

    sys.path.insert(0, HERE)
    from bare_ppo import make_train

    enable_compilation_cache()
    train, frames_per_seed = make_train(frames)
    keys = jax.random.split(jax.random.PRNGKey(0), seeds)
    start = time.perf_counter()
    compiled = jax.jit(jax.vmap(train)).lower(keys).compile()
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    jax.block_until_ready(compiled(keys))
    return {
        "steps": frames_per_seed * seeds,
        "seconds": time.perf_counter() - start,
        "compile": compile_seconds,
    }


def gymnax_row(steps: int, sessions: int, num_envs: int = 4) -> dict:
    import gymnax
    import jax

    env, params = gymnax.make("CartPole-v1")

    def rollout(key):
        _, state = jax.vmap(env.reset, (0, None))(jax.random.split(key, num_envs), params)

        def step(state, key):
            action_key, step_key = jax.random.split(key)
            actions = jax.random.randint(action_key, (num_envs,), 0, 2)
            _, state, reward, *_ = jax.vmap(env.step, (0, 0, 0, None))(
                jax.random.split(step_key, num_envs), state, actions, params
            )
            return state, reward.sum()

        return jax.lax.scan(step, state, jax.random.split(key, steps))[1].sum()

    keys = jax.random.split(jax.random.PRNGKey(0), sessions)
    run = jax.jit(jax.vmap(rollout)).lower(keys).compile()
    start = time.perf_counter()
    jax.block_until_ready(run(keys))
    return {"steps": steps * sessions * num_envs, "seconds": time.perf_counter() - start, "compile": 0.0}


def sb3_row(frames: int) -> dict:
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    from jaxlab import spec

    torch.set_num_threads(1)
    cfg = spec.load(CONFIG, SETTINGS)
    algo, net = cfg["agent"]["algorithm"], cfg["agent"]["net"]
    model = PPO(
        "MlpPolicy",
        make_vec_env("CartPole-v1", n_envs=cfg["env"]["num_envs"], seed=0),
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


ROWS = {
    "jaxlab": lambda a: jaxlab_row(a.frames, a.sessions, a.log_frequency),
    "jaxlab_compile": lambda a: jaxlab_compile(a.sessions),
    "bare": lambda a: bare_row(a.frames, a.sessions),
    "gymnax": lambda a: gymnax_row(a.frames // 4, a.sessions),
    "sb3": lambda a: sb3_row(a.frames),
}


def child(kind: str, frames: int, sessions: int, cache_dir: str, log_frequency: int = 0) -> dict:
    """Run one row in a fresh process; returns its numbers and peak RSS."""
    env = {**os.environ, "JAXLAB_CACHE_DIR": cache_dir}
    cmd = [
        sys.executable,
        __file__,
        "--row",
        kind,
        "--frames",
        str(frames),
        "--sessions",
        str(sessions),
        "--log-frequency",
        str(log_frequency),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode:
        sys.exit(f"{kind} row failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=500_000, help="frames per session / seed")
    parser.add_argument("--sessions", default="1,16,64", help="jaxlab session counts, comma-separated")
    parser.add_argument(
        "--bare-seeds", type=int, default=16, help="seeds of the bare loop (and gymnax stepping)"
    )
    parser.add_argument("--sb3-frames", type=int, default=50_000)
    parser.add_argument("--skip-sb3", action="store_true", help="leave out SB3 (the optional `bench` extra)")
    parser.add_argument("--row", choices=sorted(ROWS), help=argparse.SUPPRESS)
    parser.add_argument("--log-frequency", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.row:  # child process: one row, JSON on the last line
        args.sessions = int(args.sessions)
        print(json.dumps({**ROWS[args.row](args), "rss_mb": peak_rss_mb(), "device_mb": peak_device_mb()}))
        return

    counts = [int(n) for n in args.sessions.split(",")]
    seeds = args.bare_seeds
    bare, gymnax_name = f"bare jitted loop, {seeds} seeds (no I/O)", f"gymnax random policy, {seeds} x 4 envs"
    with tempfile.TemporaryDirectory() as cold_cache, tempfile.TemporaryDirectory() as warm_cache:
        rows = {
            f"jaxlab, {n} session{'s' if n > 1 else ''}": child("jaxlab", args.frames, n, warm_cache)
            for n in counts
        }
        rows["jaxlab, 4 sessions, log_frequency=max_frame"] = child(
            "jaxlab", args.frames, 4, warm_cache, args.frames
        )
        rows["jaxlab, 4 sessions, log_frequency=10000"] = child("jaxlab", args.frames, 4, warm_cache, 10_000)
        rows[bare] = child("bare", args.frames, seeds, cold_cache)
        rows[gymnax_name] = child("gymnax", args.frames, seeds, warm_cache)
        if not args.skip_sb3:
            rows["SB3 PPO, 1 torch thread"] = child("sb3", args.sb3_frames, 1, warm_cache)
        bare_warm = child("bare", args.frames, seeds, cold_cache)["compile"]
        with tempfile.TemporaryDirectory() as fresh:
            jaxlab_cold = child("jaxlab_compile", 0, seeds, fresh)["compile"]
            jaxlab_warm = child("jaxlab_compile", 0, seeds, fresh)["compile"]

    import jax

    print(f"\ndevice: {jax.devices()[0].device_kind} ({jax.devices()[0].platform})")
    print(
        f"{'run':44s} {'env-steps':>14s} {'seconds':>8s} {'compile s':>9s} {'steps/s':>12s}"
        f" {'peak RSS MB':>11s} "
        f"{'device MB':>9s}"
    )
    for name, row in rows.items():
        row["rate"] = row["steps"] / row["seconds"]
        device_mb = "" if row["device_mb"] is None else f"{row['device_mb']:9,.0f}"
        print(
            f"{name:44s} {row['steps']:14,d} {row['seconds']:8.2f} {row['compile']:9.2f}"
            f" {row['rate']:12,.0f} "
            f"{row['rss_mb']:11,.0f} {device_mb:>9s}"
        )
    rate = {name: row["rate"] for name, row in rows.items()}
    print(
        f"\ncompile s, {seeds} sessions: jaxlab cold {jaxlab_cold:.2f}, warm {jaxlab_warm:.2f}; "
        f"bare loop cold {rows[bare]['compile']:.2f}, warm {bare_warm:.2f}"
    )
    quiet = rows["jaxlab, 4 sessions, log_frequency=max_frame"]["seconds"]
    logged = rows["jaxlab, 4 sessions, log_frequency=10000"]["seconds"]
    print(f"engine overhead (log_frequency 10000 vs one checkpoint): {100 * (logged - quiet) / quiet:+.1f}%")
    same = f"jaxlab, {seeds} sessions"
    if same in rate:
        print(f"{same} / bare loop: {rate[same] / rate[bare]:.2f}x")
        print(f"{same} / gymnax random stepping: {rate[same] / rate[gymnax_name]:.3f}")
    if "SB3 PPO, 1 torch thread" in rate:
        for name in rate:
            if name.startswith("jaxlab") and "log_frequency" not in name:
                print(f"{name} / SB3: {rate[name] / rate['SB3 PPO, 1 torch thread']:.1f}x")


if __name__ == "__main__":
    main()
