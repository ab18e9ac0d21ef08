"""Exported policies on the real gymnasium envs, in a process where JAX cannot be imported.

    python benchmarks/export_play.py data/<ppo_cartpole run> data/<ppo_pendulum run> [--episodes 100]

For each run folder it picks the session with the best eval total_reward_ma, and a child process
that blocks `import jax` loads its ckpt-best `net` with `jaxlab.export.load_policy` and plays
gymnasium's env of the same name. Prints mean +- std return beside the issue's bar
(CartPole-v1 >= 475, Pendulum-v1 >= -250). Exits 1 when any run misses its bar or cannot be played.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

BARS = {"CartPole-v1": 475.0, "Pendulum-v1": -250.0}

CHILD = """
import json, sys
sys.modules["jax"] = None  # any import of JAX now fails
from jaxlab.export import load_policy
from jaxlab.export.play import play_gymnasium
policy = load_policy(sys.argv[1])
returns, _ = play_gymnasium(policy, sys.argv[2], int(sys.argv[3]), seed=12345)
assert "jax" not in {m.split(".")[0] for m, v in sys.modules.items() if v is not None}
print(json.dumps([float(r) for r in returns]))
"""


def check(run: str, episodes: int) -> bool:
    """Plays one run folder's best checkpoint and prints its line; False when it fails."""
    from jaxlab.enjoy import best_session

    run = run.rstrip("/")
    try:
        (trial_spec,) = [f for f in os.listdir(run) if f.endswith("_t0_spec.json")]
        with open(os.path.join(run, trial_spec)) as f:
            spec = json.load(f)
        prefix = trial_spec[: -len("_spec.json")]
        session = best_session(run, prefix, spec["meta"]["max_session"])
    except (OSError, ValueError, KeyError) as error:  # SpecError is a ValueError; so is a bad unpack
        print(f"{run}: FAIL, not a finished run folder ({type(error).__name__}: {error})")
        return False
    checkpoint = os.path.join(run, "model", f"{prefix}_s{session}_ckpt-best_net_model.pt")
    env_name = spec["env"]["name"]
    out = subprocess.run(
        [sys.executable, "-c", CHILD, checkpoint, env_name, str(episodes)],
        check=False,
        capture_output=True,
        text=True,
    )
    if out.returncode:
        lines = out.stderr.strip().splitlines() or [f"exit status {out.returncode}"]
        print(f"{checkpoint}: FAIL, {lines[-1]}")
        return False
    returns = json.loads(out.stdout)
    mean = sum(returns) / len(returns)
    std = (sum((r - mean) ** 2 for r in returns) / len(returns)) ** 0.5
    bar = BARS.get(env_name)
    passed = bar is None or mean >= bar
    verdict = "" if bar is None else (f"  (>= {bar:.0f}: pass)" if passed else f"  (< {bar:.0f}: FAIL)")
    print(
        f"{env_name:14s} {os.path.basename(checkpoint)}: {mean:8.2f} +- {std:6.2f} over {len(returns)} "
        f"gymnasium episodes, JAX blocked{verdict}"
    )
    return passed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], epilog="Exit status: 0 when every run passes, 1 otherwise."
    )
    parser.add_argument("runs", nargs="+", help="run folders data/{name}_{ts}")
    parser.add_argument("--episodes", type=int, default=100, help="gymnasium episodes per run (default 100)")
    args = parser.parse_args()
    if args.episodes < 1:
        parser.error("--episodes must be at least 1")
    results = [check(run, args.episodes) for run in args.runs]  # every run is played, failing or not
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
